"""Validation of a parsed label table against its dataset spec, before anything trains on it.

:func:`validate_labels` checks: the standard columns, at least one row, the expected image count, no
missing or NaN scores, raw scores within the spec's range, that every image and reference path stays
inside the dataset root, that no image is listed twice, and that every listed image (and reference, for
FR sets) exists and decodes (PIL open + load, so a truncated file fails).

Paths: every image and reference path is normalised (:func:`gmc.data.paths.label_path`: ``/``
separators, no ``.``, ``dir/..`` collapsed); an absolute path, a ``..`` that leaves the root and a path
that resolves through a link to a file outside the root are errors naming the labels file and row. The
normalised path is the image's identity: ``./img1.jpg`` and ``img1.jpg`` are one image listed twice, an
error naming both rows (two scores for one image, and a leak when the two land in train and test).

Byte-identical images under different names are reported as a warning (``duplicate_content`` in the
report, and the log), not an error: real datasets contain exact duplicates (the same photo published
twice, a distortion that left the image unchanged), and dropping one would change a published set. Their
sha256 is computed in the pass that reads and decodes each file anyway.

Problems are reported by name. Missing or undecodable images can be dropped instead
(``drop_bad_images=True``; config ``datasets.<key>.drop_bad_images: true``): the rows go, the report lists
them under ``dropped`` and the log says how many. Everything else is an error
(:class:`DatasetValidationError`).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFile

from gmc.data.datasets import LABEL_COLUMNS, LABEL_LINES, LABELS_FILE, DatasetSpec
from gmc.data.paths import LabelPathError, label_path, outside_root
from gmc.errors import InputFileError

log = logging.getLogger(__name__)

#: relative tolerance on the score range (float noise in published files)
RANGE_TOLERANCE = 1e-6
_SHOW = 10  # names listed per problem in the error message


class DatasetValidationError(InputFileError):
    """The parsed dataset failed validation; ``.report`` holds the details."""

    def __init__(self, message: str, report: dict) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class ImageCheck:
    """What reading one image file found: ``error`` (None when it decodes) and the sha256 of its bytes
    (None when it could not be read)."""

    error: str | None
    sha256: str | None


def inspect_image(path: str | Path, *, fast: bool = True) -> ImageCheck:
    """Read the file at ``path`` once: hash its bytes and decode them. ``fast`` decodes JPEGs at a
    reduced scale (every entropy-coded block is still read, so truncation and corruption show)."""
    path = Path(path)
    if not path.is_file():
        return ImageCheck("missing" if not path.exists() else "not a file", None)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as im:
            if fast and im.format == "JPEG":
                im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except Exception as err:  # noqa: BLE001  (PIL raises OSError, SyntaxError, ValueError, DecompressionBomb...)
        return ImageCheck(f"{type(err).__name__}: {err}", digest)
    return ImageCheck(None, digest)


def check_image(path: str | Path, *, fast: bool = True) -> str | None:
    """None when the image at ``path`` opens and decodes, else the reason (see :func:`inspect_image`)."""
    return inspect_image(path, fast=fast).error


@dataclass(frozen=True)
class _Rows:
    """Names rows of a parsed label table in messages: the labels file and each row's line when the
    parser recorded them (:func:`gmc.data.datasets.with_labels_source`), else the row number."""

    source: str
    lines: list[int] | None

    @classmethod
    def of(cls, table: pd.DataFrame, key: str) -> _Rows:
        lines = table.attrs.get(LABEL_LINES)
        return cls(
            source=table.attrs.get(LABELS_FILE) or f"the labels of dataset {key!r}",
            lines=lines if lines is not None and len(lines) == len(table) else None,
        )

    def where(self, i: int) -> str:
        return f"line {self.lines[i]}" if self.lines is not None else f"row {i + 1}"


def _names(items, n: int = _SHOW) -> str:
    items = list(items)
    more = f" ... (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(str(i) for i in items[:n]) + more


def _check_path(raw: str, root_real: str) -> tuple[str, str | None]:
    """``(normalised path, None)`` for a path that stays inside the root (``root_real``: its real path),
    ``(raw, reason)`` for one that is absolute, climbs out with ``..`` or leads out through a link."""
    try:
        rel = label_path(raw)
    except LabelPathError as err:
        return raw, str(err)
    real = outside_root(root_real, rel) if rel else None
    if real is not None:
        return raw, f"{raw!r} leads outside the root, to {real} (through a link)"
    return rel, None


def _normalise_paths(
    table: pd.DataFrame, root: Path, rows: _Rows
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Normalise the ``image`` and ``reference`` paths (:func:`_check_path`) and the ``content`` groups
    that repeat them. Returns the table, a mask of the unsafe rows and one message per unsafe path
    (naming its row); unsafe rows keep their raw paths."""
    root_real = os.path.realpath(root)
    unsafe: list[str] = []
    mask = np.zeros(len(table), dtype=bool)
    out = table.copy()
    for column in ("image", "reference"):
        verdicts = {raw: _check_path(raw, root_real) for raw in set(table[column])}
        normal = []
        for i, raw in enumerate(table[column]):
            rel, reason = verdicts[raw]
            if reason is not None:
                unsafe.append(f"{rows.where(i)}: {reason}")
                mask[i] = True
            normal.append(rel)
        out[column] = pd.Series(normal, index=table.index, dtype=str)
    for column in ("image", "reference"):
        repeats = (table["content"] == table[column]) & (table[column] != "")
        out.loc[repeats, "content"] = out.loc[repeats, column]
    return out, mask, unsafe


