"""Evaluation metrics between predictions and (normalised) MOS, via scipy.

SROCC: Spearman rank correlation; PLCC: Pearson linear correlation on raw predictions (no logistic
fit, as in pyiqa's tables); KROCC: Kendall's tau-b; RMSE: sqrt(mean((pred - mos)^2)) on the
normalised 0-1 scale (meaningful only for models trained on the same scale).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from gmc.registry import Registry

METRICS: Registry = Registry("metric")
METRICS.register("SROCC", lambda p, y: float(stats.spearmanr(p, y).statistic))
METRICS.register("PLCC", lambda p, y: float(stats.pearsonr(p, y).statistic))
METRICS.register("KROCC", lambda p, y: float(stats.kendalltau(p, y).statistic))
METRICS.register("RMSE", lambda p, y: float(np.sqrt(np.mean((np.asarray(p) - np.asarray(y)) ** 2))))


def compute_metrics(
    pred, mos, names: tuple[str, ...] = ("SROCC", "PLCC", "KROCC", "RMSE")
) -> dict[str, float]:
    """All metrics in ``names``. Constant predictions give NaN correlations (reported, not hidden)."""
    pred = np.asarray(pred, dtype=np.float64)
    mos = np.asarray(mos, dtype=np.float64)
    if pred.shape != mos.shape or pred.ndim != 1:
        raise ValueError(f"predictions {pred.shape} and MOS {mos.shape} must be 1-D and of equal length")
    if len(pred) < 3:
        raise ValueError(f"need at least 3 images to compute correlations, got {len(pred)}")
    if not np.all(np.isfinite(pred)):
        raise ValueError("predictions contain NaN or inf")
    if np.ptp(pred) == 0:
        return {n: (float("nan") if n != "RMSE" else METRICS.get(n)(pred, mos)) for n in names}
    return {n: METRICS.get(n)(pred, mos) for n in names}
