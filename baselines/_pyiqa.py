"""Light helpers shared by the pyiqa baseline modules (no torch, timm or pyiqa here; the network code is
in :mod:`baselines._nets`, imported by the build functions). The leading underscore keeps this module out
of the package's discovery (``baselines/__init__.py``).

pyiqa (IQA-PyTorch) is licensed PolyForm Noncommercial 1.0.0: these baselines import it at run time and
copy none of its code."""

from __future__ import annotations

from gmc.models.weight_files import external_weight_file, required_weight_files

IMAGENET = "ImageNet mean/std (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225)"
HALF = "mean = std = 0.5 (inputs in [-1, 1])"


def timm_weights(default_backbone: str, default_pretrained):
    """A card's ``weights(**options)``: the local file of a timm-tagged ``pretrained`` for ``backbone``."""

    def weights(backbone: str = default_backbone, pretrained=default_pretrained, weights_file=None, **_):
        return required_weight_files(backbone, pretrained, weights_file)

    return weights


def external(name: str | None) -> list[str]:
    """The local path of a declared non-timm weight file, or nothing for ``None`` (random init)."""
    return [] if name in (None, False, "", "null", "none") else [external_weight_file(name)]
