"""Distance and correlation losses: ``mse``, ``l1`` and ``plcc``.

All take ``pred`` of shape (B,) or (B, 1) and ``target`` of shape (B,) (or (B, 1)), compute in float32
at least (half-precision inputs are cast up, outside autocast) and return a scalar.
"""

from __future__ import annotations

import torch
from torch import nn

DEFAULT_EPS = 1e-8


def as_batch(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten ``pred`` (B,) or (B, 1) and ``target`` (B,) or (B, 1) to (B,), cast to >= float32."""
    tensors = []
    for what, t in (("pred", pred), ("target", target)):
        if t.dim() == 2 and t.shape[1] == 1:
            t = t[:, 0]
        if t.dim() != 1:
            raise ValueError(f"{what} must have shape (B,) or (B, 1), got {tuple(t.shape)}")
        tensors.append(t)
    p, y = tensors
    if p.shape[0] != y.shape[0]:
        raise ValueError(f"pred and target differ in batch size: {p.shape[0]} vs {y.shape[0]}")
    if p.shape[0] == 0:
        raise ValueError("empty batch")
    dtype = torch.promote_types(torch.promote_types(p.dtype, y.dtype), torch.float32)
    if not dtype.is_floating_point:
        dtype = torch.float32
    return p.to(dtype), y.to(device=p.device, dtype=dtype)


def no_autocast(device: torch.device):
    """Context that disables autocast on ``device`` so that the loss really runs in float32/64."""
    return torch.autocast(device_type=device.type, enabled=False)


def pearson(a: torch.Tensor, b: torch.Tensor, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """Pearson correlation of two 1-D tensors; each sum of squares is clamped below at ``eps``, so
    a constant input gives 0 with finite gradients instead of NaN."""
    da, db = a - a.mean(), b - b.mean()
    den = torch.sqrt((da * da).sum().clamp_min(eps)) * torch.sqrt((db * db).sum().clamp_min(eps))
    return (da * db).sum() / den


class MSELoss(nn.Module):
    """Mean squared error over the batch: ``mean((p - y)^2)``."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p, y = as_batch(pred, target)
        with no_autocast(p.device):
            return torch.mean((p - y) ** 2)


class L1Loss(nn.Module):
    """Mean absolute error over the batch: ``mean(|p - y|)``."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p, y = as_batch(pred, target)
        with no_autocast(p.device):
            return torch.mean(torch.abs(p - y))


class PLCCLoss(nn.Module):
    """``1 - PLCC(p, y)`` over the batch (Pearson correlation, sums of squares clamped at ``eps``).

    A batch of one, or a constant batch, has no correlation: the loss is 1 and the gradient finite.
    """

    def __init__(self, eps: float = DEFAULT_EPS) -> None:
        super().__init__()
        self.eps = float(eps)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        p, y = as_batch(pred, target)
        with no_autocast(p.device):
            return 1.0 - pearson(p, y, self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"
