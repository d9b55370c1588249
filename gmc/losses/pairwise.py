r"""Pairwise ranking losses over all pairs of a batch: ``rank_hinge`` and ``fidelity``.

Both are symmetric in the pair (swapping i and j gives the same term), so the mean over the B(B-1)/2
unordered pairs ``i < j`` equals the mean over all ordered pairs. Both see only differences of
predictions: they fix neither the offset nor (``fidelity`` only loosely) the scale of the predictions, so
RMSE against the labels is not meaningful for a model trained with them.

A batch without a usable pair (B = 1; for ``rank_hinge`` also a batch whose labels are all tied) has no
term to average: the loss is 0, with a zero gradient (it stays attached to ``pred``'s graph, so
``backward()`` works).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gmc.losses.basic import DEFAULT_EPS, as_batch, no_autocast


def pair_differences(x: torch.Tensor) -> torch.Tensor:
    """``x_i - x_j`` for every unordered pair ``i < j`` of a 1-D tensor (row-major order), B(B-1)/2 values."""
    i, j = torch.triu_indices(x.shape[0], x.shape[0], offset=1, device=x.device)
    return x[i] - x[j]


def normal_cdf(x: torch.Tensor) -> torch.Tensor:
    """Standard normal CDF ``Phi(x) = (1 + erf(x / sqrt(2))) / 2``."""
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _no_pairs(p: torch.Tensor) -> torch.Tensor:
    """0 attached to the graph of ``p`` (the loss of a batch without a usable pair)."""
    return p.sum() * 0.0


class RankHingeLoss(nn.Module):
    r"""Pairwise margin ranking (hinge) loss over all pairs of the batch.

    ::

        L = mean over pairs i < j with y_i != y_j of  max(0, -sign(y_i - y_j) * (p_i - p_j) + margin)

    Pairs with equal labels are excluded (they state no order). Source: the pairwise hinge of RankIQA
    (X. Liu, J. van de Weijer, A. D. Bagdanov, "RankIQA: Learning from Rankings for No-reference Image
    Quality Assessment", ICCV 2017: ``max(0, f(x_j) - f(x_i) + eps)`` for x_i better than x_j), applied to
    every labelled pair of the batch as in pyiqa's ranking loss and ``torch.nn.MarginRankingLoss``.

    ``margin`` is in label units; default 0.1 (ours): the harness scales labels to [0, 1], and a margin
    of a tenth of that range keeps a gradient on correctly ordered pairs closer than it (with margin 0,
    as in ``MarginRankingLoss``, correctly ordered pairs get none). Not smooth: kinks where a pair's term
    reaches 0. No usable pair (B = 1 or all labels tied): 0.
    """

    def __init__(self, margin: float = 0.1) -> None:
        super().__init__()
        if not margin >= 0:
            raise ValueError(f"rank_hinge: margin must be >= 0; got {margin}")
        self.margin = float(margin)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p, y = as_batch(pred, target)
        with no_autocast(p.device):
            order = torch.sign(pair_differences(y))
            keep = order != 0
            if not bool(keep.any()):
                return _no_pairs(p)
            dp = pair_differences(p)[keep]
            return torch.clamp(-order[keep] * dp + self.margin, min=0.0).mean()

    def extra_repr(self) -> str:
        return f"margin={self.margin}"


class FidelityLoss(nn.Module):
    r"""Pairwise fidelity loss under Thurstone's model (UNIQUE / LIQE).

    ::

        P_ij = Phi((p_i - p_j) / sqrt(2))       predicted probability that i is better than j
                                                (Thurstone case V, unit variance per prediction)
        g_ij = 1[y_i > y_j] + 0.5 * 1[y_i = y_j]           (label_std None, the default)
        g_ij = Phi((y_i - y_j) / (sqrt(2) * label_std))    (label_std = s > 0)
        L    = mean over pairs i < j of  1 - sqrt(g_ij * P_ij) - sqrt((1 - g_ij) * (1 - P_ij))

    Sources: W. Zhang, K. Ma, G. Zhai, X. Yang, "Uncertainty-Aware Blind Image Quality Assessment in the
    Laboratory and Wild", IEEE TIP 30, 2021 (UNIQUE: the fidelity loss and the Thurstone probabilities,
    with ``g`` from the MOS and their standard deviations, ``Phi((mu_i - mu_j) / sqrt(s_i^2 + s_j^2))``);
    W. Zhang et al., "Blind Image Quality Assessment via Vision-Language Correspondence", CVPR 2023 (LIQE:
    the binary ``g`` with 0.5 for ties, used when no standard deviation is available).

    Choice of ``g``: losses receive the MOS only (no per-image standard deviation), so the default is
    LIQE's binary label. ``label_std = s`` gives UNIQUE's form with the same standard deviation ``s`` (in
    label units) for every image, a smooth label that treats near-ties as uncertain.

    ``1 - P_ij`` is computed as ``Phi((p_j - p_i) / sqrt(2))`` (no cancellation), and each probability under
    a square root is clamped below at ``eps`` (default 1e-8), so the gradient stays finite when a
    probability underflows; the value is exact unless a probability is below ``eps``. A term is 0 exactly
    when ``P_ij = g_ij`` and at most 1 (up to the ``eps`` clamp), as one minus the Bhattacharyya coefficient
    of two Bernoulli distributions. B = 1 (no pair): 0. Ties and constant predictions are ordinary pairs
    (a constant prediction batch has ``P = 0.5`` everywhere: ``1 - sqrt(0.5)`` per ordered label pair and 0
    per tie, with the default labels).
    """

    def __init__(self, label_std: float | None = None, eps: float = DEFAULT_EPS) -> None:
        super().__init__()
        if label_std is not None and not label_std > 0:
            raise ValueError(f"fidelity: label_std must be > 0 (or None for binary labels); got {label_std}")
        if not eps > 0:
            raise ValueError(f"fidelity: eps must be > 0; got {eps}")
        self.label_std = None if label_std is None else float(label_std)
        self.eps = float(eps)

    def label_probability(self, dy: torch.Tensor) -> torch.Tensor:
        """``g_ij`` from label differences ``dy = y_i - y_j``."""
        if self.label_std is None:
            return 0.5 * (torch.sign(dy) + 1.0)
        return normal_cdf(dy / (math.sqrt(2.0) * self.label_std))

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p, y = as_batch(pred, target)
        with no_autocast(p.device):
            if p.shape[0] < 2:
                return _no_pairs(p)
            dp = pair_differences(p) / math.sqrt(2.0)
            g = self.label_probability(pair_differences(y))
            prob, prob_not = normal_cdf(dp), normal_cdf(-dp)
            agree = torch.sqrt(g) * torch.sqrt(prob.clamp_min(self.eps))
            agree_not = torch.sqrt(1.0 - g) * torch.sqrt(prob_not.clamp_min(self.eps))
            return (1.0 - agree - agree_not).mean()

    def extra_repr(self) -> str:
        return f"label_std={self.label_std}, eps={self.eps}"
