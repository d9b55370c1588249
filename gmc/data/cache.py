"""Decoded-image cache: every image of a manifest decoded once, resized (whole image, bicubic) to
S x S and stored as one uint8 array ``[N, 3, S, S]`` (``.npy``, memory-mapped on load) in manifest
order, so training epochs never decode JPEGs again. A JSON sidecar records the image order and the
manifest's sha256; loading checks both against the manifest in use.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from gmc.data.manifest import read_manifest
from gmc.io import atomic_path, write_json


def load_image(path: str | Path, size: int) -> np.ndarray:
    """Decode an image to RGB and resize it to ``size`` x ``size`` (bicubic); returns uint8 [3, S, S]."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.size != (size, size):
            im = im.resize((size, size), Image.Resampling.BICUBIC)
        return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).copy()


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sidecar(npy: str | Path) -> Path:
    return Path(npy).with_suffix(".json")


def build_cache(manifest_csv: str | Path, size: int, out_npy: str | Path, *, threads: int = 1) -> None:
    """Decode every manifest image (and reference image, for FR sets, into ``<name>.ref.npy``)."""
    manifest = read_manifest(manifest_csv)
    columns = {"path": Path(out_npy)}
    if (manifest["reference_path"] != "").any():
        columns["reference_path"] = Path(out_npy).with_suffix(".ref.npy")
    for column, target in columns.items():
        paths = manifest[column].tolist()
        with atomic_path(target) as tmp:
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), 3, size, size))
            with ThreadPoolExecutor(max(1, threads)) as pool:
                for i, img in enumerate(pool.map(lambda p: load_image(p, size), paths)):
                    arr[i] = img
            arr.flush()
            del arr
    write_json(
        sidecar(out_npy),
        {"size": size, "images": manifest["image"].tolist(), "manifest_sha256": file_sha256(manifest_csv)},
    )


def load_cache(npy: str | Path, manifest_csv: str | Path, *, reference: bool = False) -> np.ndarray:
    """Memory-map a cache and check it was built from this manifest (else: rebuild it)."""
    meta = json.loads(sidecar(npy).read_text())
    if meta["manifest_sha256"] != file_sha256(manifest_csv):
        raise ValueError(
            f"cache {npy} was built from another version of {manifest_csv}; delete it and rerun the workflow"
        )
    path = Path(npy).with_suffix(".ref.npy") if reference else Path(npy)
    arr = np.load(path, mmap_mode="r")
    if arr.shape[0] != len(meta["images"]):
        raise ValueError(f"cache {path} has {arr.shape[0]} images, its sidecar lists {len(meta['images'])}")
    return arr
