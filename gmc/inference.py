"""Predictions of a trained run on its test sets (heavy: imports torch and the model code).

:func:`predict_run` loads a run's ``model.pt`` once and writes one CSV per test set,
``<out_dir>/<test_set>.csv`` with columns ``image, mos, prediction`` plus the run's identity columns, its
selection protocol and its test-time augmentation (``tta``: the run config's ``train.tta``, which
:func:`gmc.training.engine.predict` applies), so that each file describes itself. The run's own training
set is scored on the test part of its split (intra-dataset); every other set is scored whole
(cross-dataset). Loading the model once per run rather than once per test set saves a process start-up
(torch, timm, pyiqa imports) per test set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from gmc.data.crops import Views
from gmc.data.loading import load_image_set
from gmc.io import write_csv
from gmc.training.engine import load_trained_model, predict
from gmc.training.seeding import select_device


@dataclass(frozen=True)
class TestSet:
    """A dataset to score: its key, its manifest and its image cache at the model's input size."""

    name: str
    manifest: Path
    cache: Path


def predict_run(
    checkpoint: str | Path,
    test_sets: list[TestSet],
    out_dir: str | Path,
    *,
    split_csv: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 64,
) -> list[Path]:
    """Score every test set with the model of ``checkpoint``; return the CSV paths written.

    ``split_csv`` is the training set's split file, needed when the training set is among
    ``test_sets`` (its split's test part is scored)."""
    dev = select_device(device)
    model, state = load_trained_model(checkpoint, dev)
    cfg = state["run_config"]
    views = Views.from_run_config(cfg)
    tta = cfg["train"].get("tta", "none")  # absent from run configs written before the option existed
    names = [t.name for t in test_sets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"test set(s) given twice: {duplicates}")
    written = []
    for test in test_sets:
        intra = test.name == cfg["train_set"]
        if intra and split_csv is None:
            raise ValueError(
                f"{test.name!r} is the run's training set: pass its split file (--splits) so that only "
                f"the test part of split {cfg['split']} is scored"
            )
        data = load_image_set(
            test.manifest,
            test.cache,
            split_csv=split_csv if intra else None,
            split=cfg["split"] if intra else None,
            part="test" if intra else None,
        )
        views.check_fits(data.images, f"test set {test.name} ({test.cache})")
        with torch.inference_mode():
            scores = predict(model, data, dev, batch_size, bool(cfg["train"].get("amp", False)), views, tta)
        frame = pd.DataFrame(
            {"image": data.names, "mos": data.mos.numpy().astype(float), "prediction": scores}
        )
        for column in ("model", "loss", "loss_role", "train_set", "split"):
            frame[column] = cfg[column]
        frame["test_set"] = test.name
        frame["selection"] = cfg["train"]["selection"]
        frame["tta"] = tta
        frame["config_hash"] = state["config_hash"]
        out = Path(out_dir) / f"{test.name}.csv"
        write_csv(out, frame)
        written.append(out)
    return written
