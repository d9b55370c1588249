"""Summaries of the long-format scores as DataFrames (pure pandas, raw numbers, no formatting).

Every function sorts its output (model, loss role, loss, datasets), so the same input always gives the
same rows in the same order. Loss roles sort as :func:`role_key`: ``native`` (each model's own loss), then
``gcc``, then every other loss type alphabetically; losses of one role sort by name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gmc.config.settings import GCC, NATIVE

STATS = ("median", "mean", "std", "q25", "q75", "n", "n_undefined")
#: loss roles shown before all others, in this order; the rest follow alphabetically
ROLE_ORDER = {NATIVE: 0, GCC: 1}
GROUP = ["model", "loss_role", "loss", "train_set", "test_set", "metric"]
#: column order of the wide tables: PLCC = raw Pearson, PLCC_logistic = after the VQEG logistic fit
METRIC_ORDER = ("SROCC", "PLCC", "PLCC_logistic", "KROCC", "RMSE", "MAIN_SCORE")
#: the NTIRE perceptual IQA challenges' main score: PLCC + SROCC of one split (PIPAL; asna.md s. 4)
MAIN_SCORE = "MAIN_SCORE"


def role_key(role: str) -> str:
    """Sort key of a loss role: ``native``, then ``gcc``, then the other loss types alphabetically."""
    return f"{ROLE_ORDER.get(role, len(ROLE_ORDER))}:{role}"


def _sort(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Sort by ``columns``, loss_role by :func:`role_key` (native, gcc, then the others alphabetically) and
    evaluation intra before cross."""
    key = {"loss_role": lambda s: s.map(role_key), "evaluation": lambda s: s.map({"intra": 0, "cross": 1})}
    return frame.sort_values(
        columns, key=lambda s: key[s.name](s) if s.name in key else s, kind="stable"
    ).reset_index(drop=True)


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, loss_role, loss, train_set, test_set, metric) with statistics over splits:
    n, n_undefined, median, mean, std (ddof=1, NaN for one split), q25, q75, iqr, min, max.

    A NaN value is an undefined correlation (constant predictions, see
    :func:`gmc.reporting.scores.validate_scores`): the statistics use the *defined* splits only, ``n`` counts
    them and ``n_undefined`` counts the NaN splits. A group without a defined split has n = 0 and NaN stats.
    """
    grouped = scores.groupby(GROUP, sort=True)["value"]
    out = grouped.agg(
        n="count",
        n_undefined=lambda v: int(v.isna().sum()),
        median="median",
        mean="mean",
        std=lambda v: v.std(ddof=1) if v.count() > 1 else np.nan,
        q25=lambda v: v.quantile(0.25),
        q75=lambda v: v.quantile(0.75),
        min="min",
        max="max",
    ).reset_index()
    out["iqr"] = out["q75"] - out["q25"]
    out["n"] = out["n"].astype(int)
    out["n_undefined"] = out["n_undefined"].astype(int)
    cols = [*GROUP, "n", "n_undefined", "median", "mean", "std", "q25", "q75", "iqr", "min", "max"]
    return _sort(out[cols], GROUP)


def _wide(summary: pd.DataFrame, index: list[str]) -> pd.DataFrame:
    """Pivot metrics into columns ``<metric>_<stat>`` (e.g. srocc_median, plcc_std, srocc_n,
    srocc_n_undefined)."""
    pieces = []
    for metric in sorted(summary["metric"].unique()):
        part = summary[summary["metric"] == metric].set_index(index)[list(STATS)]
        part.columns = [f"{metric.lower()}_{stat}" for stat in STATS]
        pieces.append(part)
    wide = pd.concat(pieces, axis=1).reset_index()
    order = [m for m in METRIC_ORDER if m in set(summary["metric"])]
    value_cols = [f"{m.lower()}_{s}" for m in order for s in STATS]
    wide = wide[[*index, *value_cols]]
    for col in value_cols:
        if col.endswith(("_n", "_n_undefined")):
            wide[col] = wide[col].fillna(0).astype(int)
    return _sort(wide, index)


def intra_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Intra-dataset results (test part of the training set's splits): one row per (model, loss, dataset).

    ``rmse_*`` is on the normalised 0-1 MOS scale (:mod:`gmc.metrics`): it means something only for a loss
    that regresses that scale (e.g. a native MSE or L1), not for correlation or ranking losses (GCC)."""
    intra = summary[summary["train_set"] == summary["test_set"]].rename(columns={"train_set": "dataset"})
    intra = intra.drop(columns="test_set")
    if intra.empty:
        return pd.DataFrame(columns=["model", "loss_role", "loss", "dataset"])
    return _wide(intra, ["model", "loss_role", "loss", "dataset"])


