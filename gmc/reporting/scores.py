"""Load and validate the inputs of the report: ``results/scores.csv`` and the optional reported-numbers CSV.

Bad input never becomes a silent wrong number: every problem raises :class:`gmc.errors.InputFileError` (a
``ValueError``) naming the file, the offending values (with CSV line numbers where useful) and what is
expected; the command line prints it without a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

import numpy as np
import pandas as pd

from gmc.config.settings import valid_loss_roles
from gmc.errors import InputFileError

SCORE_COLUMNS = ("model", "loss", "loss_role", "train_set", "test_set", "split", "metric", "value")
KEY_COLUMNS = ("model", "loss", "loss_role", "train_set", "test_set", "split", "metric")
TEXT_COLUMNS = ("model", "loss", "loss_role", "train_set", "test_set", "metric")
#: PLCC = raw Pearson, PLCC_logistic = after the VQEG logistic fit (gmc.metrics); RMSE on the 0-1 scale
METRICS = ("SROCC", "PLCC", "PLCC_logistic", "KROCC", "RMSE")
CORRELATIONS = ("SROCC", "PLCC", "PLCC_logistic", "KROCC")  # undefined (NaN) when a model predicts a constant
REPORTED_COLUMNS = ("method", "train_set", "test_set", "srocc", "plcc")
#: the fix when the scores and the config (the metadata) disagree
STALE = (
    "the scores come from another config: rerun `snakemake` to score this config's runs, or configure "
    "what the scores name"
)


def _lines(mask: pd.Series, limit: int = 5) -> str:
    """CSV line numbers (header = line 1) of the rows selected by ``mask``."""
    lines = [str(i + 2) for i in np.flatnonzero(mask.to_numpy())]
    more = f" and {len(lines) - limit} more" if len(lines) > limit else ""
    return ", ".join(lines[:limit]) + more


def read_csv_file(path: Path, what: str, text_columns: tuple[str, ...], fix: str) -> pd.DataFrame:
    """Read ``path`` with ``text_columns`` as strings; ``what`` names the file and ``fix`` says how to make
    it when it is missing."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{what} {path} does not exist; {fix}")
    try:
        frame = pd.read_csv(
            path, dtype=dict.fromkeys(text_columns, str), keep_default_na=False, na_values=[""]
        )
    except pd.errors.EmptyDataError:
        raise InputFileError(f"{what} {path} is empty (no header, no rows); {fix}") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{what} {path} is not a readable CSV file: {exc}") from None
    return frame


