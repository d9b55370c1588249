import json
import logging
import math
import warnings

import pytest
import torch

from gmc.models import MODELS, register_model
from gmc.training import engine
from gmc.training.checkpoint import load_checkpoint
from gmc.training.engine import NonFiniteLossError, fit, training_targets
from tests.conftest import TinyIQA, tiny_run_config


def _log(run_dir):
    return [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]


def _strip_timing(records):
    return [{k: v for k, v in r.items() if k not in ("train_seconds", "images_per_s")} for r in records]


def test_fit_writes_outputs_and_selects_on_validation(tmp_path, image_sets):
    train, val = image_sets
    summary = fit(tiny_run_config(), train, val, tmp_path / "run")
    run = tmp_path / "run"
    assert (run / "model.pt").is_file() and not (run / "checkpoints" / "last.pt").exists()
    log = _log(run)
    assert [r["epoch"] for r in log] == [0, 1, 2]
    assert all(not any(k.startswith("test_") for k in r) for r in log), "test data must not be touched"
    best = max(log, key=lambda r: r["val_SROCC"])
    assert summary["best_epoch"] == best["epoch"]
    assert summary["device"] == "cpu" and summary["device_name"] == "cpu"
    state = load_checkpoint(run / "model.pt")
    assert state["epoch"] == best["epoch"] and state["selection"]["protocol"] == "val"