def cross_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Cross-dataset results (train on one set, test on another): one row per (model, loss, train, test).

    No RMSE: a model's output against another dataset's normalised MOS has no common scale (the raw
    values stay in ``summary.csv``)."""
    cross = summary[(summary["train_set"] != summary["test_set"]) & (summary["metric"] != "RMSE")]
    if cross.empty:
        return pd.DataFrame(columns=["model", "loss_role", "loss", "train_set", "test_set"])
    return _wide(cross, ["model", "loss_role", "loss", "train_set", "test_set"])


def gcc_vs_native_table(scores: pd.DataFrame, metric: str = "SROCC") -> pd.DataFrame:
    """Native loss vs GCC loss per (model, dataset), intra-dataset, on ``metric``.

    Medians use every *defined* split of each loss (as in the intra table; NaN = undefined correlation, see
    :func:`summarise`); ``delta`` = gcc_median - native_median. ``n_native`` / ``n_gcc`` count the defined
    splits and ``n_native_undefined`` / ``n_gcc_undefined`` the undefined ones. The paired comparison uses
    only splits run with both losses *and defined on both sides*: ``n_paired`` counts them, ``gcc_wins`` /
    ``ties`` those where GCC is higher / equal, ``median_paired_delta`` is their median difference.
    """
    columns = [
        "model", "dataset", "native_loss", "gcc_loss", "metric", "native_median", "gcc_median", "delta",
        "n_native", "n_gcc", "n_native_undefined", "n_gcc_undefined", "n_paired", "gcc_wins", "ties",
        "median_paired_delta",
    ]  # fmt: skip
    intra = scores[(scores["train_set"] == scores["test_set"]) & (scores["metric"] == metric)]
    intra = intra.rename(columns={"train_set": "dataset"})
    keep = ["model", "dataset", "loss", "split", "value"]
    native = intra.loc[intra["loss_role"] == "native", keep].rename(
        columns={"loss": "native_loss", "value": "native"}
    )
    gcc = intra.loc[intra["loss_role"] == "gcc", keep].rename(columns={"loss": "gcc_loss", "value": "gcc"})
    rows = []
    for (model, dataset), nat in native.groupby(["model", "dataset"], sort=True):
        gc = gcc[(gcc["model"] == model) & (gcc["dataset"] == dataset)]
        for native_loss, nat_l in nat.groupby("native_loss", sort=True):
            for gcc_loss, gc_l in gc.groupby("gcc_loss", sort=True):
                paired = nat_l[["split", "native"]].merge(gc_l[["split", "gcc"]], on="split").dropna()
                diff = paired["gcc"] - paired["native"]
                native_median = float(nat_l["native"].median())
                gcc_median = float(gc_l["gcc"].median())
                rows.append(
                    {
                        "model": model,
                        "dataset": dataset,
                        "native_loss": native_loss,
                        "gcc_loss": gcc_loss,
                        "metric": metric,
                        "native_median": native_median,
                        "gcc_median": gcc_median,
                        "delta": gcc_median - native_median,
                        "n_native": int(nat_l["native"].count()),
                        "n_gcc": int(gc_l["gcc"].count()),
                        "n_native_undefined": int(nat_l["native"].isna().sum()),
                        "n_gcc_undefined": int(gc_l["gcc"].isna().sum()),
                        "n_paired": len(paired),
                        "gcc_wins": int((diff > 0).sum()),
                        "ties": int((diff == 0).sum()),
                        "median_paired_delta": float(diff.median()) if len(diff) else np.nan,
                    }
                )
    out = pd.DataFrame(rows, columns=columns)
    return _sort(out, ["dataset", "model", "native_loss", "gcc_loss"])


def loss_comparison_models(scores: pd.DataFrame) -> list[str]:
    """The models trained with more than two losses (distinct (loss_role, loss) pairs), sorted."""
    counts = scores[["model", "loss_role", "loss"]].drop_duplicates().groupby("model").size()
    return sorted(counts[counts > 2].index)


def loss_comparison_table(summary: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Every loss of each of ``models`` side by side (see :func:`loss_comparison_models`): one row per
    (model, evaluation, train_set, test_set, loss_role, loss) with the ``<metric>_<stat>`` statistics over
    splits of :func:`summarise`. ``evaluation`` is ``intra`` (test part of the training set's splits,
    test_set == train_set) or ``cross``. Sorted by model, intra before cross, datasets, then loss role
    (:func:`role_key`) and loss."""
    index = ["model", "evaluation", "train_set", "test_set", "loss_role", "loss"]
    part = summary[summary["model"].isin(models)]
    if part.empty:
        return pd.DataFrame(columns=index)
    evaluation = np.where(part["train_set"] == part["test_set"], "intra", "cross")
    return _wide(part.assign(evaluation=evaluation), index)