def validate_scores(
    frame: pd.DataFrame,
    source: str | Path = "<scores>",
    loss_roles: Collection[str] | Callable[[], Collection[str]] | None = valid_loss_roles,
) -> pd.DataFrame:
    """Check a long-format scores table and return a clean copy (only the known columns, typed, sorted).

    ``loss_roles``: the accepted ``loss_role`` values, or a function returning them; the default accepts
    ``native`` and every registered loss type (:func:`gmc.config.settings.valid_loss_roles`); ``None``
    accepts any non-empty role (ablation runs).
    Raises :class:`InputFileError` naming ``source`` for: no rows, missing columns, empty or NaN cells,
    unknown metric or loss role, non-numeric or non-finite values, non-integer splits, duplicate rows.

    One exception: ``value`` may be NaN (an empty cell or ``nan``) for the correlation metrics
    (``CORRELATIONS``): a model that predicts the same score for every test image has an undefined
    correlation. Such a split is kept as NaN (the statistics exclude it and the tables mark it); an RMSE
    NaN, an infinite value or text in ``value`` is still an error.
    """
    missing = [c for c in SCORE_COLUMNS if c not in frame.columns]
    if missing:
        raise InputFileError(
            f"scores file {source}: missing column(s) {', '.join(missing)}; "
            f"found {', '.join(map(str, frame.columns)) or '(none)'}; expected {', '.join(SCORE_COLUMNS)}"
        )
    if frame.empty:
        raise InputFileError(f"scores file {source} has a header but no rows: nothing to report")
    frame = frame.loc[:, list(SCORE_COLUMNS)].reset_index(drop=True)

    raw = frame["value"].astype(str).str.strip().str.lower()
    correlation = frame["metric"].astype(str).str.strip().isin(CORRELATIONS)
    undefined = (frame["value"].isna() | raw.isin(["", "nan"])) & correlation
    for column in SCORE_COLUMNS:
        empty = frame[column].isna()
        if column == "value":
            empty &= ~undefined
        if column in TEXT_COLUMNS:
            empty |= frame[column].astype(str).str.strip().eq("")
        if empty.any():
            raise InputFileError(
                f"scores file {source}: {int(empty.sum())} empty/NaN value(s) in column {column!r} "
                f"(CSV line(s) {_lines(empty)}); every cell must be filled"
            )
    for column in TEXT_COLUMNS:
        frame[column] = frame[column].astype(str).str.strip()

    bad_metric = ~frame["metric"].isin(METRICS)
    if bad_metric.any():
        unknown = sorted(frame.loc[bad_metric, "metric"].unique())
        raise InputFileError(
            f"scores file {source}: unknown metric(s) {', '.join(map(repr, unknown))} "
            f"(CSV line(s) {_lines(bad_metric)}); valid metrics: {', '.join(METRICS)}"
        )
    if callable(loss_roles):
        loss_roles = loss_roles()
    bad_role = ~frame["loss_role"].isin(list(loss_roles)) if loss_roles is not None else None
    if bad_role is not None and bad_role.any():
        unknown = sorted(frame.loc[bad_role, "loss_role"].unique())
        raise InputFileError(
            f"scores file {source}: unknown loss_role(s) {', '.join(map(repr, unknown))} "
            f"(CSV line(s) {_lines(bad_role)}); valid loss roles: {', '.join(loss_roles)}"
        )

    values = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    bad_value = ~np.isfinite(values) & ~undefined
    if bad_value.any():
        got = ", ".join(f"{str(v)!r} ({m})" for m, v in frame.loc[bad_value, ["metric", "value"]].values[:5])
        raise InputFileError(
            f"scores file {source}: {int(bad_value.sum())} non-numeric, NaN or infinite value(s) in column "
            f"'value' (CSV line(s) {_lines(bad_value)}; got {got}); a metric that could not be computed must "
            f"be fixed upstream, not reported (only {'/'.join(CORRELATIONS)} may be NaN: constant "
            "predictions)"
        )
    frame["value"] = values

    splits = pd.to_numeric(frame["split"], errors="coerce").astype(float)
    bad_split = ~np.isfinite(splits) | (splits != np.round(splits))
    if bad_split.any():
        raise InputFileError(
            f"scores file {source}: split must be an integer (CSV line(s) {_lines(bad_split)}); "
            f"got {', '.join(map(repr, frame.loc[bad_split, 'split'].astype(str).unique()[:5]))}"
        )
    frame["split"] = splits.astype(int)

    duplicated = frame.duplicated(list(KEY_COLUMNS), keep=False)
    if duplicated.any():
        raise InputFileError(
            f"scores file {source}: {int(duplicated.sum())} rows repeat the same "
            f"({', '.join(KEY_COLUMNS)}) (CSV line(s) {_lines(duplicated)}); each value must appear once"
        )
    if not frame["metric"].eq("SROCC").any():
        raise InputFileError(f"scores file {source}: no SROCC rows; the report's tables are built on SROCC")
    return frame.sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)


