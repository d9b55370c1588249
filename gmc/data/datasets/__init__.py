"""Dataset catalogue: one :class:`DatasetSpec` per dataset key, looked up by name.

A spec says how to turn a dataset's extracted folder into a standard label table
(:data:`LABEL_COLUMNS`) and what to expect of it (count, raw score range and direction, NR/FR, split
policy). Real datasets (LIVEC, KonIQ-10k, ...) are registered in :mod:`gmc.data.datasets.catalog`; a
user's own data uses the generic ``csv`` type (:func:`csv_spec`), which is also how the synthetic demo
datasets are read.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from csv import Error as CSVError
from csv import reader as csv_reader
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gmc.errors import ConfigError, InputFileError
from gmc.registry import Registry, UnknownNameError

#: Columns every label parser returns. ``image``: path relative to the dataset root (unique);
#: ``reference``: reference image path relative to the root for FR sets, else ""; ``content``: the group
#: that must not straddle train and test (the reference for synthetic sets, the image itself for
#: authentic sets); ``mos_raw``/``std_raw``: the scores as published (std NaN when unknown).
LABEL_COLUMNS = ["image", "reference", "content", "mos_raw", "std_raw"]


@dataclass(frozen=True)
class RemoteFile:
    """One file of a download: an archive (zip/tar/tgz/rar, extracted) or a plain file (``kind="file"``,
    copied to ``target`` inside the extracted tree). ``sha256`` pins the content where known."""

    url: str
    name: str = ""  # local file name; default: the last component of the URL path
    sha256: str | None = None
    kind: str = "auto"  # auto (from the name) | zip | tar | tgz | tbz2 | txz | rar | file
    target: str = ""  # plain files: path relative to the extracted tree (default: the name)

    @property
    def filename(self) -> str:
        from urllib.parse import unquote, urlparse

        return self.name or unquote(urlparse(self.url).path.rstrip("/").rsplit("/", 1)[-1]) or "download"


@dataclass(frozen=True)
class DownloadOption:
    """One way to get a dataset: every file in ``files`` is fetched and extracted into one tree."""

    label: str  # "official", "huggingface (pyiqa, IQA-Toolbox-Datasets)", "waterloo", ...
    files: tuple[RemoteFile, ...]
    note: str = ""


@dataclass(frozen=True)
class DatasetSpec:
    """Facts about one dataset. ``parse(root) -> DataFrame[LABEL_COLUMNS]``."""

    key: str
    parse: Callable[[Path], pd.DataFrame]
    score_range: tuple[float, float]
    higher_better: bool = True
    full_reference: bool = False
    expected_count: int | None = None
    split_by: str = "image"  # "image" (authentic) or "reference" (synthetic); see splits.py
    synthetic_demo: bool = False
    title: str = ""
    sources: tuple[str, ...] = field(default=())
    # Fetching (see gmc.data.fetch): alternative downloads tried in order (official first, then mirrors),
    # or, when there is none, ``manual_download`` says where to get the archive and where to put it.
    downloads: tuple[DownloadOption, ...] = field(default=())
    manual_download: str = ""
    #: glob patterns (relative, case-insensitive) of files that identify the dataset root inside an
    #: extracted tree, tried in order; the root is the folder the pattern is relative to.
    root_markers: tuple[str, ...] = field(default=())
    #: ``official_splits(root) -> DataFrame[image, split, part]`` where the dataset has one (KonIQ, BIQ2021)
    official_splits: Callable[[Path], pd.DataFrame] | None = None
    split_policy: str = ""  # human-readable, e.g. "10 random 80/20 splits by image"
    #: (width, height) of the decoded cache for crop protocols (gmc.data.protocol); a config's
    #: ``datasets.<key>.stored_size`` overrides it. None: the config must give it.
    stored_size: tuple[int, int] | None = None
    homepage: str = ""
    notes: str = ""


DATASETS: Registry[Callable[..., DatasetSpec]] = Registry("dataset type")


def normalise_scores(raw: pd.Series, score_range: tuple[float, float], higher_better: bool) -> pd.Series:
    """Map raw scores to [0, 1], higher = better, with the dataset's fixed range (not per split):
    ``m = (raw - lo) / (hi - lo)``, then ``1 - m`` when lower raw scores are better."""
    lo, hi = score_range
    m = (raw.astype(float) - lo) / (hi - lo)
    return m if higher_better else 1.0 - m


#: ``table.attrs`` keys with which a parser records where its rows came from (see :func:`with_labels_source`)
LABELS_FILE, LABEL_LINES = "labels_file", "label_lines"


def with_labels_source(table: pd.DataFrame, path: str | Path, lines: list[int] | None = None) -> pd.DataFrame:
    """Record in ``table.attrs`` the labels file (or folder of label files) ``path`` the rows were read
    from and, when known, each row's line in it, so that validation can name the file and line of a bad
    row (:func:`gmc.data.validate.validate_labels`). Returns ``table``."""
    table.attrs[LABELS_FILE] = str(path)
    if lines is not None:
        table.attrs[LABEL_LINES] = [int(n) for n in lines]
    return table


def read_csv_rows(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """The header, the data rows and each row's line number of the comma-separated file ``path`` (UTF-8,
    with or without a byte-order mark). Every cell stays text; blank lines are skipped; a short row is
    padded with ``""``; empty trailing cells beyond the header are ignored. Raises :class:`InputFileError`
    naming the file (and the line) when it is empty, not UTF-8, not valid CSV, or has a row with more
    values than the header has columns."""
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv_reader(fh)
            try:
                for record in reader:
                    if not any(cell.strip() for cell in record):
                        continue
                    if header is None:
                        header = record
                        continue
                    extra = record[len(header) :]
                    if any(cell.strip() for cell in extra):
                        raise InputFileError(
                            f"{path}, line {reader.line_num}: {len(record)} values, but the header line has "
                            f"{len(header)} columns {header}; remove the extra values or name their columns"
                        )
                    rows.append(record[: len(header)] + [""] * (len(header) - len(record)))
                    lines.append(reader.line_num)
            except CSVError as err:
                raise InputFileError(f"{path}, line {reader.line_num}: not valid CSV ({err})") from None
    except UnicodeDecodeError as err:
        raise InputFileError(f"{path}: not UTF-8 text ({err}); save the labels as a UTF-8 CSV file") from None
    if header is None:
        raise InputFileError(
            f"{path} is empty: a labels CSV needs a header line naming its columns (e.g. 'image,mos') and "
            "one line per image"
        )
    return header, rows, lines


def _separator_hint(header: list[str]) -> str:
    """A hint when a one-column header holds another separator (a CSV saved with ';' or tabs)."""
    if len(header) == 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
            if sep in header[0]:
                return f" (the file seems to separate values with {name}: save it comma-separated)"
    return ""


def _numbers(path: Path, column: str, cells: list[str], lines: list[int], *, allow_empty: bool) -> np.ndarray:
    """The values of ``column`` as floats (an empty cell is NaN when ``allow_empty``). Raises
    :class:`InputFileError` listing the lines whose value is not a number."""
    values = np.full(len(cells), np.nan)
    bad = []
    for i, text in enumerate(cells):
        if not text.strip() and allow_empty:
            continue
        try:
            values[i] = float(text)
        except ValueError:
            bad.append(f"line {lines[i]}: {text!r}")
    if bad:
        more = f" ... (+{len(bad) - 10} more)" if len(bad) > 10 else ""
        raise InputFileError(
            f"{path}: column {column!r} holds values that are not numbers: {', '.join(bad[:10])}{more}; "
            "write plain numbers with a '.' as decimal point (e.g. 3.25), or remove those lines"
        )
    return values


def read_label_csv(
    root: Path,
    csv: str,
    image_column: str,
    score_column: str,
    std_column: str | None = None,
    reference_column: str | None = None,
    content_column: str | None = None,
) -> pd.DataFrame:
    """Read a user label CSV into the standard columns (:data:`LABEL_COLUMNS`).

    Every cell is read as text (:func:`read_csv_rows`), so names such as ``000`` keep their leading zeros;
    the score (and std) columns are converted explicitly, and a value that is not a number is an error
    naming its line (an empty std is NaN: unknown). The table records the file and each row's line
    (:func:`with_labels_source`). Raises :class:`InputFileError` naming the file and the fix."""
    path = Path(root) / csv
    if not path.is_file():
        raise InputFileError(f"label file {path} does not exist; check 'csv' and 'root' in the config")
    header, rows, lines = read_csv_rows(path)
    wanted = [c for c in (image_column, score_column, std_column, reference_column, content_column) if c]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise InputFileError(
            f"{path}: no column(s) {missing}; the header line has {header}{_separator_hint(header)}. Fix the "
            "header, or name the file's columns in the dataset's options (image_column, score_column, ...)"
        )
    index = {name: header.index(name) for name in wanted}

    def cells(column: str) -> list[str]:
        return [row[index[column]] for row in rows]

    out = pd.DataFrame({"image": pd.Series(cells(image_column), dtype=str)})
    out["mos_raw"] = _numbers(path, score_column, cells(score_column), lines, allow_empty=False)
    out["std_raw"] = (
        _numbers(path, std_column, cells(std_column), lines, allow_empty=True) if std_column else np.nan
    )
    out["reference"] = cells(reference_column) if reference_column else ""
    if content_column:
        out["content"] = cells(content_column)
    else:
        out["content"] = out["reference"].where(out["reference"] != "", out["image"])
    return with_labels_source(out[LABEL_COLUMNS], path, lines)


@DATASETS.register("csv")
def csv_spec(
    key: str,
    *,
    csv: str = "labels.csv",
    image_column: str = "image",
    score_column: str = "mos",
    std_column: str | None = None,
    reference_column: str | None = None,
    content_column: str | None = None,
    score_range: tuple[float, float],
    higher_better: bool = True,
    expected_count: int | None = None,
    split_by: str = "image",
    synthetic_demo: bool = False,
    title: str = "",
) -> DatasetSpec:
    """A user's own dataset: a folder of images and one CSV of labels (generic ``csv`` type)."""

    def parse(root: Path) -> pd.DataFrame:
        return read_label_csv(
            root, csv, image_column, score_column, std_column, reference_column, content_column
        )

    return DatasetSpec(
        key=key,
        parse=parse,
        score_range=(float(score_range[0]), float(score_range[1])),
        higher_better=higher_better,
        full_reference=reference_column is not None,
        expected_count=expected_count,
        split_by=split_by,
        synthetic_demo=synthetic_demo,
        title=title or key,
    )


