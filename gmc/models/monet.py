"""MoNet, the mean-opinion network of GMC-IQA (Chen et al., arXiv 2401.10511; gmc-iqa.md section 2).

    image in [0, 1] -> (x - mean) / std -> backbone -> four multi-level features F_1..F_4, each [B, C, D]
          (D = S x S positions; a CNN's stages are first projected to C by 1x1 convs and resized to S x S)
          -> M parallel MAL modules, each over (F_1..F_4)      -> M opinion features [B, C, D]
          -> fusion MAL over the M opinions                    -> comprehensive opinion feature [B, C, D]
          -> one transformer block (timm ``Block``) over the D tokens -> [B, C, S, S]
          -> CNN head -> 128-d -> FC 128 -> 64 -> ReLU -> Dropout -> 1 (optional sigmoid) -> score (B,)

Multi-view Attention Learning (MAL) over N inputs X_n [B, C, D]:

1. per input, SAGAN spatial self-attention: q, k = 1x1 conv C -> C/8, v = 1x1 conv C -> C,
   A = softmax(q^T k) over the last dim (D x D), X_n <- gamma_n * (v A^T) + X_n, gamma_n initialised to 0;
2. stack -> X [B, N, C, D] (the concatenation [B, N*C, D], view n-major);
3. pixel-wise branch: tokens are the C channels, each the concatenation over n of its D values
   (X.permute(0, 2, 1, 3) -> [B, C, N*D]); T + Dropout(softmax(Q K^T / sqrt(N*D)) V) with
   Q, K, V = Linear(N*D, N*D) (bias); back to [B, N, C, D] with the inverse permute;
4. channel-wise branch: tokens are the D positions with N*C features (X.permute(0, 3, 1, 2) ->
   [B, D, N*C]); Linear(N*C, N*C) q, k, v; D x D attention; dropout; residual; inverse permute;
5. the average of the two branches, mean over N -> the MAL output [B, C, D].

Dropout sits on the attention output before the residual add, as in the authors' attention block (a
MANIQA-style block). ``legacy_reshape=True`` reproduces the authors' two reshape slips for bit-level
comparison (gmc-iqa.md): the pixel branch splits the stacked (N, C) axis as (C, N), and the attention
block returns ``(A V).transpose(1, 2).reshape(B, T, F)`` instead of ``A V``. The default is the figure's
semantics.

Head. With S = 28 (ViT-B/8 at 224) it is the paper's: conv 5x5 (valid) C->256, BN, ReLU, avgpool 2;
conv 3x3 256->128, BN, ReLU, avgpool 2; conv 3x3 128->128, BN, ReLU, avgpool 3 (28 -> 24 -> 12 -> 10 ->
5 -> 3 -> 1). For any other S (CNN backbones, the CPU demo with S = 7 or 3) that geometry does not fit,
so the same three convolutions use "same" padding (5x5 pad 2, 3x3 pad 1), without the intermediate
pools, and the map is average-pooled to 1 x 1 (ours; documented generalisation).

Transformer heads: ``transformer_heads``, else 12 when C is a multiple of 12 with head dim >= 8 (768 ->
12, the paper), else the largest of 8, 6, 4, 3, 2, 1 that divides C with head dim >= 8 (64 -> 8).

Sizes: the full ViT-B/8 MoNet at 224 (M = 3) has 85,806,336 backbone parameters (final norm and
classifier pruned) and 229,562,528 in the MAL/transformer/CNN/FC part, 315,368,864 in all
(:func:`parameter_counts`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from timm.models.vision_transformer import Block
from torch import nn

from gmc.features import grid_pooling, to_grid


class SpatialSelfAttention(nn.Module):
    """SAGAN self-attention over the D positions of a [B, C, D] map; returns ``gamma * attn(x) + x``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        self.query = nn.Conv1d(channels, inner, 1)  # a 1x1 conv on the flattened map
        self.key = nn.Conv1d(channels, inner, 1)
        self.value = nn.Conv1d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        energy = torch.bmm(self.query(x).transpose(1, 2), self.key(x))  # [B, D, D]
        attn = energy.softmax(dim=-1)
        out = torch.bmm(self.value(x), attn.transpose(1, 2))  # [B, C, D]
        return self.gamma * out + x