def _names(meta: dict) -> set[str]:
    """The ``reported_as`` names of a model or dataset (a string or a list of strings)."""
    value = meta.get("reported_as")
    if value is None:
        return set()
    return {value} if isinstance(value, str) else {str(v) for v in value}


def reported_table(
    summary: pd.DataFrame, reported: pd.DataFrame, datasets: dict[str, dict], models: dict[str, dict]
) -> pd.DataFrame:
    """Our median SROCC/PLCC next to published numbers, for rows whose model and train/test sets map to a
    reported ``method`` / ``train_set`` / ``test_set`` through the metadata's ``reported_as`` names.
    Rows without a match are left out; ``*_delta`` = ours - reported. The medians are those of
    :func:`summarise` (defined splits only); ``n`` / ``n_undefined`` are the SROCC split counts."""
    columns = [
        "model", "loss_role", "loss", "train_set", "test_set", "method", "paper", "protocol",
        "srocc_ours", "srocc_reported", "srocc_delta", "plcc_ours", "plcc_reported", "plcc_delta",
        "n", "n_undefined", "source_url", "note",
    ]  # fmt: skip
    # set_index + unstack (not pivot_table, which drops rows whose medians are all NaN = undefined)
    medians = (
        summary[summary["metric"].isin(["SROCC", "PLCC"])]
        .set_index(["model", "loss_role", "loss", "train_set", "test_set", "metric"])["median"]
        .unstack("metric")
    )
    counts = summary[summary["metric"] == "SROCC"].set_index(
        ["model", "loss_role", "loss", "train_set", "test_set"]
    )[["n", "n_undefined"]]
    rows = []
    for key, ours in medians.iterrows():
        model, _, _, train_set, test_set = key
        methods = _names(models.get(model, {}))
        trains = _names(datasets.get(train_set, {}))
        tests = _names(datasets.get(test_set, {}))
        if not (methods and trains and tests):
            continue
        hits = reported[
            reported["method"].isin(methods)
            & reported["train_set"].isin(trains)
            & reported["test_set"].isin(tests)
        ]
        for _, rep in hits.iterrows():
            srocc = float(ours.get("SROCC", np.nan))
            plcc = float(ours.get("PLCC", np.nan))
            rows.append(
                {
                    **dict(zip(["model", "loss_role", "loss", "train_set", "test_set"], key)),
                    "method": rep["method"],
                    "paper": rep.get("paper", ""),
                    "protocol": rep.get("protocol", ""),
                    "srocc_ours": srocc,
                    "srocc_reported": rep["srocc"],
                    "srocc_delta": srocc - rep["srocc"],
                    "plcc_ours": plcc,
                    "plcc_reported": rep["plcc"],
                    "plcc_delta": plcc - rep["plcc"],
                    "n": int(counts["n"].get(key, 0)),
                    "n_undefined": int(counts["n_undefined"].get(key, 0)),
                    "source_url": rep.get("source_url", ""),
                    "note": rep.get("note", ""),
                }
            )
    out = pd.DataFrame(rows, columns=columns)
    return _sort(out, ["model", "loss_role", "loss", "train_set", "test_set", "method", "paper", "protocol"])