def build_dataset_spec(key: str, options: dict) -> DatasetSpec:
    """The spec for config entry ``datasets.<key>``: ``{type: <registered type>, **options}``."""
    options = dict(options)
    kind = options.pop("type", key)
    for name in NON_SPEC_OPTIONS:
        options.pop(name, None)
    try:
        factory = DATASETS.get(kind)
    except UnknownNameError as err:
        raise ConfigError(f"datasets.{key}.type: {err} (python -m gmc list datasets)") from None
    params = [p for p in inspect.signature(factory).parameters.values() if p.kind is p.KEYWORD_ONLY]
    accepted = [p.name for p in params] + list(NON_SPEC_OPTIONS)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"datasets.{key}: unknown option(s) {unknown} for type {kind!r}; valid options: "
            f"{', '.join(sorted(accepted))}"
        )
    missing = [p.name for p in params if p.default is p.empty and p.name not in options]
    if missing:
        scale = "score_range" in missing
        hint = " (score_range: the two ends of the rating scale, e.g. [1, 5])" if scale else ""
        raise ConfigError(
            f"datasets.{key}: type {kind!r} needs the option(s) {', '.join(missing)}{hint}; "
            "add them to the entry"
        )
    return factory(key, **options)


#: config keys of ``datasets.<key>`` read by :func:`gmc.data.fetch.fetch_dataset`, not by the spec factory
FETCH_OPTIONS = ("source", "sha256")
#: config keys of ``datasets.<key>`` read by the manifest step (``drop_bad_images: true``: the manifest rule
#: passes ``--drop-bad-images``, so missing or undecodable images are dropped and listed in the report)
MANIFEST_OPTIONS = ("drop_bad_images",)
#: config keys of ``datasets.<key>`` read by the reporting layer only
REPORT_OPTIONS = ("reported_as",)
#: config keys of ``datasets.<key>`` read by the cache step (``stored_size: [width, height]``: the resolution
#: crop protocols cut their crops from; default: the dataset's ``DatasetSpec.stored_size``)
CACHE_OPTIONS = ("stored_size",)
#: config keys of ``datasets.<key>`` that are not options of the spec factory
NON_SPEC_OPTIONS = FETCH_OPTIONS + MANIFEST_OPTIONS + REPORT_OPTIONS + CACHE_OPTIONS

# registers the "demo" type and the real datasets (livec, koniq10k, ...; see catalog.py)
from gmc.data.datasets import catalog, demo_type  # noqa: E402,F401