class TokenSelfAttention(nn.Module):
    """Single-head self-attention over T tokens of F features with residual:
    ``x + Dropout(softmax(q k^T / sqrt(F)) v)``; q, k, v are ``Linear(F, F)`` with bias."""

    def __init__(self, dim: int, dropout: float = 0.1, legacy_reshape: bool = False) -> None:
        super().__init__()
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.scale = 1.0 / math.sqrt(dim)
        self.legacy_reshape = legacy_reshape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attn = (self.q(x) @ self.k(x).transpose(1, 2) * self.scale).softmax(dim=-1)  # [B, T, T]
        out = attn @ self.v(x)  # [B, T, F]
        if self.legacy_reshape:  # the authors' slip: scrambles tokens and features
            out = out.transpose(1, 2).reshape(x.shape)
        return x + self.dropout(out)


class MAL(nn.Module):
    """Multi-view Attention Learning over ``n_inputs`` maps [B, channels, positions] -> [B, channels,
    positions] (see the module docstring)."""

    def __init__(
        self,
        n_inputs: int,
        channels: int,
        positions: int,
        dropout: float = 0.1,
        legacy_reshape: bool = False,
    ) -> None:
        super().__init__()
        self.n, self.c, self.d = n_inputs, channels, positions
        self.legacy_reshape = legacy_reshape
        self.spatial = nn.ModuleList(SpatialSelfAttention(channels) for _ in range(n_inputs))
        self.pixel = TokenSelfAttention(n_inputs * positions, dropout, legacy_reshape)
        self.channel = TokenSelfAttention(n_inputs * channels, dropout, legacy_reshape)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(inputs) != self.n:
            raise ValueError(f"MAL expects {self.n} inputs, got {len(inputs)}")
        b, n, c, d = inputs[0].shape[0], self.n, self.c, self.d
        if inputs[0].shape[1:] != (c, d):
            raise ValueError(f"MAL expects inputs [B, {c}, {d}], got {tuple(inputs[0].shape)}")
        x = torch.stack([sa(t) for sa, t in zip(self.spatial, inputs, strict=True)], dim=1)  # [B, N, C, D]
        if self.legacy_reshape:
            return self._legacy(x)
        # pixel-wise: tokens = channels, features = (n, position)
        pixel = self.pixel(x.permute(0, 2, 1, 3).reshape(b, c, n * d))
        pixel = pixel.reshape(b, c, n, d).permute(0, 2, 1, 3)
        # channel-wise: tokens = positions, features = (n, channel)
        channel = self.channel(x.permute(0, 3, 1, 2).reshape(b, d, n * c))
        channel = channel.reshape(b, d, n, c).permute(0, 2, 3, 1)
        return ((pixel + channel) / 2).mean(dim=1)

    def _legacy(self, x: torch.Tensor) -> torch.Tensor:
        """The authors' layout: the stacked [B, N*C, D] tensor's (N, C) axis split as (C, N)."""
        b, n, c, d = x.shape
        stacked = x.reshape(b, n * c, d)
        pixel = self.pixel(stacked.reshape(b, c, n * d)).reshape(b, n * c, d)
        channel = self.channel(stacked.transpose(1, 2)).transpose(1, 2)
        return ((pixel + channel) / 2).reshape(b, n, c, d).mean(dim=1)


