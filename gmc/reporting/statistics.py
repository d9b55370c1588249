"""Paired statistics over splits: is one loss better than another on the same model, data and splits?

For every compared pair (a *baseline* loss and a *challenger* loss of one model, on one train set, test
set and metric) the differences ``d_k = challenger_k - baseline_k`` over the splits ``k`` run with both
losses and defined on both sides (a NaN correlation = constant predictions is left out) give:

- ``median_diff``: the median of ``d``;
- ``wins`` / ``ties`` / ``losses``: how many ``d_k`` are > 0 / = 0 / < 0 ("GCC better in k of n splits");
- ``ci_low`` / ``ci_high``: a 95 % bootstrap confidence interval of the median difference,
  :func:`scipy.stats.bootstrap` on the ``d_k`` (resampling splits, i.e. pairs, with replacement),
  percentile method, ``N_RESAMPLES`` resamples, seeded (``SEED``) so the report is byte-stable.
  Percentile, not BCa: BCa's jackknife acceleration is undefined for the few, often tied, medians of
  10 splits. With ``n < MIN_BOOTSTRAP`` (3) splits there is nothing to resample: the interval is NaN.
  When all ``d_k`` are equal every resample has median ``d``: the interval is ``[d, d]`` (the
  percentile method returns it without a warning; BCa would give NaN);
- ``statistic`` / ``p_value``: the two-sided Wilcoxon signed-rank test, :func:`scipy.stats.wilcoxon`
  with ``zero_method="wilcox"`` (zero differences are dropped before ranking, Wilcoxon 1945; ``n_nonzero``
  counts the rest) and ``method="exact"`` for ``n_nonzero <= EXACT_MAX`` (50; the exact null distribution
  of the signed-rank sum, as scipy's ``auto`` does, written out so it does not change with scipy), else
  the normal approximation. With ``n_nonzero = 0`` there is no test: ``p_value`` is NaN. Example: 5
  positive differences give the smallest possible rank sum of the negative ones, 0, and the exact
  two-sided p = 2 / 2^5 = 0.0625, so 5 splits can never reach p < 0.05;
- ``p_holm``: Holm's (1979) step-down adjustment over the comparisons of one table (:func:`holm`).

Everything is long-format (one row per comparison); formatting happens in :mod:`gmc.reporting.display`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from gmc.config.settings import GCC, NATIVE

SEED = 0
N_RESAMPLES = 9999
CONFIDENCE = 0.95
MIN_BOOTSTRAP = 3
EXACT_MAX = 50
#: the metrics compared
METRICS = ("SROCC", "PLCC")
PAIR_COLUMNS = [
    "model", "train_set", "test_set", "metric", "baseline_role", "baseline_loss", "loss_role", "loss",
]  # fmt: skip
RESULT_COLUMNS = [
    "n", "n_nonzero", "wins", "ties", "losses", "median_diff", "ci_low", "ci_high", "statistic", "p_value",
]  # fmt: skip


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979, Scand. J. Statist. 6:65-70).

    With the m defined p-values sorted ascending, p_(1) <= ... <= p_(m):
    ``p_holm_(i) = min(1, max_{j <= i} (m - j + 1) p_(j))`` (the running maximum keeps the order).
    Rejecting where ``p_holm <= alpha`` controls the family-wise error rate at ``alpha``. NaN (no test)
    stays NaN and does not count in m.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    defined = np.flatnonzero(~np.isnan(p))
    m = len(defined)
    order = defined[np.argsort(p[defined], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled)) if m else scaled
    return out


def median_ci(diff: np.ndarray, seed: int = SEED) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the median of ``diff`` (see the module docstring): NaN with
    fewer than ``MIN_BOOTSTRAP`` values, ``(d, d)`` when all values equal ``d``."""
    diff = np.asarray(diff, dtype=float)
    if len(diff) < MIN_BOOTSTRAP:
        return np.nan, np.nan
    res = stats.bootstrap(
        (diff,),
        np.median,
        n_resamples=N_RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def signed_rank(diff: np.ndarray) -> tuple[float, float, int]:
    """Two-sided Wilcoxon signed-rank test of ``diff`` (statistic, p-value, number of non-zero values);
    NaN statistic and p-value when no difference is non-zero."""
    diff = np.asarray(diff, dtype=float)
    nonzero = int(np.count_nonzero(diff))
    if nonzero == 0:
        return np.nan, np.nan, 0
    method = "exact" if nonzero <= EXACT_MAX else "asymptotic"
    res = stats.wilcoxon(diff, zero_method="wilcox", alternative="two-sided", method=method)
    return float(res.statistic), float(res.pvalue), nonzero


def compare(diff) -> dict:
    """Every statistic of one comparison from its paired differences (columns ``RESULT_COLUMNS``)."""
    diff = np.asarray(diff, dtype=float)
    statistic, p_value, nonzero = signed_rank(diff)
    low, high = median_ci(diff)
    return {
        "n": len(diff),
        "n_nonzero": nonzero,
        "wins": int((diff > 0).sum()),
        "ties": int((diff == 0).sum()),
        "losses": int((diff < 0).sum()),
        "median_diff": float(np.median(diff)) if len(diff) else np.nan,
        "ci_low": low,
        "ci_high": high,
        "statistic": statistic,
        "p_value": p_value,
    }


def loss_pairs(scores: pd.DataFrame) -> pd.DataFrame:
    """The compared pairs: for each model, its native loss (baseline) vs every other loss it was trained
    with (challenger: GCC and the rest). Columns model, baseline_role, baseline_loss, loss_role, loss."""
    combos = scores[["model", "loss_role", "loss"]].drop_duplicates()
    native = combos[combos["loss_role"] == NATIVE].rename(
        columns={"loss_role": "baseline_role", "loss": "baseline_loss"}
    )
    pairs = native.merge(combos[combos["loss_role"] != NATIVE], on="model")
    return pairs.sort_values(["model", "baseline_loss", "loss_role", "loss"]).reset_index(drop=True)


def paired_statistics(scores: pd.DataFrame, metrics=METRICS) -> pd.DataFrame:
    """One row per (pair of :func:`loss_pairs`, train_set, test_set, metric in ``metrics``) with the
    statistics of :func:`compare` over the splits run with both losses and defined on both sides.
    ``p_holm`` is left NaN: the family is a table's rows, see :func:`add_holm`."""
    part = scores[scores["metric"].isin(metrics)]
    keys = ["model", "train_set", "test_set", "metric", "split"]
    rows = []
    for pair in loss_pairs(part).itertuples(index=False):
        base = part[(part["model"] == pair.model) & (part["loss"] == pair.baseline_loss)]
        base = base[base["loss_role"] == pair.baseline_role]
        chal = part[(part["model"] == pair.model) & (part["loss"] == pair.loss)]
        chal = chal[chal["loss_role"] == pair.loss_role]
        both = base[keys + ["value"]].merge(chal[keys + ["value"]], on=keys, suffixes=("_base", "_chal"))
        both = both.dropna(subset=["value_base", "value_chal"])
        for (train, test, metric), group in both.groupby(["train_set", "test_set", "metric"], sort=True):
            diff = (group["value_chal"] - group["value_base"]).to_numpy()
            rows.append(
                {
                    "model": pair.model,
                    "train_set": train,
                    "test_set": test,
                    "metric": metric,
                    "baseline_role": pair.baseline_role,
                    "baseline_loss": pair.baseline_loss,
                    "loss_role": pair.loss_role,
                    "loss": pair.loss,
                    **compare(diff),
                }
            )
    out = pd.DataFrame(rows, columns=[*PAIR_COLUMNS, *RESULT_COLUMNS])
    out["p_holm"] = np.nan
    return out.sort_values(PAIR_COLUMNS, kind="stable").reset_index(drop=True)


def add_holm(frame: pd.DataFrame, family: list[str]) -> pd.DataFrame:
    """``frame`` with ``p_holm``: Holm over the rows sharing the ``family`` columns (one table's
    comparisons of one metric), and ``m_holm``: the number of defined p-values in that family."""
    out = frame.copy()
    if out.empty:
        return out.assign(p_holm=pd.Series(dtype=float), m_holm=pd.Series(dtype=int))
    grouped = out.groupby(family, sort=False)["p_value"]
    out["p_holm"] = grouped.transform(lambda p: pd.Series(holm(p.to_numpy()), index=p.index))
    out["m_holm"] = grouped.transform("count").astype(int)
    return out


def gcc_statistics(stats_frame: pd.DataFrame) -> pd.DataFrame:
    """The native-vs-GCC comparisons of :func:`paired_statistics`, intra-dataset, with Holm over each
    metric's rows (the family of the GCC-vs-native table)."""
    intra = stats_frame["train_set"] == stats_frame["test_set"]
    part = stats_frame[(stats_frame["loss_role"] == GCC) & intra]
    return add_holm(part.reset_index(drop=True), ["metric"])


#: the columns :func:`with_statistics` adds to the GCC-vs-native table (its own columns already hold the
#: paired n, wins, ties and median difference)
GCC_TABLE_COLUMNS = ["ci_low", "ci_high", "n_nonzero", "statistic", "p_value", "p_holm", "m_holm"]


def with_statistics(gvn: pd.DataFrame, stats_frame: pd.DataFrame) -> pd.DataFrame:
    """The GCC-vs-native table (:func:`gmc.reporting.tables.gcc_vs_native_table`) with the confidence
    interval, the Wilcoxon test and Holm's adjustment over its rows (:func:`gcc_statistics`); a row
    without paired splits gets NaN."""
    gcc = gcc_statistics(stats_frame).rename(
        columns={"train_set": "dataset", "baseline_loss": "native_loss", "loss": "gcc_loss"}
    )
    keys = ["model", "dataset", "native_loss", "gcc_loss", "metric"]
    out = gvn.merge(gcc[keys + GCC_TABLE_COLUMNS], on=keys, how="left", validate="one_to_one")
    out["m_holm"] = out["m_holm"].fillna(0).astype(int)
    return out