ABLATION_KEYS = ["ablation", "variant", "label", "settings", "model", "loss", "train_set"]
RUN_KEYS = ["model", "loss", "train_set"]


def ablation_cells(ablation: dict) -> pd.DataFrame:
    """The (variant, train_set) cells of a (normalised) ablation spec in display order: variants in their
    configured order, then training sets in theirs. Columns: ``ABLATION_KEYS``."""
    rows = [
        [ablation["name"], v["name"], v["label"], v["settings"], v["model"], v["loss"], train_set]
        for v in ablation["variants"]
        for train_set in ablation["train_sets"]
    ]
    return pd.DataFrame(rows, columns=ABLATION_KEYS)


def ablation_scores(scores: pd.DataFrame, ablation: dict) -> pd.DataFrame:
    """The intra-dataset score rows (test_set == train_set, any loss role) of the runs ``ablation`` uses."""
    runs = ablation_cells(ablation)[RUN_KEYS].drop_duplicates()
    intra = scores[scores["train_set"] == scores["test_set"]]
    return intra.merge(runs, on=RUN_KEYS, how="inner").reset_index(drop=True)


def ablation_table(scores: pd.DataFrame, ablation: dict) -> pd.DataFrame:
    """One row per (variant, train_set) of ``ablation`` (order of :func:`ablation_cells`) with the
    ``<metric>_<stat>`` statistics over splits of its intra-dataset run. Variants sharing a run get the same
    numbers. Assumes each run has a single loss role (checked by the caller)."""
    cells = ablation_cells(ablation)
    used = ablation_scores(scores, ablation)
    if used.empty:
        return cells
    wide = _wide(summarise(used), RUN_KEYS)
    return cells.merge(wide, on=RUN_KEYS, how="left", validate="many_to_one")


def with_main_score(scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` plus one ``MAIN_SCORE`` row per (run, test set, split): raw PLCC + SROCC of that split,
    the NTIRE challenges' main score (NaN where either is undefined)."""
    keys = ["model", "loss_role", "loss", "train_set", "test_set", "split"]
    # set_index + unstack: only the combinations present (pivot_table would cross the index levels)
    part = scores[scores["metric"].isin(["PLCC", "SROCC"])].set_index([*keys, "metric"])["value"]
    part = part.unstack("metric")
    if part.empty or not {"PLCC", "SROCC"} <= set(part.columns):
        return scores
    main = (part["PLCC"] + part["SROCC"]).rename("value").reset_index().assign(metric=MAIN_SCORE)
    return pd.concat([scores, main[[*keys, "metric", "value"]]], ignore_index=True)


def fr_table(scores: pd.DataFrame) -> pd.DataFrame:
    """The full-reference table: one row per (model, loss, train_set, test_set) of ``scores`` (the FR
    track's rows) with the statistics over splits of SROCC, PLCC (raw), KROCC and the main score
    (:func:`with_main_score`)."""
    index = ["model", "loss_role", "loss", "train_set", "test_set"]
    metrics = ["SROCC", "PLCC", "KROCC", MAIN_SCORE]
    part = with_main_score(scores)
    part = part[part["metric"].isin(metrics)]
    if part.empty:
        return pd.DataFrame(columns=index)
    return _wide(summarise(part), index)


def fr_published(reported: pd.DataFrame | None, datasets: dict[str, dict], fr_sets: set[str]) -> pd.DataFrame:
    """Published full-reference results for context: the rows of the reported-numbers CSV whose
    ``test_set`` is a ``reported_as`` name of one of ``fr_sets`` (e.g. NTIRE challenge entries on PIPAL),
    with ``dataset`` (our key) and ``main_score`` = plcc + srocc (NaN where either is missing)."""
    columns = ["dataset", "method", "paper", "protocol", "train_set", "test_set", "srocc", "plcc",
               "main_score", "source_url", "note"]  # fmt: skip
    if reported is None or reported.empty:
        return pd.DataFrame(columns=columns)
    owner = {name: key for key in sorted(fr_sets) for name in _names(datasets.get(key, {}))}
    part = reported[reported["test_set"].isin(owner)].copy()
    part["dataset"] = part["test_set"].map(owner)
    part["main_score"] = part["plcc"] + part["srocc"]
    return part[columns].sort_values(["dataset", "main_score", "method"], ascending=[True, False, True])
