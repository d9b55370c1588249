import json
import math

import pytest
import torch

from gmc.training.checkpoint import load_checkpoint
from gmc.training.engine import NonFiniteLossError, fit
from tests.conftest import tiny_run_config


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
