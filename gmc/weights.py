"""Pretrained weight files: fetched once into ``resources/weights/`` before training, so that
training runs with the hub offline.

A timm weight file is named ``<architecture>.<tag>.safetensors`` (e.g.
``vit_base_patch8_224.augreg_in21k_ft_in1k.safetensors``) and comes from timm's Hugging Face
repository of that name. Its sha256 is recorded in ``resources/weights/lock.json`` on first fetch and
verified afterwards (:class:`gmc.data.download.HashLock`). Weight files that are not timm models
(e.g. DBCNN's SCNN branch, pretrained by its authors) are declared with their URL in
:data:`gmc.models.weight_files.EXTERNAL_WEIGHTS` and fetched the same way.
"""

from __future__ import annotations

from pathlib import Path

from gmc.data.download import HashLock, download
from gmc.models.weight_files import EXTERNAL_WEIGHTS

TIMM_HUB = "https://huggingface.co/timm/{name}/resolve/main/model.safetensors"


def timm_weight_url(filename: str) -> str:
    """URL of ``<architecture>.<tag>.safetensors`` on timm's hub, or of a declared non-timm file."""
    name = Path(filename).name
    if name in EXTERNAL_WEIGHTS:
        return EXTERNAL_WEIGHTS[name]
    if not name.endswith(".safetensors") or name.count(".") < 2:
        raise ValueError(
            f"weight file {filename!r} must be named <architecture>.<tag>.safetensors, "
            "e.g. vit_base_patch8_224.augreg_in21k_ft_in1k.safetensors, or be one of the declared files "
            f"{', '.join(sorted(EXTERNAL_WEIGHTS))}"
        )
    return TIMM_HUB.format(name=name.removesuffix(".safetensors"))


def fetch_weights(out: str | Path, *, url: str | None = None, lock_path: str | Path | None = None) -> Path:
    """Download a weight file (resumable, verified against the lock) to ``out``."""
    out = Path(out)
    lock = HashLock(lock_path or out.parent / "lock.json")
    return download(
        url or timm_weight_url(out.name), out, lock=lock, lock_name=f"weights/{out.name}", reject_html=True
    )
