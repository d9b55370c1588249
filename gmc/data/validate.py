"""Validation of a parsed label table against its dataset spec, before anything trains on it.

:func:`validate_labels` checks: the standard columns, the expected image count, no missing or NaN
scores, no duplicate image names, raw scores within the spec's range, and that every listed image (and
reference, for FR sets) exists and decodes (PIL open + load, so a truncated file fails). Problems are
reported by name. Missing or undecodable images can be dropped instead (``drop_bad_images=True``): the
rows go, and the report lists them. Everything else is an error (:class:`DatasetValidationError`).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFile

from gmc.data.datasets import LABEL_COLUMNS, DatasetSpec

#: relative tolerance on the score range (float noise in published files)
RANGE_TOLERANCE = 1e-6
_SHOW = 10  # names listed per problem in the error message


class DatasetValidationError(ValueError):
    """The parsed dataset failed validation; ``.report`` holds the details."""

    def __init__(self, message: str, report: dict) -> None:
        super().__init__(message)
        self.report = report


def check_image(path: str | Path, *, fast: bool = True) -> str | None:
    """None when the image at ``path`` opens and decodes, else the reason. ``fast`` decodes JPEGs at a
    reduced scale (every entropy-coded block is still read, so truncation and corruption show)."""
    path = Path(path)
    if not path.is_file():
        return "missing" if not path.exists() else "not a file"
    try:
        with Image.open(path) as im:
            if fast and im.format == "JPEG":
                im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except Exception as err:  # noqa: BLE001  (PIL raises OSError, SyntaxError, ValueError, DecompressionBomb...)
        return f"{type(err).__name__}: {err}"
    return None


def _names(items, n: int = _SHOW) -> str:
    items = list(items)
    more = f" ... (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(str(i) for i in items[:n]) + more


def validate_labels(
    spec: DatasetSpec,
    root: str | Path,
    table: pd.DataFrame,
    *,
    drop_bad_images: bool = False,
    check_images: bool = True,
    workers: int | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Validate ``table`` (:data:`LABEL_COLUMNS`, paths relative to ``root``) against ``spec``.

    Returns ``(table, report)``: the table (bad image rows removed when ``drop_bad_images``) and a JSON-able
    report (counts, score range, missing/undecodable/dropped images by name). Raises
    :class:`DatasetValidationError` listing every problem by name otherwise. ``check_images=False``
    skips the decode check (existence is still checked); ``workers``: decode threads."""
    t0 = time.perf_counter()
    root = Path(root)
    missing_cols = [c for c in LABEL_COLUMNS if c not in table.columns]
    if missing_cols:
        raise DatasetValidationError(
            f"{spec.key}: the parser returned no column(s) {missing_cols}; got {list(table.columns)}",
            {"key": spec.key, "ok": False},
        )
    table = table[LABEL_COLUMNS].reset_index(drop=True).copy()
    table["image"] = table["image"].astype(str)
    table["reference"] = table["reference"].fillna("").astype(str)
    table["content"] = table["content"].fillna("").astype(str)
    lo, hi = spec.score_range
    problems: list[str] = []
    report: dict = {
        "key": spec.key,
        "root": root.as_posix(),
        "n_rows": int(len(table)),
        "expected_count": spec.expected_count,
        "score_range": [float(lo), float(hi)],
        "higher_better": bool(spec.higher_better),
    }

    if spec.expected_count is not None and len(table) != spec.expected_count:
        problems.append(
            f"expected {spec.expected_count} images, the labels list {len(table)} (set datasets.{spec.key}."
            "expected_count if your copy legitimately differs)"
        )
    empty = table["image"].str.strip().isin(["", "nan", "None"])
    if empty.any():
        problems.append(
            f"{int(empty.sum())} row(s) without an image name (rows {_names(np.flatnonzero(empty))})"
        )
    mos = pd.to_numeric(table["mos_raw"], errors="coerce").astype(float)
    table["mos_raw"] = mos
    table["std_raw"] = pd.to_numeric(table["std_raw"], errors="coerce").astype(float)
    nan = ~np.isfinite(mos.to_numpy())
    if nan.any():
        problems.append(
            f"{int(nan.sum())} image(s) without a finite score: {_names(table.loc[nan, 'image'])}"
        )
    dup = table["image"].duplicated(keep=False)
    if dup.any():
        problems.append(f"duplicate image names: {_names(sorted(set(table.loc[dup, 'image'])))}")
    tol = RANGE_TOLERANCE * max(1.0, abs(hi - lo))
    out = (~nan) & ((mos < lo - tol) | (mos > hi + tol)).to_numpy()
    if out.any():
        bad = [f"{n} ({v:g})" for n, v in zip(table.loc[out, "image"], mos[out], strict=True)]
        problems.append(f"{int(out.sum())} score(s) outside the range [{lo:g}, {hi:g}]: {_names(bad)}")
    neg_std = (table["std_raw"] < 0).to_numpy()
    if neg_std.any():
        problems.append(f"negative std for: {_names(table.loc[neg_std, 'image'])}")
    finite = mos[~nan]
    report["score_min"] = float(finite.min()) if len(finite) else None
    report["score_max"] = float(finite.max()) if len(finite) else None

    # files: every image and reference must exist and decode
    paths = sorted(set(table.loc[~empty, "image"]) | (set(table["reference"]) - {""}))
    saved = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file must fail, whatever another module set
    try:
        if check_images:
            n_workers = workers or min(8, os.cpu_count() or 1)
            with ThreadPoolExecutor(max_workers=n_workers) as pool:
                results = list(pool.map(lambda p: check_image(root / p), paths))
        else:
            results = [None if (root / p).is_file() else "missing" for p in paths]
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved
    bad_files = {p: r for p, r in zip(paths, results, strict=True) if r is not None}
    report["n_files_checked"] = len(paths)
    report["decode_checked"] = bool(check_images)
    report["missing"] = sorted(p for p, r in bad_files.items() if r == "missing")
    report["undecodable"] = [{"image": p, "error": r} for p, r in sorted(bad_files.items()) if r != "missing"]
    bad_rows = table["image"].isin(bad_files) | table["reference"].isin(bad_files)
    report["dropped"] = []
    if bad_files:
        detail = [f"{p} ({r})" for p, r in sorted(bad_files.items())]
        if drop_bad_images:
            report["dropped"] = sorted(table.loc[bad_rows, "image"])
            table = table[~bad_rows].reset_index(drop=True)
        else:
            problems.append(
                f"{len(bad_files)} image file(s) missing or unreadable under {root}: {_names(detail)} "
                "(re-fetch the dataset, or pass drop_bad_images / --drop-bad-images to drop them)"
            )
    report["n_valid"] = int(len(table))
    report["problems"] = problems
    report["ok"] = not problems
    report["seconds"] = round(time.perf_counter() - t0, 3)
    if problems:
        raise DatasetValidationError(
            f"dataset {spec.key!r} under {root} failed validation:\n  - " + "\n  - ".join(problems), report
        )
    return table, report
