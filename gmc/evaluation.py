"""Predictions and scores.

``predict_dataset`` writes one CSV per (run, test set): ``image, mos, prediction`` plus the run's
identity columns, so each file describes itself. ``score_predictions`` turns many such files into the
long-format ``results/scores.csv``: model, loss, loss_role, train_set, test_set, split, metric, value.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from gmc.data.loading import load_image_set
from gmc.io import write_csv
from gmc.metrics import compute_metrics
from gmc.training.engine import load_trained_model, predict
from gmc.training.seeding import select_device

ID_COLUMNS = ["model", "loss", "loss_role", "train_set", "test_set", "split"]
SCORE_COLUMNS = [*ID_COLUMNS, "metric", "value", "n_images"]


def predict_dataset(
    checkpoint: str | Path,
    manifest_csv: str | Path,
    cache_npy: str | Path,
    out_csv: str | Path,
    *,
    test_set: str,
    split_csv: str | Path | None = None,
    split: int | None = None,
    part: str | None = None,
    device: str = "auto",
    batch_size: int = 64,
) -> pd.DataFrame:
    """Score the images of ``test_set`` (its split part, or all of it for cross-dataset tests)."""
    dev = select_device(device)
    model, state = load_trained_model(checkpoint, dev)
    cfg = state["run_config"]
    data = load_image_set(manifest_csv, cache_npy, split_csv=split_csv, split=split, part=part)
    amp = bool(cfg["train"].get("amp", True))
    with torch.inference_mode():
        scores = predict(model, data, dev, batch_size, amp)
    frame = pd.DataFrame({"image": data.names, "mos": data.mos.numpy().astype(float), "prediction": scores})
    for column in ("model", "loss", "loss_role", "train_set", "split"):
        frame[column] = cfg[column]
    frame["test_set"] = test_set
    frame["selection"] = cfg["train"]["selection"]
    frame["config_hash"] = state["config_hash"]
    write_csv(out_csv, frame)
    return frame


def score_predictions(prediction_csvs: list[str | Path]) -> pd.DataFrame:
    """Metrics of every prediction file, long format, sorted (byte-stable output)."""
    rows = []
    for path in prediction_csvs:
        frame = pd.read_csv(path, dtype={"image": str})
        ident = frame.iloc[0]
        for metric, value in compute_metrics(frame["prediction"].to_numpy(), frame["mos"].to_numpy()).items():
            rows.append(
                {
                    **{c: ident[c] for c in ID_COLUMNS},
                    "metric": metric,
                    "value": value,
                    "n_images": len(frame),
                    "selection": ident["selection"],
                }
            )
    if not rows:
        raise ValueError("no prediction files to score")
    scores = pd.DataFrame(rows)
    return scores.sort_values(ID_COLUMNS + ["metric"], kind="stable").reset_index(drop=True)
