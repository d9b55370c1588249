"""Decoded-image cache: every image of a manifest decoded once, resized (whole image, bicubic) to
S x S - or, for models with a crop protocol, to the dataset's stored resolution W x H
(:mod:`gmc.data.protocol`) - and stored as one uint8 array ``[N, 3, H, W]`` (``.npy``, memory-mapped on
load, so a dataset larger than RAM is paged in as crops are cut) in manifest order, so training epochs
never decode JPEGs again. A JSON sidecar records the image order, the size
and the manifest's sha256; loading checks them against the manifest in use and the arrays' shapes.

The sidecar marks a complete cache: a build removes it first and writes it last, after the arrays
(each written atomically). A build killed at any point therefore leaves arrays without a sidecar,
never a sidecar that describes other arrays, and loading a cache without its sidecar is an error
that names the files and the fix (rebuild), never a silently stale cache.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from gmc.data.manifest import read_manifest
from gmc.errors import InputFileError
from gmc.io import atomic_path, write_json


def parse_size(text: str | int) -> int | tuple[int, int]:
    """``"224"`` -> 224 (square); ``"512x384"`` -> (512, 384) (width, height)."""
    parts = str(text).lower().split("x")
    if len(parts) in (1, 2) and all(p.isdigit() and int(p) > 0 for p in parts):
        return int(parts[0]) if len(parts) == 1 else (int(parts[0]), int(parts[1]))
    raise ValueError(f"cache size {text!r}: give S (e.g. 224) or WxH (e.g. 512x384)")


def _width_height(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def load_image(path: str | Path, size: int | tuple[int, int]) -> np.ndarray:
    """Decode an image to RGB and resize it (bicubic) to ``size`` x ``size`` or to (width, height);
    returns uint8 [3, H, W]."""
    with Image.open(path) as im:
        return resize_image(im, size)


def resize_image(im: Image.Image, size: int | tuple[int, int]) -> np.ndarray:
    """``im`` in RGB, resized (bicubic, aspect not kept) to ``size`` x ``size`` or to (width, height) unless
    it has that size already, as uint8 [3, H, W]: the cache's preprocessing, also applied to images scored
    outside a cache (:mod:`gmc.integrations.pyiqa_arch`)."""
    width, height = _width_height(size)
    im = im.convert("RGB")
    if im.size != (width, height):
        im = im.resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).copy()


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sidecar(npy: str | Path) -> Path:
    return Path(npy).with_suffix(".json")


def build_cache(
    manifest_csv: str | Path, size: int | tuple[int, int], out_npy: str | Path, *, threads: int = 1
) -> None:
    """Decode every manifest image (and reference image, for FR sets, into ``<name>.ref.npy``); the
    sidecar is removed first and written last (module docstring)."""
    manifest = read_manifest(manifest_csv)
    sidecar(out_npy).unlink(missing_ok=True)
    columns = {"path": Path(out_npy)}
    if (manifest["reference_path"] != "").any():
        columns["reference_path"] = Path(out_npy).with_suffix(".ref.npy")
    for column, target in columns.items():
        paths = manifest[column].tolist()
        with atomic_path(target) as tmp:
            width, height = _width_height(size)
            arr = np.lib.format.open_memmap(
                tmp, mode="w+", dtype=np.uint8, shape=(len(paths), 3, height, width)
            )
            with ThreadPoolExecutor(max(1, threads)) as pool:
                for i, img in enumerate(pool.map(lambda p: load_image(p, size), paths)):
                    arr[i] = img
            arr.flush()
            del arr
    write_json(
        sidecar(out_npy),
        {
            "size": size if isinstance(size, int) else list(size),
            "images": manifest["image"].tolist(),
            "manifest_sha256": file_sha256(manifest_csv),
        },
    )


def load_cache(npy: str | Path, manifest_csv: str | Path, *, reference: bool = False) -> np.ndarray:
    """Memory-map a cache and check that it is complete (its sidecar exists), was built from this
    manifest and has the shape the sidecar describes; otherwise an :class:`InputFileError` names the
    files and says to rebuild it."""
    meta_path = sidecar(npy)
    rebuild = f"delete {npy} and rerun the workflow (or `python -m gmc cache`) to rebuild it"
    if not meta_path.is_file():
        raise InputFileError(
            f"cache {npy} has no sidecar {meta_path}: its build did not finish (or the files were copied "
            f"without it), so it cannot be trusted; {rebuild}"
        )
    meta = json.loads(meta_path.read_text())
    if meta["manifest_sha256"] != file_sha256(manifest_csv):
        raise InputFileError(f"cache {npy} was built from another version of {manifest_csv}; {rebuild}")
    path = Path(npy).with_suffix(".ref.npy") if reference else Path(npy)
    arr = np.load(path, mmap_mode="r")
    width, height = _width_height(meta["size"])
    expected = (len(meta["images"]), 3, height, width)
    if arr.shape != expected:
        raise InputFileError(
            f"cache {path} has shape {arr.shape}, its sidecar {meta_path} describes {expected}; {rebuild}"
        )
    return arr