def _conv_bn_relu(cin: int, cout: int, k: int, padding: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, padding=padding), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def cnn_head(channels: int, size: int) -> nn.Sequential:
    """[B, C, S, S] -> [B, 128]: the paper's CNN for S = 28; "same" convs + global average pool otherwise."""
    if size == 28:
        layers = [
            *_conv_bn_relu(channels, 256, 5, 0),
            nn.AvgPool2d(2),
            *_conv_bn_relu(256, 128, 3, 0),
            nn.AvgPool2d(2),
            *_conv_bn_relu(128, 128, 3, 0),
            nn.AvgPool2d(3),
        ]
    else:
        layers = [
            *_conv_bn_relu(channels, 256, 5, 2),
            *_conv_bn_relu(256, 128, 3, 1),
            *_conv_bn_relu(128, 128, 3, 1),
            nn.AdaptiveAvgPool2d(1),
        ]
    return nn.Sequential(*layers, nn.Flatten())


class CachedMaps(nn.Module):
    """The backbone of a head-only MoNet (``freeze_backbone``): no parameters; ``forward(x)`` takes a
    backbone's four maps already brought to S x S and flattened, ``x [B, sum_s C_s S^2]`` (the ``grid<S>``
    features of :mod:`gmc.features`, computed once per dataset by the frozen backbone), and returns them as
    ``[B, C_s, S, S]``. MoNet's 1x1 projections commute with that pooling (:func:`gmc.features.to_grid`),
    so the head-only MoNet on cached maps equals the full MoNet with a frozen backbone (tested).

    With ``tail_blocks`` N > 0 (``finetune_last_blocks``, partial fine-tuning) the row holds the maps taken
    before the backbone's last N blocks at S x S, then those blocks' input ``[C_t, H_t, W_t]`` whole
    (``grid<S>-tail<N>`` features); the N blocks (:class:`gmc.models.backbones.BackboneTail`, pretrained
    weights, trained) compute the remaining maps from it; ``tail_batchnorm`` is their BatchNorm mode
    (:class:`gmc.models.backbones.BackboneTail`). ``input_size`` gives ``H_t, W_t``."""

    #: MoNet passes the input on unnormalised: the backbone normalised it when the maps were cached
    takes_features = True

    def __init__(
        self,
        backbone: nn.Module,
        size: int,
        tail_blocks: int = 0,
        input_size: int = 224,
        tail_batchnorm: str = "frozen",
    ) -> None:
        super().__init__()
        self.channels = tuple(int(c) for c in backbone.channels)
        self.reductions = tuple(getattr(backbone, "reductions", ()))
        self.size = int(size)
        self.weights_source = getattr(backbone, "weights_source", "unknown")
        self.default_mean, self.default_std = backbone.default_mean, backbone.default_std
        self.tail_blocks = int(tail_blocks)
        s2 = self.size * self.size
        if self.tail_blocks:
            from gmc.models.backbones import BackboneTail

            if not hasattr(backbone, "frozen_prefix"):
                raise ValueError(
                    f"finetune_last_blocks needs a CNN backbone; {type(backbone).__name__} has no blocks to "
                    "split (use freeze_backbone alone, or train end to end)"
                )
            self.tail = BackboneTail(backbone, self.tail_blocks, tail_batchnorm)
            with torch.no_grad():  # the shape of the tail's input at this input size
                _, probe = backbone.frozen_prefix(torch.zeros(1, 3, input_size, input_size), self.tail_blocks)
            self.tail_shape = tuple(int(v) for v in probe.shape[1:])
            prefix = self.channels[: self.tail.n_prefix_maps]
            self.parts = [c * s2 for c in prefix] + [math.prod(self.tail_shape)]
        else:
            self.parts = [c * s2 for c in self.channels]

    @property
    def dim(self) -> int:
        """The width of a cached feature row: ``sum_s C_s S^2`` (plus the tail's input with a tail)."""
        return sum(self.parts)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.dim() != 2 or x.shape[1] != self.dim:
            pooling = grid_pooling(self.size, self.tail_blocks)
            raise ValueError(
                f"a head-only MoNet takes cached maps [B, {self.dim}] (channels {self.channels} at "
                f"{self.size} x {self.size}), got {tuple(x.shape)}: were the features computed with pooling "
                f"{pooling} for this backbone and input size?"
            )
        s, b = self.size, x.shape[0]
        parts = torch.split(x, self.parts, dim=1)
        if not self.tail_blocks:
            return [p.reshape(b, c, s, s) for p, c in zip(parts, self.channels, strict=True)]
        prefix = [p.reshape(b, c, s, s) for p, c in zip(parts[:-1], self.channels, strict=False)]
        return prefix + self.tail(parts[-1].reshape(b, *self.tail_shape))