def _duplicate_names(table: pd.DataFrame, raw: pd.Series, rows: _Rows, usable: np.ndarray) -> list[str]:
    """One entry per image listed more than once (by normalised path) among the ``usable`` rows, naming
    every row that lists it and, where it differs, the spelling used there."""
    names = table["image"].where(usable)
    dup = names.duplicated(keep=False) & usable
    entries = []
    for name, idx in sorted(table.index[dup].groupby(names[dup]).items()):
        spots = [rows.where(i) + ("" if raw[i] == name else f" as {raw[i]!r}") for i in idx]
        entries.append(f"{name} ({', '.join(spots)})")
    return entries


def _same_content(images: list[str], checks: dict[str, ImageCheck]) -> list[dict]:
    """Groups of listed images whose files have identical bytes (sha256), each sorted, in name order."""
    by_hash: dict[str, list[str]] = {}
    for name in images:
        digest = checks[name].sha256 if name in checks else None
        if digest is not None:
            by_hash.setdefault(digest, []).append(name)
    groups = [{"sha256": h, "images": sorted(n)} for h, n in by_hash.items() if len(n) > 1]
    return sorted(groups, key=lambda g: g["images"])


def _read_files(
    root: Path, paths: list[str], check_images: bool, workers: int | None
) -> dict[str, ImageCheck]:
    """Every path's :class:`ImageCheck` (decode and hash in ``workers`` threads), or, without
    ``check_images``, existence only."""
    if not check_images:
        return {p: ImageCheck(None if (root / p).is_file() else "missing", None) for p in paths}
    saved = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file must fail, whatever another module set
    try:
        with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
            return dict(zip(paths, pool.map(lambda p: inspect_image(root / p), paths), strict=True))
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved


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

    Returns ``(table, report)``: the table with normalised paths (bad image rows removed when
    ``drop_bad_images``) and a JSON-able report (counts, score range, missing/undecodable/dropped images
    by name, byte-identical images). Raises :class:`DatasetValidationError` listing every problem by name
    otherwise; a path leading outside ``root`` is never read. ``check_images=False`` skips the decode
    check and the content hashes (existence is still checked); ``workers``: decode threads."""
    t0 = time.perf_counter()
    root = Path(root)
    rows = _Rows.of(table, spec.key)
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
    raw_images = table["image"].copy()
    table, unsafe_rows, unsafe = _normalise_paths(table, root, rows)
    lo, hi = spec.score_range
    problems: list[str] = []
    report: dict = {
        "key": spec.key,
        "root": root.as_posix(),
        "labels": rows.source,
        "n_rows": int(len(table)),
        "expected_count": spec.expected_count,
        "score_range": [float(lo), float(hi)],
        "higher_better": bool(spec.higher_better),
        "unsafe_paths": unsafe,
    }

    if unsafe:
        problems.append(
            f"{len(unsafe)} image path(s) in {rows.source} that are absolute or lead outside the dataset "
            f"root {root}: {_names(unsafe)} (list each image by its path relative to the root, without "
            "'..' and not through a link that leaves the root; these files were not read)"
        )
    if table.empty:
        problems.append(f"{rows.source} lists no images (a header without rows?); add one row per image")
    if spec.expected_count is not None and len(table) != spec.expected_count:
        problems.append(
            f"expected {spec.expected_count} images, the labels list {len(table)} (set datasets.{spec.key}."
            "expected_count if your copy legitimately differs)"
        )
    empty = table["image"].str.strip().isin(["", "nan", "None"])
    if empty.any():
        where = _names(rows.where(i) for i in np.flatnonzero(empty))
        problems.append(f"{int(empty.sum())} row(s) without an image name ({where})")
    mos = pd.to_numeric(table["mos_raw"], errors="coerce").astype(float)
    table["mos_raw"] = mos
    table["std_raw"] = pd.to_numeric(table["std_raw"], errors="coerce").astype(float)
    nan = ~np.isfinite(mos.to_numpy())
    if nan.any():
        problems.append(
            f"{int(nan.sum())} image(s) without a finite score: {_names(table.loc[nan, 'image'])}"
        )
    usable = ~unsafe_rows & ~empty.to_numpy()
    duplicates = _duplicate_names(table, raw_images, rows, usable)
    if duplicates:
        problems.append(
            f"duplicate image names: {_names(duplicates)} (an image is identified by its path relative to "
            f"the root, './a.jpg' and 'a.jpg' are one image; list each image once in {rows.source})"
        )
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
    # files: every image and reference of a usable row must exist and decode; unsafe paths are never read
    images = sorted(set(table.loc[usable, "image"]))
    paths = sorted(set(images) | (set(table.loc[~unsafe_rows, "reference"]) - {""}))
    checks = _read_files(root, paths, check_images, workers)
    bad_files = {p: c.error for p, c in checks.items() if c.error is not None}
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
            log.warning(
                "%s: dropped %d row(s) whose image file is missing or unreadable (drop_bad_images): %s",
                spec.key,
                len(report["dropped"]),
                _names(detail),
            )
        else:
            problems.append(
                f"{len(bad_files)} image file(s) missing or unreadable under {root}: {_names(detail)} "
                f"(re-fetch the dataset, or set datasets.{spec.key}.drop_bad_images: true in the config to "
                "drop their rows, listed in the validation report; by hand: 'python -m gmc manifest "
                "--drop-bad-images')"
            )
    if table.empty and report["dropped"]:
        problems.append(
            f"every listed image was dropped as missing or unreadable under {root}; check the dataset root"
        )
    report["duplicate_content"] = _same_content(sorted(set(table["image"])), checks)
    if report["duplicate_content"]:
        log.warning(
            "%s: %d group(s) of byte-identical images under different names: %s; each counts as a "
            "different image and can land in another part of a split (listed under duplicate_content in "
            "the validation report)",
            spec.key,
            len(report["duplicate_content"]),
            _names(" = ".join(g["images"]) for g in report["duplicate_content"]),
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
