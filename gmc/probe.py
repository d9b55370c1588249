"""The linear probe: ridge regression of the (normalised) MOS on frozen-backbone features, with its
regularisation chosen by K-fold cross-validation on the training part only. Light: numpy, no torch.

**Model.** With the training rows' features ``X`` (``n x D``) and targets ``y``, each feature is
standardised with the training statistics, ``z_j = (x_j - m_j) / s_j`` (``m_j``, ``s_j``: mean and
population standard deviation over the training rows; a feature constant on them, ``s_j <= 1e-8 |m_j|``,
is left out: coefficient 0), and

    w(alpha) = argmin_w ||y - y_bar - Z w||^2 + alpha ||w||^2 = V diag(s_i / (s_i^2 + alpha)) U^T (y - y_bar)

with ``Z = U diag(s) V^T`` the thin SVD (the ridge of scikit-learn's ``Ridge``: a sum of squares, the
intercept ``y_bar`` not penalised). A prediction is ``y_hat = y_bar + ((x - m) / s) . w``. All of it in
float64. Closed form: there is no gradient loss and no epoch; the harness records it as native loss
``mse`` because ridge minimises the squared error (plus the penalty).

**Choosing alpha** (:func:`fit_probe`): on a log grid (:data:`DEFAULT_ALPHAS`, 1e-3 .. 1e5 in half
decades) by K-fold cross-validation (default 5) **over the training rows only**: the rows are grouped
(``groups``: the content, e.g. the reference image of a synthetic set, so that the distortions of one
scene stay in one fold, as the splits keep them in one part), the sorted groups are permuted with
``numpy.random.default_rng(seed)`` and dealt to the folds in turn; for each fold the standardisation and
the SVD are computed on the other folds alone, and the chosen alpha minimises the pooled validation MSE
(the largest alpha among exact ties). The final model is refitted on all training rows with it. Nothing
outside ``train_idx`` is read: neither the features nor the targets nor the groups of other rows (the
tests replace them with NaN). An alpha on the edge of the grid is reported (``alpha_at_edge``): widen
the grid.

scikit-learn is not a dependency of the harness; this is the same estimator (``RidgeCV`` with a
``GroupKFold``-like split) in a few lines of numpy, so the result does not depend on its version.

**Files** (:func:`save_probe`, :func:`load_probe`): one ``.npz`` of plain arrays (no pickle; the
metadata as a JSON string), read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from gmc.errors import InputFileError
from gmc.io import atomic_path

#: alpha grid: 10^-3 .. 10^5 in half-decade steps (17 values)
DEFAULT_ALPHAS = tuple(float(10.0**e) for e in np.arange(-3.0, 5.01, 0.5))
DEFAULT_FOLDS = 5
PROBE_FORMAT = "gmc-probe/1"
#: rows per block when predicting (a memory-mapped feature cache is read block by block)
_BLOCK = 4096


@dataclass(frozen=True)
class ProbeModel:
    """A fitted probe (module docstring): ``mean``, ``scale`` (``[D]``), ``coef`` (``[D]``, on the
    standardised features; 0 for left-out constant features), ``intercept`` (``y_bar``), the chosen
    ``alpha`` and the cross-validation record: ``alphas``, ``cv_mse`` (pooled validation MSE per alpha;
    empty, and ``folds`` 0, for a grid of one alpha), ``folds``, ``n_train``, ``seed``."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    alpha: float
    alphas: np.ndarray
    cv_mse: np.ndarray
    folds: int
    n_train: int
    seed: int
    meta: dict = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return len(self.coef)

    @property
    def alpha_at_edge(self) -> bool:
        """Whether cross-validation chose the smallest or largest alpha of a grid of more than one."""
        return len(self.alphas) > 1 and self.alpha in (float(self.alphas[0]), float(self.alphas[-1]))

    def summary(self) -> dict:
        """Plain-data description (for summary.json and the log)."""
        best = int(np.argmin(self.cv_mse)) if len(self.cv_mse) else None
        return {
            "alpha": self.alpha,
            "alpha_at_edge": self.alpha_at_edge,
            "alphas": [float(a) for a in self.alphas],
            "cv_mse": [float(v) for v in self.cv_mse],
            "cv_mse_best": float(self.cv_mse[best]) if best is not None else None,
            "folds": self.folds,
            "n_train": self.n_train,
            "n_features": self.n_features,
            "n_constant_features": int(np.sum(self.coef == 0.0)),
            "seed": self.seed,
        }


