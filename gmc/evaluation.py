"""Scores of prediction files (light: pandas and scipy; the predictions come from :mod:`gmc.inference`).

``score_predictions`` turns many prediction CSVs (one per run and test set) into the long-format
``results/scores.csv``: model, loss, loss_role, train_set, test_set, split, metric, value, n_images,
selection. A prediction file that is missing, empty, mixes runs or holds a value that is not a finite
number raises :class:`gmc.errors.InputFileError` naming the file (and its CSV lines): bad input never
becomes a score.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gmc.errors import InputFileError
from gmc.metrics import SCORE_METRICS, compute_metrics

ID_COLUMNS = ["model", "loss", "loss_role", "train_set", "test_set", "split"]
SCORE_COLUMNS = [*ID_COLUMNS, "metric", "value", "n_images"]
#: one value per file: the run, the test set and the model selection protocol
CONSTANT_COLUMNS = [*ID_COLUMNS, "selection"]
PREDICTION_COLUMNS = ["image", "mos", "prediction", *CONSTANT_COLUMNS]


def _redo(path: Path) -> str:
    return f"predict again (`snakemake --forcerun {path}`) or pass the right file"


def _lines(mask: np.ndarray, limit: int = 5) -> str:
    """CSV line numbers (header = line 1) of the rows selected by the boolean array ``mask``."""
    lines = [str(i + 2) for i in np.flatnonzero(mask)]
    return ", ".join(lines[:limit]) + (f" and {len(lines) - limit} more" if len(lines) > limit else "")


def _read(path: Path) -> pd.DataFrame:
    """The CSV at ``path`` with image names as text; :class:`InputFileError` when it cannot be read."""
    if not path.is_file():
        raise InputFileError(f"prediction file {path} does not exist; {_redo(path)}")
    try:
        # cells as written ("n/a" is text, not NaN) so that messages quote them; only "" is missing
        return pd.read_csv(path, dtype={"image": str}, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise InputFileError(f"prediction file {path} is empty (no header, no rows); {_redo(path)}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputFileError(
            f"prediction file {path} is not a readable CSV file ({err}); {_redo(path)}"
        ) from None


def read_predictions(path: str | Path) -> pd.DataFrame:
    """One prediction file of ``gmc predict``, checked: its columns, at least one row, a single run, test
    set and selection, and finite ``mos`` and ``prediction`` numbers."""
    path = Path(path)
    frame = _read(path)
    missing = [c for c in PREDICTION_COLUMNS if c not in frame.columns]
    if missing:
        raise InputFileError(
            f"prediction file {path}: missing column(s) {', '.join(missing)}; expected "
            f"{', '.join(PREDICTION_COLUMNS)}; {_redo(path)}"
        )
    if frame.empty:
        raise InputFileError(f"prediction file {path} has a header but no rows; {_redo(path)}")
    mixed = [c for c in CONSTANT_COLUMNS if frame[c].isna().any() or frame[c].nunique() != 1]
    if mixed:
        raise InputFileError(
            f"prediction file {path}: column(s) {', '.join(mixed)} must hold one value on every row (a file "
            f"holds the predictions of one run on one test set), found empty cells or several values; "
            f"{_redo(path)}"
        )
    for column in ("mos", "prediction"):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(dtype=float))
        if bad.any():
            got = ", ".join(map(repr, frame.loc[bad, column].astype(str).unique()[:5]))
            raise InputFileError(
                f"prediction file {path}: {int(bad.sum())} {column} value(s) that are not finite numbers "
                f"(CSV line(s) {_lines(bad)}; got {got}); {_redo(path)}"
            )
        frame[column] = values.astype(float)
    return frame


def _metrics(frame: pd.DataFrame, path: Path) -> dict[str, float]:
    """The metrics of one checked prediction file; a file too small to correlate names itself."""
    try:
        return compute_metrics(frame["prediction"].to_numpy(), frame["mos"].to_numpy(), SCORE_METRICS)
    except ValueError as err:
        raise InputFileError(f"prediction file {path}: {err}; {_redo(path)}") from None


def score_predictions(prediction_csvs: list[str | Path]) -> pd.DataFrame:
    """Metrics of every prediction file, long format, sorted (byte-stable output). Two files for the same
    run and test set are an error (their rows would count twice)."""
    rows, seen = [], {}
    for path in map(Path, prediction_csvs):
        frame = read_predictions(path)
        ident = frame.iloc[0]
        key = ", ".join(f"{c} {ident[c]}" for c in ID_COLUMNS)
        if key in seen:
            raise InputFileError(
                f"prediction files {seen[key]} and {path} are both for {key}; pass one file per run and "
                "test set"
            )
        seen[key] = path
        for metric, value in _metrics(frame, path).items():
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