def default_heads(channels: int) -> int:
    """Heads of the transformer block: 12 for 768 (the paper), else a divisor of C with head dim >= 8."""
    for h in (12, 8, 6, 4, 3, 2):
        if channels % h == 0 and channels // h >= 8:
            return h
    return 1


class MoNet(nn.Module):
    """MoNet: RGB images in [0, 1] (B, 3, H, W) -> (B,) quality scores; normalises its own input."""

    def __init__(
        self,
        backbone: nn.Module,
        *,
        feature_channels: int,
        feature_size: int,
        num_views: int = 3,
        mal_dropout: float = 0.1,
        transformer_heads: int | None = None,
        head_hidden: int = 64,
        head_dropout: float = 0.1,
        final_sigmoid: bool = False,
        mean: Sequence[float] = (0.5, 0.5, 0.5),
        std: Sequence[float] = (0.5, 0.5, 0.5),
        legacy_reshape: bool = False,
    ) -> None:
        super().__init__()
        if num_views < 1:
            raise ValueError(f"num_views must be >= 1, got {num_views}")
        self.backbone = backbone
        c, s = int(feature_channels), int(feature_size)
        self.channels, self.size, self.num_views = c, s, num_views
        # each level to C channels (identity when it already has C, as ViT-B/8 with C = 768)
        self.project = nn.ModuleList(
            nn.Identity() if ch == c else nn.Conv2d(ch, c, 1) for ch in backbone.channels
        )
        d = s * s
        self.opinions = nn.ModuleList(MAL(4, c, d, mal_dropout, legacy_reshape) for _ in range(num_views))
        self.fusion = MAL(num_views, c, d, mal_dropout, legacy_reshape)
        self.block = Block(dim=c, num_heads=transformer_heads or default_heads(c))
        self.cnn = cnn_head(c, s)
        fc = [
            nn.Linear(128, head_hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(head_dropout),
            nn.Linear(head_hidden, 1),
        ]
        self.fc = nn.Sequential(*fc, *([nn.Sigmoid()] if final_sigmoid else []))
        self.register_buffer(
            "mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.normalization = {"mean": [float(v) for v in mean], "std": [float(v) for v in std]}
        self.weights_source = getattr(backbone, "weights_source", "unknown")

    def multi_level_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The four levels as [B, C, D]: normalised input -> backbone -> 1x1 projection -> S x S
        (:func:`gmc.features.to_grid`). A head-only MoNet's input is the cached maps (:class:`CachedMaps`),
        which are not normalised again."""
        if not getattr(self.backbone, "takes_features", False):
            x = (x - self.mean) / self.std
        return [
            to_grid(proj(f), self.size).flatten(2)
            for proj, f in zip(self.project, self.backbone(x), strict=True)
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.multi_level_features(x)
        opinions = [mal(feats) for mal in self.opinions]  # M x [B, C, D]
        fused = self.fusion(opinions)  # [B, C, D]
        tokens = self.block(fused.transpose(1, 2))  # [B, D, C]
        grid = tokens.transpose(1, 2).reshape(x.shape[0], self.channels, self.size, self.size)
        return self.fc(self.cnn(grid)).reshape(-1)


def parameter_counts(model: MoNet) -> dict[str, int]:
    """Parameters of the backbone, of everything else (projection, MALs, block, CNN, FC) and in total."""
    backbone = sum(p.numel() for p in model.backbone.parameters())
    total = sum(p.numel() for p in model.parameters())
    return {"backbone": backbone, "head": total - backbone, "total": total}


__all__ = ["MAL", "CachedMaps", "MoNet", "cnn_head", "default_heads", "parameter_counts"]
