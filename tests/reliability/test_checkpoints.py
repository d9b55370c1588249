"""Checkpoints are read without running code from them; a bad file (pickled code, another format
version, truncated, not a dict) is a clear error naming it - on ``gmc predict`` exit status 2 and no
traceback - and a bad ``last.pt`` is moved aside instead of blocking every rerun."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gmc.cli import main
from gmc.errors import InputFileError
from gmc.training import engine
from gmc.training.checkpoint import BEST_KEYS, FORMAT, load_checkpoint, save_checkpoint
from gmc.training.engine import fit
from tests.conftest import REPO, TinyIQA, tiny_run_config


class RunsCode:
    """Pickles to a call of ``open(marker, "w")``: stands in for a checkpoint crafted to run code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _model_state() -> dict:
    """The content of a small ``model.pt`` (without the format tag)."""
    torch.manual_seed(0)
    return {
        "run_config": tiny_run_config(),
        "config_hash": "0123456789ab",
        "epoch": 1,
        "selection": {"protocol": "val", "score": 0.5, "metrics": {"SROCC": 0.5}},
        "model": TinyIQA().state_dict(),
    }


def _truncated(path: Path, marker: Path) -> None:
    save_checkpoint(path, _model_state(), BEST_KEYS - {"format"})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


BAD_FILES = {
    # name: (write the file at path, part of the expected message)
    "pickled-code": (lambda p, m: torch.save({"format": FORMAT, "model": RunsCode(m)}, p), "refusing"),
    "newer-format": (lambda p, m: torch.save({**_model_state(), "format": "gmc-checkpoint/2"}, p), "/2"),
    "truncated": (_truncated, "truncated or damaged"),
    "empty": (lambda p, m: p.write_bytes(b""), "truncated or damaged"),
    "list": (lambda p, m: torch.save([1, 2], p), "holds a list"),
    "tensor": (lambda p, m: torch.save(torch.zeros(3), p), "holds a Tensor"),
    "keys-missing": (lambda p, m: torch.save({"format": FORMAT, "epoch": 1}, p), "lacks the checkpoint key"),
    "missing": (lambda p, m: None, "does not exist"),
}


def _bad_file(kind: str, tmp_path: Path) -> tuple[Path, Path, str]:
    """Write a bad checkpoint of ``kind``; return it, the marker its pickled code would create, and the
    expected message part."""
    path, marker = tmp_path / "model.pt", tmp_path / "code-ran"
    write, expected = BAD_FILES[kind]
    write(path, marker)
    return path, marker, expected


def _predict(checkpoint: Path, tmp_path: Path) -> list[str]:
    """``gmc predict`` arguments; the test set is never read (the checkpoint fails first).
    ``--threads`` keeps torch's thread count of this process as it is."""
    test_set = ["x", "m.csv", "c.npy"]
    out = ["--out-dir", str(tmp_path / "out"), "--threads", str(torch.get_num_threads())]
    return ["predict", "--checkpoint", str(checkpoint), "--test-set", *test_set, *out]


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_bad_checkpoint_is_a_clear_error_from_gmc_predict(kind, tmp_path, capsys):
    path, marker, expected = _bad_file(kind, tmp_path)
    with pytest.raises(InputFileError, match=expected) as err:
        load_checkpoint(path, keys=BEST_KEYS)
    assert str(path) in str(err.value)
    assert main(_predict(path, tmp_path)) == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("error: ") and str(path) in stderr and "Traceback" not in stderr
    assert not marker.exists(), "code pickled into the checkpoint ran"


def test_python_m_gmc_predict_refuses_pickled_code(tmp_path):
    path, marker, _ = _bad_file("pickled-code", tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "gmc", *_predict(path, tmp_path)]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: refusing to load") and str(path) in done.stderr
    assert not marker.exists(), "code pickled into the checkpoint ran"


def test_equal_checkpoints_are_byte_identical(tmp_path):
    """torch names the archive inside the file after the path it is given: saved under a random
    temporary name, equal checkpoints differed in bytes."""
    for name in ("a.pt", "b.pt"):
        save_checkpoint(tmp_path / name, _model_state(), BEST_KEYS - {"format"})
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()


class Interrupt(Exception):
    """Stands in for a killed job."""


def _stop_after(stop_epoch):
    def stop(epoch, record):
        if epoch == stop_epoch:
            raise Interrupt

    return stop


@pytest.mark.parametrize("amp", [False, True], ids=["amp-off", "amp-on"])
def test_what_fit_saves_loads_with_weights_only(tmp_path, image_sets, monkeypatch, amp):
    """Guard of the allow-list decision: ``last.pt`` (optimizer, scheduler, GradScaler, GCC queue, RNG
    states, history) and ``model.pt`` hold only tensors and plain data, so plain
    ``torch.load(weights_only=True)`` reads them with nothing allow-listed."""
    if amp:  # mixed precision on CPU with an enabled loss scaler, so the scaler saves its state
        monkeypatch.setattr(engine, "amp_active", lambda device, amp: amp)
    train, val = image_sets
    with pytest.raises(Interrupt):
        fit(tiny_run_config(amp=amp), train, val, tmp_path / "cut", on_epoch_end=_stop_after(1))
    last = torch.load(tmp_path / "cut" / "checkpoints" / "last.pt", weights_only=True)
    assert bool(last["scaler"]) == amp and len(last["loss"]["_extra_state"]["queue_pred"]) > 0
    fit(tiny_run_config(amp=amp), train, val, tmp_path / "full")
    assert torch.load(tmp_path / "full" / "model.pt", weights_only=True)["format"] == FORMAT


@pytest.mark.parametrize("kind", ["truncated", "pickled-code"])
def test_a_bad_last_pt_is_moved_aside_and_the_run_restarts(kind, tmp_path, image_sets, caplog):
    train, val = image_sets
    config = tiny_run_config()
    fit(config, train, val, tmp_path / "full")
    cut = tmp_path / "cut"
    with pytest.raises(Interrupt):
        fit(config, train, val, cut, on_epoch_end=_stop_after(1))
    last = cut / "checkpoints" / "last.pt"
    if kind == "truncated":
        last.write_bytes(last.read_bytes()[:1000])
    else:
        torch.save({"format": FORMAT, "model": RunsCode(tmp_path / "code-ran")}, last)
    with caplog.at_level(logging.WARNING, logger=engine.__name__):
        fit(config, train, val, cut)
    [aside] = (cut / "checkpoints").glob("last.pt.corrupt-*")
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert str(last) in warning and str(aside) in warning and "starting the run afresh" in warning
    assert not (tmp_path / "code-ran").exists()
    assert (cut / "model.pt").read_bytes() == (tmp_path / "full" / "model.pt").read_bytes()