# ------------------------------------------------------------------------------------------ maths
def standardisation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mean, scale, keep)`` of the rows of ``x`` (float64): population std as the scale, 1 where a
    feature is constant (``std <= 1e-8 |mean|``), and ``keep`` marking the non-constant features."""
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    keep = std > 1e-8 * np.abs(mean)
    return mean, np.where(keep, std, 1.0), keep


def ridge_path(z: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Ridge coefficients ``[D, len(alphas)]`` of centred ``y`` on centred ``z`` for every alpha, from
    one thin SVD: ``w(alpha) = V diag(s / (s^2 + alpha)) U^T y``."""
    u, s, vt = np.linalg.svd(z, full_matrices=False)
    uty = u.T @ y
    return vt.T @ (s[:, None] * uty[:, None] / (s[:, None] ** 2 + alphas[None, :]))


def _fit_rows(x: np.ndarray, y: np.ndarray, alphas: np.ndarray):
    """Standardise ``x`` with its own statistics and return ``(mean, scale, keep, y_bar, W)`` with the
    coefficients ``W [D, len(alphas)]`` (0 on constant features)."""
    mean, scale, keep = standardisation(x)
    y_bar = float(y.mean())
    z = (x[:, keep] - mean[keep]) / scale[keep]
    w = np.zeros((x.shape[1], len(alphas)))
    if keep.any():
        w[keep] = ridge_path(z, y - y_bar, alphas)
    return mean, scale, keep, y_bar, w


