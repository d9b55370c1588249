r"""Norm-in-norm loss (``nin``).

Source: D. Li, T. Jiang, M. Jiang, "Norm-in-Norm Loss with Faster Convergence and Better Performance for
Image Quality Assessment", ACM Multimedia 2020 (arXiv 2008.03889); the authors' code is
github.com/lidq92/LinearityIQA (``norm_loss_with_normalization``), pyiqa's ``NiNLoss`` follows it.

The paper's notation (note: ``q`` is the norm of the normalisation, ``p`` the norm of the loss)::

    s_hat = (p - mean(p)) / ||p - mean(p)||_q            (prediction, centred and q-normalised)
    s     = (y - mean(y)) / ||y - mean(y)||_q            (label, the same)
    L     = (||s_hat - s||_p / c)^p = sum_i |s_hat_i - s_i|^p / c^p,
    c     = 2 * B^max(0, 1/p - 1/q)

``c`` bounds the loss in [0, 1] (Hoelder: ||s_hat - s||_p <= ||s_hat||_p + ||s||_p <= 2 B^max(0, 1/p-1/q)).

Defaults ``p = 1``, ``q = 2``: the configuration the paper recommends and the authors' released
checkpoint was trained with (``p1q2.pth`` in LinearityIQA's README), also pyiqa's ``NiNLoss`` defaults.
The authors' code adds an optional second term (``alpha[1]``, the "rho * s_hat - s" variant) that is off
by default (``alpha = [1, 0]``); it is not offered here.

The loss is invariant to shift and positive scale of the predictions (and of the labels), so it does not
fix the scale of the predictions: RMSE against the labels is not meaningful for a model trained with it.

Numerical guard: each sum ``sum_i |x_i - mean(x)|^q`` is clamped below at ``eps`` before its q-th root,
so a batch without spread (B = 1, or a constant prediction or label batch) normalises to the zero vector
instead of dividing by zero. Hence B = 1 gives exactly 0; a constant prediction batch (B >= 2) gives
``sum_i |s_i|^p / c^p`` (the label part alone), and a constant label batch ``sum_i |s_hat_i|^p / c^p``;
values and gradients stay finite. The loss is scale invariant, hence discontinuous at an exactly constant
prediction batch: the gradient there is finite but large (of order ``eps ** -0.5``), as for any normalised
loss; gradient clipping bounds the step. For ``p = 1`` the loss has a kink where ``s_hat_i = s_i``.
"""

from __future__ import annotations

import torch
from torch import nn

from gmc.losses.basic import DEFAULT_EPS, as_batch, no_autocast


def centred_normalised(x: torch.Tensor, q: float, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """``(x - mean(x)) / ||x - mean(x)||_q``, with ``sum |x - mean|^q`` clamped below at ``eps``."""
    centred = x - x.mean()
    norm = (centred.abs() ** q).sum().clamp_min(eps) ** (1.0 / q)
    return centred / norm


class NormInNormLoss(nn.Module):
    """Norm-in-norm loss (formula and source in the module docstring): ``p`` (loss norm, default 1),
    ``q`` (normalisation norm, default 2), ``eps`` (guard of the normalisation)."""

    def __init__(self, p: float = 1.0, q: float = 2.0, eps: float = DEFAULT_EPS) -> None:
        super().__init__()
        if not p >= 1 or not q >= 1:
            raise ValueError(f"nin: p and q must be >= 1 (norms); got p={p}, q={q}")
        if not eps > 0:
            raise ValueError(f"nin: eps must be > 0; got {eps}")
        self.p, self.q, self.eps = float(p), float(q), float(eps)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p, y = as_batch(pred, target)
        with no_autocast(p.device):
            n = p.shape[0]
            s_hat = centred_normalised(p, self.q, self.eps)
            s = centred_normalised(y, self.q, self.eps)
            c = 2.0 * n ** max(0.0, 1.0 / self.p - 1.0 / self.q)
            return ((s_hat - s).abs() ** self.p).sum() / c**self.p

    def extra_repr(self) -> str:
        return f"p={self.p}, q={self.q}, eps={self.eps}"
