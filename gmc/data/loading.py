"""In-memory training data: the cached uint8 images (or, for a head-only run, the cached frozen-backbone
features) and normalised MOS of one part of one split."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gmc.data.cache import load_cache
from gmc.data.manifest import read_manifest
from gmc.data.splits import checked_split, read_split  # noqa: F401  (moved there: light, no torch)

PARTS = ("train", "val", "test")


#: a part larger than this share of the machine's memory stays memory-mapped (:class:`MappedImages`)
IN_MEMORY_SHARE = 0.25


class MappedImages:
    """The rows ``index`` of a memory-mapped uint8 cache ``[N, 3, H, W]``, read on demand: indexing with a
    tensor, array or slice of positions returns those images as a tensor, so a training step reads only
    its batch from disk (the page cache keeps what fits). Used for parts too large to copy into memory
    (:func:`load_image_set`); it gives the same values as the in-memory copy."""

    def __init__(self, array: np.ndarray, index: np.ndarray) -> None:
        self.array, self.index = array, np.asarray(index)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *self.array.shape[1:])

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, torch.Tensor):
            key = key.numpy()
        return torch.from_numpy(np.ascontiguousarray(self.array[self.index[key]]))


def _memory_bytes() -> int:
    """Physical memory of this machine in bytes (0 where the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _rows(array: np.ndarray, index: np.ndarray) -> torch.Tensor | MappedImages:
    """``array[index]`` copied into memory, or kept memory-mapped when it would take more than
    :data:`IN_MEMORY_SHARE` of the machine's memory."""
    nbytes = len(index) * int(np.prod(array.shape[1:])) * array.itemsize
    memory = _memory_bytes()
    if memory and nbytes > IN_MEMORY_SHARE * memory:
        return MappedImages(array, index)
    return torch.from_numpy(np.ascontiguousarray(array[index]))


@dataclass
class ImageSet:
    """``images``: uint8 [N, 3, H, W] on the CPU (a tensor, or :class:`MappedImages` for a part too large
    for memory); ``mos``: float32 [N] in [0, 1]; ``names``: image keys."""

    images: torch.Tensor | MappedImages
    mos: torch.Tensor
    names: list[str]
    references: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.names)


def _part_index(manifest, manifest_csv, split_csv, split, part) -> np.ndarray:
    """Manifest positions of one split part (every row when ``part`` is None), manifest order."""
    if part is None:
        return np.arange(len(manifest))
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    rows = checked_split(split_csv, split, manifest, manifest_csv)
    wanted = set(rows.loc[rows["part"] == part, "image"])
    return np.flatnonzero(manifest["image"].isin(wanted).to_numpy())


def load_image_set(
    manifest_csv: str | Path,
    cache_npy: str | Path,
    *,
    split_csv: str | Path | None = None,
    split: int | None = None,
    part: str | None = None,
) -> ImageSet:
    """Images of one split part (or of the whole dataset when ``part`` is None), manifest order."""
    manifest = read_manifest(manifest_csv)
    cache = load_cache(cache_npy, manifest_csv)
    index = _part_index(manifest, manifest_csv, split_csv, split, part)
    refs = None
    if (manifest["reference_path"] != "").any():
        refs = _rows(load_cache(cache_npy, manifest_csv, reference=True), index)
    return _part_set(manifest, index, _rows(cache, index), refs)


def _part_set(manifest, index: np.ndarray, rows, references=None) -> ImageSet:
    """The :class:`ImageSet` of the manifest rows ``index``: ``rows`` (images or features), MOS, names."""
    return ImageSet(
        images=rows,
        mos=torch.tensor(manifest["mos"].to_numpy()[index], dtype=torch.float32),
        names=manifest["image"].iloc[index].tolist(),
        references=references,
    )


def load_feature_set(
    manifest_csv: str | Path,
    features_npy: str | Path,
    spec,
    *,
    split_csv: str | Path | None = None,
    split: int | None = None,
    part: str | None = None,
) -> ImageSet:
    """Cached frozen-backbone features (:mod:`gmc.features`, checked against ``spec`` and the manifest)
    of one split part, as an :class:`ImageSet` whose ``images`` are the float32 rows ``[N, D]``."""
    from gmc.features import load_feature_cache

    manifest = read_manifest(manifest_csv)
    features = load_feature_cache(features_npy, spec, manifest_csv=manifest_csv)
    index = _part_index(manifest, manifest_csv, split_csv, split, part)
    return _part_set(manifest, index, _rows(features, index))


def load_run_part(
    run_config: dict,
    manifest_csv: str | Path,
    cache_npy: str | Path,
    *,
    split_csv: str | Path | None = None,
    split: int | None = None,
    part: str | None = None,
) -> ImageSet:
    """What a run trains or predicts on: the cached features of its frozen backbone when its model reads
    them (:func:`gmc.features.network_feature_spec`; ``cache_npy`` is then a feature cache), else images."""
    from gmc.features import network_feature_spec

    spec = network_feature_spec(run_config["arch"], run_config["model_options"], run_config["input_size"])
    kwargs = {"split_csv": split_csv, "split": split, "part": part}
    if spec is None:
        return load_image_set(manifest_csv, cache_npy, **kwargs)
    return load_feature_set(manifest_csv, cache_npy, spec, **kwargs)