def check_metadata(
    frame: pd.DataFrame, datasets: dict[str, dict], models: dict[str, dict], source: str | Path
) -> None:
    """Every model and dataset in the scores must be described (title, synthetic flag), and native rows
    must use the model's declared native loss; :class:`InputFileError` naming ``source`` when not."""
    used_sets = sorted(set(frame["train_set"]) | set(frame["test_set"]))
    unknown_sets = [d for d in used_sets if d not in datasets]
    if unknown_sets:
        raise InputFileError(
            f"scores file {source}: dataset(s) {', '.join(map(repr, unknown_sets))} are not in the datasets "
            f"metadata (known: {', '.join(sorted(datasets)) or '(none)'}); {STALE}"
        )
    for key in used_sets:
        if "synthetic_demo" not in datasets[key]:
            raise ValueError(
                f"datasets metadata for {key!r} has no 'synthetic_demo' flag; the report must know whether "
                "its numbers come from synthetic demo data"
            )
    unknown_models = sorted(m for m in set(frame["model"]) if m not in models)
    if unknown_models:
        raise InputFileError(
            f"scores file {source}: model(s) {', '.join(map(repr, unknown_models))} are not in the models "
            f"metadata (known: {', '.join(sorted(models)) or '(none)'}); {STALE}"
        )
    native = frame[frame["loss_role"] == "native"]
    for (model, loss), _ in native.groupby(["model", "loss"], sort=True):
        declared = models[model].get("native_loss")
        if declared is not None and str(declared) != loss:
            raise InputFileError(
                f"scores file {source}: model {model!r} has loss_role 'native' rows with loss {loss!r}, but "
                f"its declared native loss is {declared!r}; {STALE}"
            )


def load_scores(
    path: str | Path, loss_roles: Collection[str] | Callable[[], Collection[str]] | None = valid_loss_roles
) -> pd.DataFrame:
    """Read and validate ``results/scores.csv`` (see :func:`validate_scores`)."""
    path = Path(path)
    fix = "make it with `python -m gmc score` (`snakemake` does) or pass the right path"
    return validate_scores(read_csv_file(path, "scores file", TEXT_COLUMNS, fix), path, loss_roles)


def load_reported(path: str | Path) -> pd.DataFrame:
    """Read the published-numbers CSV (method, paper, ..., train_set, test_set, srocc, plcc, source_url).

    Empty srocc/plcc cells are allowed (some sources report only one of them)."""
    path = Path(path)
    text = ("method", "paper", "protocol", "train_set", "test_set", "source_url", "note")
    frame = read_csv_file(path, "reported-numbers file", text, "check report.reported_csv in the config")
    missing = [c for c in REPORTED_COLUMNS if c not in frame.columns]
    if missing:
        raise InputFileError(
            f"reported-numbers file {path}: missing column(s) {', '.join(missing)}; "
            f"found {', '.join(map(str, frame.columns)) or '(none)'}"
        )
    for column in ("srocc", "plcc"):
        numbers = pd.to_numeric(frame[column], errors="coerce")
        bad = numbers.isna() & frame[column].notna()
        if bad.any():
            raise InputFileError(
                f"reported-numbers file {path}: non-numeric {column} (CSV line(s) {_lines(bad)})"
            )
        frame[column] = numbers.astype(float)
    for column in text:
        if column not in frame.columns:
            frame[column] = ""
        frame[column] = frame[column].fillna("").astype(str).str.strip()
    return frame.reset_index(drop=True)


def load_curves(path: str | Path) -> pd.DataFrame:
    """Read ``results/curves.csv`` (:func:`gmc.results.collect_curves`): the run identity columns,
    ``epoch`` and the per-epoch metrics. An empty table (no run logged an epoch) is allowed."""
    path = Path(path)
    identity = ("model", "loss", "loss_role", "train_set")
    frame = read_csv_file(path, "training-curves file", identity, "rerun `snakemake` (rule aggregate)")
    missing = [c for c in (*identity, "split", "epoch") if c not in frame.columns]
    if missing:
        raise InputFileError(
            f"training-curves file {path}: missing column(s) {', '.join(missing)}; rerun `snakemake` "
            "(rule aggregate)"
        )
    return frame


def load_prediction_rows(paths: Collection[str | Path]) -> pd.DataFrame:
    """The rows of ``gmc predict`` files (:func:`gmc.evaluation.read_predictions` checks each one),
    concatenated; an empty frame for no files."""
    from gmc.evaluation import read_predictions

    frames = [read_predictions(p) for p in sorted(map(str, paths))]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