def test_fit_is_deterministic_on_cpu(tmp_path, image_sets):
    train, val = image_sets
    fit(tiny_run_config(), train, val, tmp_path / "a")
    fit(tiny_run_config(), train, val, tmp_path / "b")
    assert _strip_timing(_log(tmp_path / "a")) == _strip_timing(_log(tmp_path / "b"))
    a, b = load_checkpoint(tmp_path / "a" / "model.pt"), load_checkpoint(tmp_path / "b" / "model.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_resume_after_interrupt_gives_the_uninterrupted_result(tmp_path, image_sets):
    train, val = image_sets
    fit(tiny_run_config(), train, val, tmp_path / "full")

    class Interrupt(Exception):
        pass

    def stop_after_first(epoch, record):
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit(tiny_run_config(), train, val, tmp_path / "cut", on_epoch_end=stop_after_first)
    last = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")
    assert last["epoch"] == 1 and len(last["loss"]) > 0  # the GCC queue is part of the resume state
    fit(tiny_run_config(), train, val, tmp_path / "cut")
    assert _strip_timing(_log(tmp_path / "cut")) == _strip_timing(_log(tmp_path / "full"))
    a, b = load_checkpoint(tmp_path / "full" / "model.pt"), load_checkpoint(tmp_path / "cut" / "model.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_changed_config_does_not_resume(tmp_path, image_sets):
    train, val = image_sets

    def stop(epoch, record):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(tiny_run_config(), train, val, tmp_path / "r", on_epoch_end=stop)
    fit(tiny_run_config(lr=1e-3), train, val, tmp_path / "r")
    assert len(_log(tmp_path / "r")) == 3


def test_non_finite_loss_stops_with_epoch_and_step(tmp_path, image_sets):
    train, val = image_sets
    train.mos[5] = math.nan
    with pytest.raises(NonFiniteLossError, match=r"epoch 0, step \d+"):
        fit(tiny_run_config(), train, val, tmp_path / "nan")


def test_best_on_test_is_explicit(tmp_path, image_sets):
    train, val = image_sets
    with pytest.raises(ValueError, match="best_on_test"):
        fit(tiny_run_config(selection="best_on_test"), train, val, tmp_path / "x")
    fit(tiny_run_config(selection="best_on_test"), train, val, tmp_path / "y", test=val)
    assert "test_SROCC" in _log(tmp_path / "y")[0]
    assert load_checkpoint(tmp_path / "y" / "model.pt")["selection"]["protocol"] == "best_on_test"


class Interrupt(Exception):
    """Stands in for a killed job."""


def _stop_after(stop_epoch):
    def stop(epoch, record):
        if epoch == stop_epoch:
            raise Interrupt

    return stop


def _same_result(run_a, run_b):
    """Same log (timing aside) and bit-identical selected weights."""
    a, b = load_checkpoint(run_a / "model.pt"), load_checkpoint(run_b / "model.pt")
    return _strip_timing(_log(run_a)) == _strip_timing(_log(run_b)) and all(
        torch.equal(a["model"][k], b["model"][k]) for k in a["model"]
    )


INIT_SCALE = 2.0**120


@pytest.fixture
def cpu_amp(monkeypatch):
    """Mixed precision on CPU (bfloat16 autocast) with an enabled loss scaler whose scale moves every step:
    from 2**120 it doubles after each step until the gradients overflow, from then on steps are skipped
    and the scale halves and grows again. The weights therefore depend on the scale a run resumes with."""
    monkeypatch.setattr(engine, "amp_active", lambda device, amp: amp)
    monkeypatch.setattr(
        engine,
        "make_grad_scaler",
        lambda device, amp: torch.amp.GradScaler(
            device.type, init_scale=INIT_SCALE, growth_interval=1, enabled=amp
        ),
    )


def test_amp_resume_restores_the_loss_scale(tmp_path, image_sets, cpu_amp):
    train, val = image_sets
    config = tiny_run_config(amp=True)
    fit(config, train, val, tmp_path / "full")
    with pytest.raises(Interrupt):
        fit(config, train, val, tmp_path / "cut", on_epoch_end=_stop_after(0))
    scaler = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["scaler"]
    assert scaler["scale"] != INIT_SCALE, "the scale must have moved for this test to mean anything"
    fit(config, train, val, tmp_path / "cut")
    assert _same_result(tmp_path / "full", tmp_path / "cut")


@pytest.mark.parametrize("amp", [False, True])
def test_last_pt_without_scaler_state_resumes_only_without_amp(
    tmp_path, image_sets, monkeypatch, caplog, amp
):
    """A ``last.pt`` written before the scaler was saved: resumed when AMP is off (a disabled scaler has
    no state), started afresh when AMP is on. Either way the result equals the uninterrupted run."""
    if amp:
        monkeypatch.setattr(engine, "amp_active", lambda device, amp: amp)
    train, val = image_sets
    config = tiny_run_config(amp=amp)
    fit(config, train, val, tmp_path / "full")
    with pytest.raises(Interrupt):
        fit(config, train, val, tmp_path / "cut", on_epoch_end=_stop_after(0))
    last = tmp_path / "cut" / "checkpoints" / "last.pt"
    old = {k: v for k, v in load_checkpoint(last).items() if k not in ("scaler", "nondeterministic_ops")}
    torch.save(old, last)
    with caplog.at_level(logging.INFO, logger=engine.__name__):
        fit(config, train, val, tmp_path / "cut")
    resumed = any("resuming" in r.getMessage() for r in caplog.records)
    afresh = any("no AMP loss-scaler state; starting afresh" in r.getMessage() for r in caplog.records)
    assert (resumed, afresh) == (not amp, amp)
    assert _same_result(tmp_path / "full", tmp_path / "cut")


def test_non_finite_loss_in_the_first_epoch_names_no_checkpoint(tmp_path, image_sets):
    train, val = image_sets
    train.mos[5] = math.nan
    with pytest.raises(NonFiniteLossError) as err:
        fit(tiny_run_config(), train, val, tmp_path / "nan")
    message = str(err.value)
    assert "no epoch completed" in message and "no checkpoint" in message
    assert "last.pt" not in message and "lower the learning rate or check the labels" in message
    assert not (tmp_path / "nan" / "checkpoints" / "last.pt").exists()


def test_non_finite_loss_after_an_epoch_names_the_last_checkpoint(tmp_path, image_sets):
    train, val = image_sets
    assert training_targets(train, "dataset_range") is train.mos  # so a NaN written there reaches the loss

    def poison_after_first(epoch, record):
        if epoch == 0:
            train.mos[5] = math.nan

    with pytest.raises(NonFiniteLossError, match=r"at epoch 1, step \d+") as err:
        fit(tiny_run_config(), train, val, tmp_path / "nan", on_epoch_end=poison_after_first)
    last = tmp_path / "nan" / "checkpoints" / "last.pt"
    assert f"the last good state is {last} (epoch 0)" in str(err.value)
    assert last.is_file() and load_checkpoint(last)["epoch"] == 0


class PutIQA(TinyIQA):
    """TinyIQA whose forward also runs ``Tensor.put_``, which has no deterministic implementation in torch:
    with deterministic algorithms requested (warn-only) torch warns each time it runs."""

    def forward(self, x):
        torch.zeros(2).put_(torch.tensor([0]), torch.ones(1))
        return super().forward(x)


if "tiny_put_test" not in MODELS:
    register_model("tiny_put_test", native_loss="mse", default_input_size=16)(lambda: PutIQA())


@pytest.mark.parametrize("deterministic", [True, False])
def test_nondeterministic_ops_are_recorded_in_the_summary(
    tmp_path, image_sets, caplog, torch_global_flags, deterministic
):
    train, val = image_sets
    config = {**tiny_run_config(deterministic=deterministic), "arch": "tiny_put_test"}
    with caplog.at_level(logging.WARNING), warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        summary = fit(config, train, val, tmp_path / "run")
    assert summary["nondeterministic_ops"] == (["put_"] if deterministic else [])
    logged = [r for r in caplog.records if "put_ has no deterministic implementation" in r.getMessage()]
    assert len(logged) == (1 if deterministic else 0), "each op is logged once per run"
    assert not [w for w in shown if "deterministic implementation" in str(w.message)], "not shown as warnings"
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == summary


def test_crop_protocol_trains_on_crops_and_resumes_to_the_same_result(tmp_path, image_sets):
    """Input size 8 on 16 px images, 2 random crops per image per epoch, 4 grid crops at validation: an
    epoch has 2 x 48 samples, and a run interrupted after its first epoch resumes to the uninterrupted
    result (the crops are drawn from the run's saved data generator)."""
    train, val = image_sets

    def config():
        cfg = tiny_run_config(epochs=2)
        cfg["input_size"] = 8
        cfg["protocol"] = {"kind": "crop", "train_crops": 2, "test_crops": 4, "test_crop_mode": "grid"}
        return cfg

    fit(config(), train, val, tmp_path / "full")
    assert [r["train_images"] for r in _log(tmp_path / "full")] == [96, 96]

    class Interrupt(Exception):
        pass

    def stop_after_first(epoch, record):
        if epoch == 0:
            raise Interrupt

    with pytest.raises(Interrupt):
        fit(config(), train, val, tmp_path / "cut", on_epoch_end=stop_after_first)
    fit(config(), train, val, tmp_path / "cut")
    assert _strip_timing(_log(tmp_path / "cut")) == _strip_timing(_log(tmp_path / "full"))
