"""Manifests: one validated CSV per dataset, the only place later steps learn about its images.

Columns (:data:`MANIFEST_COLUMNS`): ``image`` (name relative to the dataset root; the key used by
splits and predictions), ``path`` (file path as seen from the workflow directory), ``reference_path``
(FR sets; else empty), ``content`` (group kept within one split part), ``mos_raw`` and ``std_raw`` (as
published), ``mos`` (normalised to [0, 1], higher = better, with the dataset's fixed range).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gmc.data.datasets import DatasetSpec, normalise_scores

MANIFEST_COLUMNS = ["image", "path", "reference_path", "content", "mos_raw", "std_raw", "mos"]


def build_manifest(
    spec: DatasetSpec, root: Path, *, drop_bad_images: bool = False
) -> tuple[pd.DataFrame, dict]:
    """Parse the labels under ``root``, validate them (count, range, NaN, duplicates, every image
    decodes) and return ``(manifest, validation_report)``, rows sorted by image name."""
    from gmc.data.validate import validate_labels

    root = Path(root)
    table = spec.parse(root)
    table, report = validate_labels(spec, root, table, drop_bad_images=drop_bad_images)
    table = table.sort_values("image", kind="stable").reset_index(drop=True)
    refs = table["reference"].fillna("").astype(str)
    manifest = pd.DataFrame(
        {
            "image": table["image"].astype(str),
            "path": [(root / name).as_posix() for name in table["image"]],
            "reference_path": [(root / r).as_posix() if r else "" for r in refs],
            "content": table["content"].astype(str),
            "mos_raw": table["mos_raw"].astype(float),
            "std_raw": table["std_raw"].astype(float),
            "mos": normalise_scores(table["mos_raw"], spec.score_range, spec.higher_better),
        }
    )
    return manifest, report


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest and check its columns and normalised scores."""
    text = dict.fromkeys(("image", "path", "reference_path", "content"), str)  # "000" stays "000"
    manifest = pd.read_csv(
        path, dtype=text, keep_default_na=False, na_values={"std_raw": [""], "mos_raw": [""]}
    )
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise ValueError(f"{path}: not a manifest, missing columns {missing}; rebuild it with 'gmc manifest'")
    mos = manifest["mos"].to_numpy(float)
    if not np.all(np.isfinite(mos)) or mos.min() < -1e-9 or mos.max() > 1 + 1e-9:
        raise ValueError(f"{path}: normalised 'mos' must lie in [0, 1]; rebuild the manifest")
    manifest["image"] = manifest["image"].astype(str)
    return manifest
