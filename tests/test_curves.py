"""results/curves.csv: every epoch's validation metrics, from the log.jsonl beside each run.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gmc.errors import InputFileError
from gmc.results import collect_curves


def _run(root: Path, loss: str, split: int, epochs: list[dict]) -> Path:
    run_dir = root / "monet" / loss / "demo" / f"split{split}"
    run_dir.mkdir(parents=True)
    cfg = {"model": "monet", "loss": loss, "loss_role": "native" if loss == "mse" else "gcc",
           "train_set": "demo", "split": split}  # fmt: skip
    (run_dir / "run.json").write_text(json.dumps({"run_config": cfg}))
    (run_dir / "log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in epochs))
    return run_dir / "run.json"


def _epoch(epoch: int, srocc: float) -> dict:
    return {"epoch": epoch, "lr": 1e-3, "train_loss": 0.5 / (epoch + 1), "train_seconds": 1.7 + epoch,
            "images_per_s": 99.0, "val_SROCC": srocc, "selected": epoch == 1}  # fmt: skip


def test_curves_keep_every_epoch_and_drop_the_timings(tmp_path: Path):
    b = _run(tmp_path, "mse", 1, [_epoch(0, 0.4), _epoch(1, 0.6)])
    a = _run(tmp_path, "gcc", 0, [_epoch(0, 0.5)])
    curves = collect_curves([b, a])
    assert list(curves.columns) == [
        "model", "loss", "loss_role", "train_set", "split",
        "epoch", "lr", "train_loss", "selected", "val_SROCC",
    ]  # fmt: skip
    assert curves[["loss", "split", "epoch", "val_SROCC"]].values.tolist() == [
        ["gcc", 0, 0, 0.5], ["mse", 1, 0, 0.4], ["mse", 1, 1, 0.6]
    ]  # fmt: skip


def test_a_broken_log_names_the_file(tmp_path: Path):
    run = _run(tmp_path, "mse", 0, [_epoch(0, 0.4)])
    (run.parent / "log.jsonl").write_text('{"epoch": 0\n')
    with pytest.raises(InputFileError, match=r"log\.jsonl is not JSON lines"):
        collect_curves([run])
