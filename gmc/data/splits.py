"""Train/val/test splits, keyed by image name, seeded and reproducible.

:func:`make_splits` draws ``n_splits`` random splits: the groups (images, or content groups such as the
reference image of a synthetic set) are sorted, then permuted by a numpy Generator seeded from
``SeedSequence([seed, split_index])``; the first ``test_fraction`` of the groups go to test, then
``val_fraction`` of the remaining (training) groups go to val, the rest to train. The result does not
depend on the input row order, and no group ever straddles two parts of one split.

:func:`official_splits` returns a dataset's published split (KonIQ-10k, BIQ2021) as split 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gmc.data.paths import label_path

SPLIT_COLUMNS = ["image", "split", "part"]
PARTS = ("train", "val", "test")


def _round(x: float) -> int:
    return int(np.floor(x + 0.5))


def split_sizes(n_groups: int, test_fraction: float, val_fraction: float) -> tuple[int, int, int]:
    """(train, val, test) group counts: at least one test group when ``test_fraction`` > 0, at least
    one val group when ``val_fraction`` > 0 and there are two or more training groups, and always at
    least one train group."""
    if not 0.0 <= test_fraction < 1.0 or not 0.0 <= val_fraction < 1.0:
        raise ValueError(
            f"test_fraction ({test_fraction}) and val_fraction ({val_fraction}) must lie in [0, 1)"
        )
    need = 1 + (test_fraction > 0)
    if n_groups < need:
        raise ValueError(f"cannot split {n_groups} group(s) into train and test; need at least {need}")
    n_test = min(max(_round(test_fraction * n_groups), 1 if test_fraction > 0 else 0), n_groups - 1)
    rest = n_groups - n_test
    n_val = _round(val_fraction * rest)
    if val_fraction > 0 and rest >= 2:
        n_val = max(n_val, 1)
    n_val = min(n_val, rest - 1)
    return rest - n_val, n_val, n_test


def _groups(table: pd.DataFrame, group_by: str) -> tuple[pd.Series, pd.Series]:
    if group_by not in ("image", "content", "reference"):
        raise ValueError(f"group_by must be 'image' or 'content' (alias 'reference'), not {group_by!r}")
    if "image" not in table.columns:
        raise ValueError(f"the table has no 'image' column; columns: {list(table.columns)}")
    images = table["image"].astype(str)
    dup = images[images.duplicated()]
    if len(dup):
        raise ValueError(f"duplicate image names, cannot split by name: {sorted(set(dup))[:10]}")
    if group_by == "image":
        return images, images
    if "content" not in table.columns:
        raise ValueError("group_by='content' needs a 'content' column (the reference for synthetic sets)")
    content = table["content"].fillna("").astype(str)
    return images, content.where(content != "", images)


def make_splits(
    table: pd.DataFrame,
    *,
    n_splits: int,
    test_fraction: float = 0.2,
    val_fraction: float = 0.1,
    seed: int,
    group_by: str = "image",
) -> pd.DataFrame:
    """``n_splits`` seeded random splits of ``table`` (needs ``image``; ``content`` for
    ``group_by='content'``). Returns DataFrame[image, split, part] sorted by (split, image), with part in
    train/val/test. ``val_fraction`` is a fraction of the training part."""
    if n_splits < 1:
        raise ValueError(f"n_splits must be >= 1, not {n_splits}")
    images, groups = _groups(table, group_by)
    order = np.array(sorted(set(groups)), dtype=object)
    n_train, n_val, n_test = split_sizes(len(order), test_fraction, val_fraction)
    frames = []
    for k in range(n_splits):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), k]))
        perm = order[rng.permutation(len(order))]
        part_of = dict.fromkeys(perm[:n_test], "test")
        part_of.update(dict.fromkeys(perm[n_test : n_test + n_val], "val"))
        part_of.update(dict.fromkeys(perm[n_test + n_val :], "train"))
        frames.append(
            pd.DataFrame({"image": images.to_numpy(), "split": k, "part": groups.map(part_of).to_numpy()})
        )
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["split", "image"], kind="stable").reset_index(drop=True)[SPLIT_COLUMNS]


def check_splits(splits: pd.DataFrame, table: pd.DataFrame, *, group_by: str = "image") -> dict:
    """Check ``splits`` against ``table``: every image once per split, known parts, and no group in two
    parts of one split. Returns per-split part sizes; raises ValueError naming the leaking groups."""
    missing = [c for c in SPLIT_COLUMNS if c not in splits.columns]
    if missing:
        raise ValueError(f"splits lack column(s) {missing}")
    bad = sorted(set(splits["part"]) - set(PARTS))
    if bad:
        raise ValueError(f"unknown part(s) {bad}; expected {list(PARTS)}")
    images, groups = _groups(table, group_by)
    group_of = dict(zip(images, groups, strict=True))
    sizes = {}
    for k, s in splits.groupby("split"):
        names = s["image"].astype(str)
        if names.duplicated().any():
            raise ValueError(f"split {k}: images listed twice: {sorted(set(names[names.duplicated()]))[:10]}")
        unknown = sorted(set(names) - set(group_of))
        if unknown:
            raise ValueError(f"split {k}: images not in the table: {unknown[:10]}")
        absent = sorted(set(group_of) - set(names))
        if absent:
            raise ValueError(f"split {k}: images of the table not assigned: {absent[:10]}")
        parts_per_group = (
            pd.Series(s["part"].to_numpy(), index=names.map(group_of)).groupby(level=0).nunique()
        )
        leaking = sorted(parts_per_group[parts_per_group > 1].index)
        if leaking:
            raise ValueError(f"split {k}: group(s) in more than one part (leakage): {leaking[:10]}")
        sizes[int(k)] = {p: int((s["part"] == p).sum()) for p in PARTS}
    return sizes


def official_splits(
    key: str,
    root: str | Path,
    *,
    options: dict | None = None,
    seed: int = 0,
    val_fraction: float = 0.1,
) -> pd.DataFrame:
    """The published split of dataset ``key`` (config ``options`` as for ``build_dataset_spec``) read from
    its files under ``root``: DataFrame[image, split (0), part]. Image names are the parser's, normalised as
    the manifest's are (:func:`gmc.data.paths.label_path`).
    KonIQ-10k: training/validation/test from ``koniq10k_distributions_sets.csv``; BIQ2021: train/test CSVs
    with val carved from train (``val_fraction``, ``seed``)."""
    import inspect

    from gmc.data.datasets import build_dataset_spec

    spec = build_dataset_spec(key, options or {})
    if spec.official_splits is None:
        raise ValueError(
            f"dataset {key!r} has no official split ({spec.split_policy or 'random splits only'}); "
            "use the 'random' protocol"
        )
    fn = spec.official_splits
    params = inspect.signature(fn).parameters
    kwargs = {k: v for k, v in (("seed", seed), ("val_fraction", val_fraction)) if k in params}
    out = fn(Path(root), **kwargs)
    out["image"] = out["image"].map(label_path)  # the names the manifest uses (validate_labels)
    out = out[SPLIT_COLUMNS].sort_values(["split", "image"], kind="stable").reset_index(drop=True)
    return out


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
