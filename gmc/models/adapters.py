"""Small ``nn.Module`` adapters that fit other libraries' networks to the model contract (design.md):
images in [0, 1] in, a (B,) score tensor out. Heavy (imports torch): import it inside build functions."""

from __future__ import annotations

from torch import nn


class FlattenScores(nn.Module):
    """Wraps a network returning (B, 1) (or any B x 1 x ... shape) scores and returns them as (B,)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, *inputs):
        return self.net(*inputs).reshape(-1)
