"""In-memory training data: the cached uint8 images and normalised MOS of one part of one split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from gmc.data.cache import load_cache
from gmc.data.manifest import read_manifest
from gmc.data.splits import check_splits

PARTS = ("train", "val", "test")


@dataclass
class ImageSet:
    """``images``: uint8 [N, 3, S, S] (CPU); ``mos``: float32 [N] in [0, 1]; ``names``: image keys."""

    images: torch.Tensor
    mos: torch.Tensor
    names: list[str]
    references: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.names)


def read_split(split_csv: str | Path, split: int) -> pd.DataFrame:
    """Rows ``image, split, part`` of split ``split`` from a split file (columns image, split, part)."""
    table = pd.read_csv(split_csv, dtype={"image": str})
    missing = {"image", "split", "part"} - set(table.columns)
    if missing:
        raise ValueError(f"{split_csv}: not a split file (missing columns {sorted(missing)})")
    rows = table[table["split"] == split]
    if rows.empty:
        raise ValueError(f"{split_csv} has no split {split}; it has splits {sorted(table['split'].unique())}")
    return rows[["image", "split", "part"]]


def checked_split(split_csv: str | Path, split: int, manifest: pd.DataFrame, manifest_csv) -> pd.DataFrame:
    """Split ``split`` of ``split_csv``, checked against the manifest: every manifest image in exactly one
    part, no image the manifest lacks (:func:`gmc.data.splits.check_splits`). A split file that omits
    images would silently shrink the training or test part; it is an error instead."""
    rows = read_split(split_csv, split)
    try:
        check_splits(rows, manifest, group_by="image")
    except ValueError as err:
        raise ValueError(
            f"{split_csv} does not match {manifest_csv}: {err}; the split file is stale or was edited: "
            "delete it and rerun (the workflow writes it again from the manifest)"
        ) from None
    return rows


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
    mask = np.ones(len(manifest), dtype=bool)
    if part is not None:
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, got {part!r}")
        rows = checked_split(split_csv, split, manifest, manifest_csv)
        wanted = set(rows.loc[rows["part"] == part, "image"])
        mask = manifest["image"].isin(wanted).to_numpy()
    index = np.flatnonzero(mask)
    refs = None
    if (manifest["reference_path"] != "").any():
        refs = torch.from_numpy(
            np.ascontiguousarray(load_cache(cache_npy, manifest_csv, reference=True)[index])
        )
    return ImageSet(
        images=torch.from_numpy(np.ascontiguousarray(cache[index])),
        mos=torch.tensor(manifest["mos"].to_numpy()[index], dtype=torch.float32),
        names=manifest["image"].iloc[index].tolist(),
        references=refs,
    )
