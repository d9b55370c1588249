r"""ASNA's surrogate ranking loss (``asna_surrogate``): MSE, a Pearson term and the squared distance between
the ranks a frozen, pre-trained "sorter" network assigns to the labels and to the predictions::

    L = w_mse * mean_i (p_i - y_i)^2  +  (1 - w_mse) * (1 - r(p, y)^2)  +  w_sp * mean_i (S(y)_i - S(p)_i)^2

``r``: the batch Pearson correlation (sums of squares clamped at 1e-8, :func:`gmc.losses.basic.pearson`),
clipped to [-1, 1]. ``S``: the sorter (:mod:`gmc.losses.sorter`), a 1-D CNN mapping a vector of n scores to
approximate ranks 1..n, in eval mode and frozen (no gradient reaches its weights; the gradient flows
through it to ``p``). Both the label ranks and the prediction ranks pass through it, as in the official
code. For n = 16 the ranking term is ``42.5 * (1 - rho_S)``, ``rho_S`` the Spearman correlation of the
sorter's ranks (sum d^2 = 680 (1 - rho)).

Source: ASNA (Ayyoubzadeh and Royat, arXiv 2105.02531; docs/asna.md, section 2), official code
github.com/smehdia/NTIRE2021-IQA-MACS ``metrics_losses/metrics_and_losses.py`` (``Final_loss``); ASNA
trains with ``w_mse = 1.0`` (Pearson term off) and ``w_sp = 0.01`` (the defaults).

Options: ``w_mse`` in [0, 1] (1.0), ``w_sp`` >= 0 (0.01), ``sorter``: the path of a sorter checkpoint
(:func:`gmc.losses.sorter.save_sorter`), or a :class:`gmc.losses.sorter.Sorter` (frozen in place); needed
when ``w_sp > 0``.

**Batch size**: the sorter has a fixed length n (16 in the paper), so every batch must have exactly n
scores; another size raises :class:`gmc.errors.ConfigError` (a ``ValueError``) naming both numbers and the
fix (:func:`gmc.losses.asna_check.check_sorter_batch_size`, which the config check can call before
training).

Differences from the official code: a term whose weight is 0 is not computed (officially ``0 * (1 - r^2)``
is still evaluated and is NaN for a constant batch, which makes the whole loss NaN); the Pearson sums of
squares are clamped, so a constant batch gives r = 0 with finite gradients. The loss keeps the sorter in
eval mode when the training loop calls ``loss_fn.train()`` (in the official code the Keras model is
frozen, so its BatchNorm layers run in inference mode too). The sorter's weights are part of the loss's
``state_dict`` (so a checkpoint records which sorter was used).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gmc.errors import ConfigError
from gmc.losses.asna_check import check_sorter_batch_size
from gmc.losses.basic import DEFAULT_EPS, as_batch, no_autocast, pearson
from gmc.losses.sorter import Sorter, load_sorter


class ASNASurrogateLoss(nn.Module):
    """``w_mse * MSE + (1 - w_mse) * (1 - r^2) + w_sp * mean (S(y) - S(p))^2`` (module docstring)."""

    def __init__(
        self, w_mse: float = 1.0, w_sp: float = 0.01, sorter: str | Path | Sorter | None = None
    ) -> None:
        super().__init__()
        if not 0.0 <= w_mse <= 1.0:
            raise ConfigError(f"asna_surrogate: w_mse must be in [0, 1]; got {w_mse}")
        if not w_sp >= 0.0:
            raise ConfigError(f"asna_surrogate: w_sp must be >= 0; got {w_sp}")
        self.w_mse, self.w_sp = float(w_mse), float(w_sp)
        if sorter is None and self.w_sp > 0:
            raise ConfigError(
                f"asna_surrogate: w_sp={w_sp} needs a pre-trained sorter; set the loss option 'sorter' to a "
                "sorter checkpoint (gmc.losses.sorter.pretrain_sorter + save_sorter), or w_sp: 0"
            )
        self.sorter_path = None if sorter is None or isinstance(sorter, Sorter) else str(sorter)
        if self.sorter_path is not None:
            sorter, _ = load_sorter(self.sorter_path)
        if sorter is not None:
            sorter.eval().requires_grad_(False)
        self.sorter: Sorter | None = sorter

    @property
    def length(self) -> int | None:
        """The batch size the loss accepts (the sorter's length), or None when it has no sorter."""
        return None if self.sorter is None else self.sorter.length

    def train(self, mode: bool = True) -> ASNASurrogateLoss:
        """Set the training mode of the loss; the frozen sorter stays in eval mode."""
        super().train(mode)
        if self.sorter is not None:
            self.sorter.eval()
        return self

    def terms(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """The three terms, unweighted: ``mse``, ``pearson`` (1 - r^2) and ``rank`` (mean (S(y) - S(p))^2);
        a term with weight 0 is absent."""
        p, y = as_batch(pred, target)
        out = {}
        with no_autocast(p.device):
            if self.w_mse > 0:
                out["mse"] = torch.mean((p - y) ** 2)
            if self.w_mse < 1:
                r = pearson(p, y, DEFAULT_EPS).clamp(-1.0, 1.0)
                out["pearson"] = 1.0 - r * r
            if self.w_sp > 0:
                check_sorter_batch_size(p.shape[0], self.sorter.length, where="asna_surrogate")
                dtype = self.sorter.fc.weight.dtype
                with torch.no_grad():
                    s_y = self.sorter(y.to(dtype))
                s_p = self.sorter(p.to(dtype))
                out["rank"] = torch.mean((s_y - s_p) ** 2).to(p.dtype)
        return out

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        t = self.terms(pred, target)
        weights = {"mse": self.w_mse, "pearson": 1.0 - self.w_mse, "rank": self.w_sp}
        return sum(weights[k] * v for k, v in t.items())

    def extra_repr(self) -> str:
        return f"w_mse={self.w_mse}, w_sp={self.w_sp}, sorter={self.sorter_path or self.length}"