def fold_of(groups: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """The fold (0 .. folds-1) of each row: the sorted distinct groups permuted by
    ``default_rng(seed)`` and dealt to the folds in turn (independent of the row order)."""
    names, inverse = np.unique(groups.astype(str), return_inverse=True)
    if len(names) < 2:
        raise ValueError(f"cross-validation needs at least 2 groups of training rows, got {len(names)}")
    folds = min(folds, len(names))
    order = np.random.default_rng(seed).permutation(len(names))
    fold_of_group = np.empty(len(names), dtype=np.int64)
    fold_of_group[order] = np.arange(len(names)) % folds
    return fold_of_group[inverse]


def cross_validate(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, alphas: np.ndarray, folds: int, seed: int
) -> tuple[np.ndarray, int]:
    """Pooled validation MSE per alpha over group K-folds of these rows (each fold standardised and
    fitted on the others alone), and the number of folds used."""
    fold = fold_of(groups, folds, seed)
    n_folds = int(fold.max()) + 1
    sq_err = np.zeros(len(alphas))
    for k in range(n_folds):
        fit, held = fold != k, fold == k
        mean, scale, _, y_bar, w = _fit_rows(x[fit], y[fit], alphas)
        pred = y_bar + ((x[held] - mean) / scale) @ w
        sq_err += ((pred - y[held, None]) ** 2).sum(axis=0)
    return sq_err / len(y), n_folds


def fit_probe(
    features: np.ndarray,
    targets: np.ndarray,
    train_idx: np.ndarray,
    *,
    groups: np.ndarray | None = None,
    alphas: tuple[float, ...] | list[float] | np.ndarray | None = None,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
) -> ProbeModel:
    """Fit the probe on the rows ``train_idx`` of ``features`` ``[N, D]`` and ``targets`` ``[N]``
    (module docstring); ``groups`` ``[N]`` keep rows of one group in one fold (default: every row its
    own group). Only the rows ``train_idx`` are read. A grid of one alpha skips cross-validation."""
    train_idx = np.asarray(train_idx, dtype=np.int64)
    if train_idx.ndim != 1 or len(train_idx) < 2:
        raise ValueError(f"the probe needs at least 2 training rows, got {len(train_idx)}")
    if len(np.unique(train_idx)) != len(train_idx):
        raise ValueError("train_idx lists a row twice")
    alphas = np.asarray(DEFAULT_ALPHAS if alphas is None else alphas, dtype=np.float64)
    if alphas.ndim != 1 or len(alphas) == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
        raise ValueError(f"alphas must be a non-empty list of positive numbers, got {alphas.tolist()}")
    alphas = np.sort(alphas)
    start = time.perf_counter()
    x = np.asarray(features[train_idx], dtype=np.float64)
    y = np.asarray(np.asarray(targets)[train_idx], dtype=np.float64)
    if x.ndim != 2 or y.shape != (len(x),):
        raise ValueError(f"features must be [N, D] and targets [N]; got {x.shape} and {y.shape} rows")
    if not np.isfinite(x).all() or not np.isfinite(y).all():
        raise ValueError("the training rows' features or targets are not all finite numbers")
    g = np.arange(len(train_idx)) if groups is None else np.asarray(groups)[train_idx]
    if len(alphas) > 1:
        cv_mse, n_folds = cross_validate(x, y, g, alphas, folds, seed)
        best = len(alphas) - 1 - int(np.argmin(cv_mse[::-1]))  # the largest alpha among exact ties
    else:
        cv_mse, n_folds, best = np.empty(0), 0, 0
    alpha = float(alphas[best])
    mean, scale, _, y_bar, w = _fit_rows(x, y, np.array([alpha]))
    return ProbeModel(
        mean=mean,
        scale=scale,
        coef=w[:, 0],
        intercept=y_bar,
        alpha=alpha,
        alphas=alphas,
        cv_mse=cv_mse,
        folds=n_folds,
        n_train=len(train_idx),
        seed=seed,
        meta={"fit_seconds": round(time.perf_counter() - start, 3)},
    )


def predict_probe(model: ProbeModel, features: np.ndarray) -> np.ndarray:
    """``y_bar + ((x - m) / s) . w`` for every row of ``features`` ``[N, D]`` (float64 ``[N]``), read in
    blocks (a memory-mapped cache is not loaded whole)."""
    if features.ndim != 2 or features.shape[1] != model.n_features:
        raise ValueError(
            f"features have shape {features.shape}; the probe was fitted on {model.n_features} features"
        )
    out = np.empty(len(features))
    for lo in range(0, len(features), _BLOCK):
        x = np.asarray(features[lo : lo + _BLOCK], dtype=np.float64)
        out[lo : lo + len(x)] = model.intercept + ((x - model.mean) / model.scale) @ model.coef
    return out


# ------------------------------------------------------------------------------------------- files
_ARRAYS = ("mean", "scale", "coef", "alphas", "cv_mse")


def save_probe(path: str | Path, model: ProbeModel, extra: dict | None = None) -> None:
    """Write ``model`` to ``path`` (``.npz``, atomic): its arrays, and its scalars plus ``extra`` (e.g.
    the run config and the feature spec) as one JSON string. No pickle."""
    data = asdict(model)
    scalars = {k: v for k, v in data.items() if k not in _ARRAYS}
    meta = {"format": PROBE_FORMAT, **scalars, "extra": extra or {}}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh, **{k: np.asarray(data[k], dtype=np.float64) for k in _ARRAYS}, meta=np.array(json.dumps(meta))
        )


def load_probe(path: str | Path) -> tuple[ProbeModel, dict]:
    """``(model, extra)`` from a file of :func:`save_probe`; :class:`InputFileError` naming the file when
    it is missing, damaged or of another format."""
    fix = "fit the probe again (`python -m gmc probe`) or pass the right file"
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in _ARRAYS}
            meta = json.loads(str(npz["meta"]))
    except (OSError, ValueError, KeyError) as err:
        raise InputFileError(f"cannot read probe {path} ({err}); {fix}") from None
    if meta.get("format") != PROBE_FORMAT:
        raise InputFileError(f"{path} has format {meta.get('format')!r}, not {PROBE_FORMAT!r}; {fix}")
    extra = meta.pop("extra", {})
    meta.pop("format")
    return ProbeModel(**arrays, **meta), extra
