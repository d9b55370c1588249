"""Evaluation metrics between predictions and (normalised) MOS, via scipy.

SROCC: Spearman rank correlation. PLCC: Pearson linear correlation on the raw predictions (no fit; as
pyiqa and the GMC-IQA authors report it). PLCC_logistic: Pearson correlation after the VQEG 4-parameter
logistic mapping (:func:`plcc_logistic`). KROCC: Kendall's tau-b. RMSE: sqrt(mean((pred - mos)^2)) with
``mos`` on the normalised 0-1 scale: meaningful only for a model trained to regress that scale and tested
on its own training set's scale (intra-dataset, a regression loss); the report labels it so.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from scipy import optimize, stats

from gmc.registry import Registry


def logistic4(x, b1, b2, b3, b4):
    """VQEG (2000, FR-TV phase I final report, s. 7.2.1) 4-parameter logistic:
    ``f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2``; increasing for b1 > b2."""
    return (b1 - b2) / (1.0 + np.exp(-(x - b3) / np.abs(b4))) + b2


def fit_logistic(pred, mos) -> Callable[[np.ndarray], np.ndarray] | None:
    """Fit the VQEG logistic :func:`logistic4` from predictions to ``mos`` (least squares,
    :func:`scipy.optimize.curve_fit`) and return the fitted mapping ``prediction -> MOS``, or ``None`` when
    the fit fails (no convergence, non-finite parameters, or a constant fitted curve on ``pred``).

    The predictions are standardised first (``z = (pred - mean) / std``; the fit is on ``z`` so that the
    starting point suits every prediction scale) and the fit starts from b1 = max(mos), b2 = min(mos),
    b3 = 0, b4 = 1. The returned function applies the same standardisation."""
    x = np.asarray(pred, dtype=np.float64)
    y = np.asarray(mos, dtype=np.float64)
    mean, std = x.mean(), x.std()
    if not std > 0:
        return None
    z = (x - mean) / std
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # OptimizeWarning (covariance) / overflow in exp: checked below
            params, _ = optimize.curve_fit(logistic4, z, y, p0=[y.max(), y.min(), 0.0, 1.0], maxfev=10000)
            fitted = logistic4(z, *params)
    except (RuntimeError, ValueError, optimize.OptimizeWarning):
        return None
    if not (np.all(np.isfinite(params)) and np.all(np.isfinite(fitted))) or np.ptp(fitted) == 0:
        return None

    def mapping(values: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return logistic4((np.asarray(values, dtype=np.float64) - mean) / std, *params)

    return mapping


def plcc_logistic(pred, mos) -> float:
    """PLCC between ``mos`` and the VQEG logistic of the predictions fitted to it (:func:`fit_logistic`).

    A decreasing fit (the model ranks backwards) gives a negative value, as the raw PLCC would.
    Fallback: when the fit fails the value is the raw PLCC, i.e. the best *linear* mapping, which the
    logistic family contains in its near-linear limit; so a failed fit never becomes NaN or a number better
    than the data support.
    """
    x = np.asarray(pred, dtype=np.float64)
    y = np.asarray(mos, dtype=np.float64)
    raw = float(stats.pearsonr(x, y).statistic)
    mapping = fit_logistic(x, y)
    if mapping is None:
        return raw
    fitted = mapping(x)
    increasing = fitted[np.argmax(x)] >= fitted[np.argmin(x)]
    return float((1.0 if increasing else -1.0) * stats.pearsonr(fitted, y).statistic)


METRICS: Registry = Registry("metric")
METRICS.register("SROCC", lambda p, y: float(stats.spearmanr(p, y).statistic))
METRICS.register("PLCC", lambda p, y: float(stats.pearsonr(p, y).statistic))
METRICS.register("PLCC_logistic", plcc_logistic)
METRICS.register("KROCC", lambda p, y: float(stats.kendalltau(p, y).statistic))
METRICS.register("RMSE", lambda p, y: float(np.sqrt(np.mean((np.asarray(p) - np.asarray(y)) ** 2))))

#: what ``gmc score`` writes to ``results/scores.csv`` (training logs use the default of compute_metrics)
SCORE_METRICS = ("SROCC", "PLCC", "PLCC_logistic", "KROCC", "RMSE")


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
