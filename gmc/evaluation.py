"""Scores of prediction files (light: pandas and scipy; the predictions come from :mod:`gmc.inference`).

``score_predictions`` turns many prediction CSVs (one per run and test set) into the long-format
``results/scores.csv``: model, loss, loss_role, train_set, test_set, split, metric, value, n_images,
selection.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gmc.metrics import compute_metrics

ID_COLUMNS = ["model", "loss", "loss_role", "train_set", "test_set", "split"]
SCORE_COLUMNS = [*ID_COLUMNS, "metric", "value", "n_images"]


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
