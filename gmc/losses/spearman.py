r"""Differentiable Spearman loss (``soft_spearman``): one minus the Pearson correlation of the soft ranks
of the predictions with the (hard) ranks of the labels, over the batch::

    L = 1 - PLCC(softrank_tau(p), rank(y))
    softrank_tau(p)_i = sum_j Phi((z_i - z_j) / tau),   z = (p - mean(p)) / std(p)   (unbiased std)
    rank(y)_i = #{j: y_j < y_i} + (#{j: y_j = y_i} + 1) / 2        (average ranks, as scipy's rankdata)

The soft rank is GMC-IQA's pairwise Gaussian-CDF rank (:func:`gmc.losses.gcc.soft_rank`; docs/gmc-iqa.md,
section 1; Chen et al., arXiv 2401.10511), reused here with its temperature ``tau`` in z units as the
option (default 1, the GCC default). As ``tau -> 0``, ``Phi(d / tau) -> 1[d > 0] + 0.5 * 1[d = 0]``, so the
soft rank tends to ``rank(p) - 1/2`` (average ranks for ties) and, Pearson being shift invariant, the loss
tends to ``1 - Spearman(p, y)``; smaller ``tau`` is closer to Spearman but gives sparser gradients.
The labels carry no gradient, so their exact ranks are used. Cost O(B^2).

Why not a library: torchsort (Blondel et al.'s fast soft ranks) is published on PyPI only as source that
needs a C++/CUDA build, fast-soft-sort is not on PyPI, and diffsort (differentiable sorting networks)
returns soft permutation matrices for a fixed size; the soft rank that GCC already needs is enough.

Edge cases: B = 1 or a constant prediction batch has no spread: every soft rank is equal, the correlation
is 0 (sums of squares clamped at ``eps``, :func:`gmc.losses.basic.pearson`) and the loss is 1, finite. A
constant label batch likewise gives 1. At an exactly constant prediction batch the z-scoring is
discontinuous (any perturbation spreads to unit variance), so the gradient there is finite but large (of
order ``1 / eps``), as in GCC's SROCC term; gradient clipping bounds the step. B = 2 gives 0 for a
correctly ordered pair and 2 for a reversed one (for any ``tau``: two distinct soft ranks are perfectly
correlated); a tied label pair gives 1.
"""

from __future__ import annotations

import torch
from torch import nn

from gmc.losses.basic import DEFAULT_EPS, as_batch, no_autocast, pearson
from gmc.losses.gcc import soft_rank


def average_rank(x: torch.Tensor) -> torch.Tensor:
    """Average (fractional) ranks of a 1-D tensor, 1-based, ties sharing their mean rank; O(B^2), no
    gradient."""
    with torch.no_grad():
        less = (x[None, :] < x[:, None]).sum(dim=1)
        equal = (x[None, :] == x[:, None]).sum(dim=1)
        return less.to(x.dtype) + (equal.to(x.dtype) + 1.0) / 2.0


class SoftSpearmanLoss(nn.Module):
    """``1 - PLCC(soft_rank(pred), rank(target))`` (formulas, source and edge cases in the module
    docstring): ``tau`` (soft-rank temperature in z units, default 1), ``eps`` (variance and correlation
    guard)."""

    def __init__(self, tau: float = 1.0, eps: float = DEFAULT_EPS) -> None:
        super().__init__()
        if not tau > 0:
            raise ValueError(f"soft_spearman: tau must be > 0; got {tau}")
        if not eps > 0:
            raise ValueError(f"soft_spearman: eps must be > 0; got {eps}")
        self.tau, self.eps = float(tau), float(eps)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p, y = as_batch(pred, target)
        with no_autocast(p.device):
            return 1.0 - pearson(soft_rank(p, self.tau, self.eps), average_rank(y), self.eps)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, eps={self.eps}"
