"""Label parsers for the official formats of the real IQA datasets.

Every ``parse_<key>(root, ...)`` returns a DataFrame with :data:`LABEL_COLUMNS`: ``image`` (path
relative to ``root``, as found on disk), ``reference`` (FR sets, else ""), ``content`` (the group
that must stay within one split part: the reference for synthetic sets, the image for authentic
ones), ``mos_raw`` and ``std_raw`` (as published; NaN when unknown). Rows keep the order of the
label file.

Image names in label files do not always match the files on disk (BIQ2021's ``ss02 (1014).JPG``,
TID2013's ``i01_..``/``I01_..``, archives that add a top folder or flatten one). :class:`FileIndex`
resolves a listed name case-insensitively against the files present, by path suffix, so that the
same parser reads the official layout and the common mirror layouts. A name that is not on disk
keeps its official relative path, and validation reports it as missing.

When an official label file is absent but pyiqa's meta-info CSV is (the Hugging Face mirror ships
images plus ``meta_info/meta_info_<Name>Dataset.csv``), :func:`parse_pyiqa_meta` reads that instead.

Label CSVs are read as text (``dtype=str``, no NA guessing), so names such as ``000`` keep their leading
zeros; scores are converted explicitly. Every table records the labels file it came from
(:func:`gmc.data.datasets.with_labels_source`), so that validation names it with a bad row.
"""

from __future__ import annotations

import fnmatch
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gmc.data.datasets import LABEL_COLUMNS, with_labels_source
from gmc.errors import ConfigError, InputFileError, UserError


class LabelFormatError(InputFileError):
    """A label file is missing or not in the expected format; the message names the file."""


class AmbiguousImageError(LabelFormatError):
    """A listed image name matches several files on disk."""


class DatasetNotFoundError(UserError, FileNotFoundError):
    """No label file of the dataset is under the folder searched; the message lists what is there."""


# ------------------------------------------------------------------------------------------ file index
class FileIndex:
    """All files under ``root`` (walked once), for case-insensitive, suffix-based name resolution."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.files: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".gmc-"))
            rel_dir = os.path.relpath(dirpath, self.root)
            rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
            self.files.extend(rel_dir + f for f in sorted(filenames))
        self._by_name: dict[str, list[str]] = {}
        for rel in self.files:
            self._by_name.setdefault(rel.rsplit("/", 1)[-1].lower(), []).append(rel)

    def resolve(self, name: str, prefer: Sequence[str] = ()) -> str | None:
        """The file whose path ends with ``name`` (compared case-insensitively, whole components).

        An exact (case-sensitive) match wins; among several candidates, those below a folder named in
        ``prefer`` (in order), then the shallowest one. ``None`` when no file matches."""
        want = name.replace("\\", "/").strip("/")
        low = want.lower()
        cands = [
            p
            for p in self._by_name.get(low.rsplit("/", 1)[-1], [])
            if p.lower() == low or p.lower().endswith("/" + low)
        ]
        if not cands:
            return None
        if len(cands) == 1:
            return cands[0]
        exact = [p for p in cands if p == want or p.endswith("/" + want)]
        if len(exact) == 1:
            return exact[0]
        for folder in prefer:
            key = "/" + folder.strip("/").lower() + "/"
            inside = [p for p in cands if key in "/" + p.lower()]
            if len(inside) == 1:
                return inside[0]
            if inside:
                cands = inside
                break
        depth = min(p.count("/") for p in cands)
        shallow = [p for p in cands if p.count("/") == depth]
        if len(shallow) == 1:
            return shallow[0]
        raise AmbiguousImageError(
            f"image name {name!r} matches several files under {self.root}: {shallow[:5]}; "
            "remove the duplicate copies or point the dataset source at one of them"
        )

    def path(self, name: str, default: str, prefer: Sequence[str] = ()) -> str:
        """:meth:`resolve`, or ``default`` (the official relative path) when the file is absent."""
        found = self.resolve(name, prefer)
        return found if found is not None else default

    def find(self, pattern: str) -> list[str]:
        """Files whose last components match the glob ``pattern`` (case-insensitive), shallowest first."""
        parts = pattern.lower().strip("/").split("/")
        k = len(parts)
        hits = []
        for rel in self.files:
            comps = rel.lower().split("/")
            if len(comps) >= k and all(
                fnmatch.fnmatchcase(c, p) for c, p in zip(comps[-k:], parts, strict=True)
            ):
                hits.append(rel)
        return sorted(hits, key=lambda r: (r.count("/"), r))

    def first(self, patterns: Iterable[str]) -> str | None:
        for pattern in patterns:
            hits = self.find(pattern)
            if hits:
                return hits[0]
        return None


def find_root(base: str | Path, markers: Sequence[str], index: FileIndex | None = None) -> Path:
    """The dataset root inside ``base``: for the first marker pattern (in order) that matches a file,
    the folder the pattern is relative to (shallowest match). ``base`` itself when there are no
    markers. Raises :class:`DatasetNotFoundError` naming the markers and what ``base`` contains."""
    base = Path(base)
    if not markers:
        return base
    index = index or FileIndex(base)
    for pattern in markers:
        hits = index.find(pattern)
        if hits:
            depth = len(pattern.strip("/").split("/"))
            comps = hits[0].split("/")[:-depth]
            return base.joinpath(*comps) if comps else base
    top = sorted(p.name for p in base.iterdir())[:20] if base.is_dir() else []
    raise DatasetNotFoundError(
        f"no dataset found under {base}: none of the label files {list(markers)} is there "
        f"(top-level entries: {top or 'none'}). Is this the right archive or folder?"
    )


# ------------------------------------------------------------------------------------------- helpers
def _frame(image, mos, std=None, reference=None, content=None, *, source: Path) -> pd.DataFrame:
    """The standard label table (:data:`LABEL_COLUMNS`) from parsed columns; scores that are not numbers
    become NaN (validation names those images). ``source``: the labels file (or folder of them) read."""
    out = pd.DataFrame({"image": [str(x) for x in image]})
    out["reference"] = [str(x) for x in reference] if reference is not None else ""
    if content is not None:
        out["content"] = [str(x) for x in content]
    else:
        out["content"] = out["reference"].where(out["reference"] != "", out["image"])
    out["mos_raw"] = pd.to_numeric(pd.Series(list(mos)), errors="coerce").astype(float).to_numpy()
    out["std_raw"] = (
        pd.to_numeric(pd.Series(list(std)), errors="coerce").astype(float).to_numpy()
        if std is not None
        else np.nan
    )
    return with_labels_source(out[LABEL_COLUMNS], source)


def _need(index: FileIndex, patterns: Sequence[str], what: str) -> Path:
    rel = index.first(patterns)
    if rel is None:
        raise LabelFormatError(
            f"{what}: label file not found under {index.root} (looked for {list(patterns)}); "
            "check that the archive is complete and in the official layout"
        )
    return index.root / rel


def _column(frame: pd.DataFrame, path: Path, *names: str) -> str:
    """The first column of ``frame`` whose name matches one of ``names`` (case/space-insensitive)."""

    def norm(s: object) -> str:
        return re.sub(r"[\s_]+", "", str(s)).lower()

    cols = {norm(c): c for c in frame.columns}
    for name in names:
        if norm(name) in cols:
            return cols[norm(name)]
    raise LabelFormatError(
        f"{path}: no column {names[0]!r} (tried {list(names)}); the file has {list(frame.columns)}"
    )


def _read_csv(path: Path) -> pd.DataFrame:
    """A label CSV, every cell as text (names keep leading zeros; an empty cell is ``""``, not NaN)."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise LabelFormatError(f"{path}: not a readable CSV ({err})") from err


def _read_excel(path: Path, **kwargs) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # xlrd deprecation notices, openpyxl style warnings
        try:
            return pd.read_excel(path, **kwargs)
        except ImportError:
            raise
        except Exception as err:  # noqa: BLE001  (xlrd/openpyxl raise many types)
            raise LabelFormatError(
                f"{path}: not a readable spreadsheet ({type(err).__name__}: {err})"
            ) from err


def _header_row(raw: pd.DataFrame, *required: str) -> int:
    """Index of the first row of a header-less sheet that contains every name in ``required``."""
    want = {r.lower() for r in required}
    for i in range(min(len(raw), 50)):
        cells = {str(v).strip().lower() for v in raw.iloc[i].tolist()}
        if want <= cells:
            return i
    raise LabelFormatError(f"no header row with columns {list(required)} in the first 50 rows")


def _with_header(raw: pd.DataFrame, row: int) -> pd.DataFrame:
    table = raw.iloc[row + 1 :].copy()
    table.columns = [str(v).strip() for v in raw.iloc[row].tolist()]
    return table.reset_index(drop=True)


def load_mat(path: Path) -> dict:
    """A MATLAB v5 .mat file (scipy); variables only, no ``__header__``-style entries."""
    from scipy.io import loadmat

    try:
        data = loadmat(path)
    except Exception as err:  # noqa: BLE001  (scipy raises ValueError/TypeError/NotImplementedError)
        raise LabelFormatError(f"{path}: not a readable MATLAB .mat file ({err})") from err
    return {k: v for k, v in data.items() if not k.startswith("__")}


def mat_variable(data: dict, path: Path, name: str) -> np.ndarray:
    """Variable ``name`` of a loaded .mat file, or its only variable when ``name`` is absent."""
    if name in data:
        return data[name]
    if len(data) == 1:
        return next(iter(data.values()))
    raise LabelFormatError(f"{path}: no variable {name!r}; the file has {sorted(data)}")


def mat_strings(array: np.ndarray) -> list[str]:
    """The strings of a MATLAB cell array of char arrays (any shape), in column-major-free flat order."""
    out = []
    for item in np.asarray(array, dtype=object).ravel():
        while isinstance(item, np.ndarray):
            item = item.ravel()[0] if item.size else ""
        out.append(str(item).strip())
    return out


def mat_numbers(array: np.ndarray) -> np.ndarray:
    return np.asarray(array, dtype=float).ravel()


# ------------------------------------------------------------------------------------- pyiqa fallback
#: dataset key -> (meta-info file, image column, reference column or None, score column, std column or None)
PYIQA_META: dict[str, tuple[str, str, str | None, str, str | None]] = {
    "livec": ("meta_info_LIVEChallengeDataset.csv", "img_name", None, "mos", "std"),
    "koniq10k": ("meta_info_KonIQ10kDataset.csv", "img_name", None, "mos", "std"),
    "spaq": ("meta_info_SPAQDataset.csv", "Image name", None, "MOS", None),
    "kadid10k": ("meta_info_KADID10kDataset.csv", "dist_name", "ref_name", "dmos", "std"),
    "pipal": ("meta_info_PIPALDataset.csv", "dist_name", "hq_name", "elo_score", None),
    "tid2013": ("meta_info_TID2013Dataset.csv", "dist_name", "ref_name", "mos", "std"),
    "live": ("meta_info_LIVEIQADataset.csv", "dist_name", "ref_name", "mos", None),
    "csiq": ("meta_info_CSIQDataset.csv", "dist_name", "ref_name", "dmos", None),
}


def pyiqa_markers(key: str) -> tuple[str, ...]:
    """Root markers for a tree holding pyiqa's meta-info CSV (root = the folder above ``meta_info/``)."""
    if key not in PYIQA_META:
        return ()
    return (f"meta_info/{PYIQA_META[key][0]}",)


def _pyiqa_file(index: FileIndex, key: str) -> Path | None:
    if key not in PYIQA_META:
        return None
    rel = index.first([f"meta_info/{PYIQA_META[key][0]}", PYIQA_META[key][0]])
    return index.root / rel if rel else None


def parse_pyiqa_meta(
    root: str | Path, key: str, *, index: FileIndex | None = None, prefer: Sequence[str] = ()
):
    """Read pyiqa's ``meta_info_<Name>Dataset.csv`` for dataset ``key`` (see :data:`PYIQA_META`);
    image paths are resolved against the files under ``root``."""
    index = index or FileIndex(root)
    path = _pyiqa_file(index, key)
    if path is None:
        raise LabelFormatError(
            f"{key}: no pyiqa meta-info file {PYIQA_META.get(key, ('?',))[0]} under {root}"
        )
    _, img_col, ref_col, score_col, std_col = PYIQA_META[key]
    table = _read_csv(path)
    img_col = _column(table, path, img_col)
    names = table[img_col].astype(str).str.strip()
    images = [index.path(n, n, prefer) for n in names]
    refs = None
    if ref_col:
        ref_col = _column(table, path, ref_col)
        refs = [index.path(r, r, prefer) for r in table[ref_col].astype(str).str.strip()]
    std = table[_column(table, path, std_col)] if std_col else None
    return _frame(images, table[_column(table, path, score_col)], std, refs, source=path), table


# -------------------------------------------------------------------------------------- authentic sets
LIVEC_MARKERS = ("Data/AllMOS_release.mat",)
_LIVEC_TRAINING = re.compile(r"^t[1-7]\.bmp$", re.IGNORECASE)


def parse_livec(root: str | Path) -> pd.DataFrame:
    """LIVE In the Wild Challenge: ``Data/AllImages_release.mat`` (cell array of names),
    ``AllMOS_release.mat`` and ``AllStdDev_release.mat`` (same order). The 7 training images
    t1..t7 are dropped (1,169 -> 1,162 rows); images live in ``Images/``."""
    index = FileIndex(root)
    if index.first(LIVEC_MARKERS) is None and _pyiqa_file(index, "livec") is not None:
        table, _ = parse_pyiqa_meta(root, "livec", index=index, prefer=("Images",))
        keep = [not _LIVEC_TRAINING.match(name.rsplit("/", 1)[-1]) for name in table["image"]]
        return table[keep].reset_index(drop=True)
    names_path = _need(index, ["Data/AllImages_release.mat"], "livec")
    mos_path = _need(index, ["Data/AllMOS_release.mat"], "livec")
    std_path = index.first(["Data/AllStdDev_release.mat"])
    names = mat_strings(mat_variable(load_mat(names_path), names_path, "AllImages_release"))
    mos = mat_numbers(mat_variable(load_mat(mos_path), mos_path, "AllMOS_release"))
    std = (
        mat_numbers(mat_variable(load_mat(index.root / std_path), index.root / std_path, "AllStdDev_release"))
        if std_path
        else np.full(len(mos), np.nan)
    )
    if not (len(names) == len(mos) == len(std)):
        raise LabelFormatError(
            f"{names_path.parent}: AllImages_release ({len(names)}), AllMOS_release ({len(mos)}) and "
            f"AllStdDev_release ({len(std)}) differ in length"
        )
    keep = [not _LIVEC_TRAINING.match(n) for n in names]
    images = [
        index.path(f"Images/{n}", f"Images/{n}", ("Images",)) for n, k in zip(names, keep, strict=True) if k
    ]
    return _frame(images, mos[keep], std[keep], source=names_path)


KONIQ_MARKERS = (
    "koniq10k_scores_and_distributions.csv",
    "koniq10k_distributions_sets.csv",
    *pyiqa_markers("koniq10k"),
)
KONIQ_RESOLUTIONS = ("1024x768", "512x384")
KONIQ_SCORES = ("mos", "mos_zscore")


def _koniq_table(root: str | Path, resolution: str, score: str) -> tuple[pd.DataFrame, pd.Series | None]:
    """KonIQ labels plus the official ``set`` per row (None when no file has it)."""
    if resolution not in KONIQ_RESOLUTIONS:
        raise ConfigError(f"koniq10k: resolution {resolution!r} is not one of {list(KONIQ_RESOLUTIONS)}")
    if score not in KONIQ_SCORES:
        raise ConfigError(f"koniq10k: score {score!r} is not one of {list(KONIQ_SCORES)}")
    index = FileIndex(root)
    scores = index.first(["koniq10k_scores_and_distributions.csv"])
    sets = index.first(["koniq10k_distributions_sets.csv"])
    meta = _pyiqa_file(index, "koniq10k")
    if scores is None and sets is None and meta is None:
        _need(index, ["koniq10k_scores_and_distributions.csv", "koniq10k_distributions_sets.csv"], "koniq10k")

    def image_paths(names: pd.Series) -> list[str]:
        return [index.path(f"{resolution}/{n}", f"{resolution}/{n}", (resolution,)) for n in names]

    def mos_from_fractions(frame: pd.DataFrame, path: Path) -> np.ndarray:
        # c1..c5 are the fractions of ratings 1..5 in these files; the 1-5 MOS is their mean rating
        cols = [_column(frame, path, f"c{k}") for k in range(1, 6)]
        fractions = frame[cols].apply(pd.to_numeric, errors="coerce").to_numpy(float)
        return fractions @ np.arange(1, 6, dtype=float)

    official_set = None
    if scores is not None:
        path = index.root / scores
        t = _read_csv(path)
        names = t[_column(t, path, "image_name")].astype(str).str.strip()
        if score == "mos":
            mos, std = t[_column(t, path, "MOS")], t[_column(t, path, "SD")]
        else:
            mos, std = t[_column(t, path, "MOS_zscore")], None
        table = _frame(image_paths(names), mos, std, source=path)
        if sets is not None:
            spath = index.root / sets
            s = _read_csv(spath)
            mapping = dict(
                zip(s[_column(s, spath, "image_name")].astype(str).str.strip(), s[_column(s, spath, "set")])
            )
            official_set = names.map(mapping)
        return table, official_set
    if sets is not None:
        path = index.root / sets
        t = _read_csv(path)
        names = t[_column(t, path, "image_name")].astype(str).str.strip()
        # this file's MOS is on the 0-100 (z-score) scale; the 1-5 MOS is recomputed from c1..c5
        if score == "mos":
            mos, std = mos_from_fractions(t, path), t[_column(t, path, "SD")]
        else:
            mos, std = t[_column(t, path, "MOS")], None
        return _frame(image_paths(names), mos, std, source=path), t[_column(t, path, "set")].str.strip()
    t = _read_csv(meta)
    names = t[_column(t, meta, "img_name")].astype(str).str.strip()
    if score == "mos":
        mos, std = mos_from_fractions(t, meta), t[_column(t, meta, "std")]
    else:
        mos, std = t[_column(t, meta, "mos")], None
    split = pd.to_numeric(t[_column(t, meta, "split")], errors="coerce")
    split = split.map({0: "training", 1: "validation", 2: "test"})
    return _frame(image_paths(names), mos, std, source=meta), split


def parse_koniq10k(root: str | Path, resolution: str = "1024x768", score: str = "mos") -> pd.DataFrame:
    """KonIQ-10k: ``koniq10k_scores_and_distributions.csv`` (image_name, MOS 1-5, SD, MOS_zscore 0-100),
    or ``koniq10k_distributions_sets.csv``; images in ``<resolution>/``. ``score``: ``mos`` (1-5) or
    ``mos_zscore`` (0-100)."""
    return _koniq_table(root, resolution, score)[0]


def koniq10k_official_splits(root: str | Path, resolution: str = "1024x768") -> pd.DataFrame:
    """The official KonIQ split (column ``set``: training 7,058 / validation 1,000 / test 2,015)."""
    table, sets = _koniq_table(root, resolution, "mos")
    if sets is None:
        raise LabelFormatError(
            "koniq10k: the official split needs koniq10k_distributions_sets.csv (column 'set') under "
            f"{root}; download it from database.mmsp-kn.de/koniq-10k-database.html and put it beside "
            "the scores CSV"
        )
    part = (
        sets.astype(str)
        .str.strip()
        .str.lower()
        .map({"training": "train", "validation": "val", "test": "test"})
    )
    if part.isna().any():
        bad = sorted(set(sets[part.isna()].astype(str)))[:5]
        raise LabelFormatError(f"koniq10k: unknown values in column 'set': {bad}")
    return pd.DataFrame({"image": table["image"], "split": 0, "part": part.to_numpy()})


BID_MARKERS = ("DatabaseGrades.xls", "DatabaseGrades.xlsx")


def parse_bid(root: str | Path) -> pd.DataFrame:
    """BID: ``DatabaseGrades.xls`` (column 1 image number, column 2 average grade 0-5, then the
    number of grades and the individual grades); images ``DatabaseImage%04d.JPG``. ``std_raw`` is the
    sample standard deviation of the individual grades."""
    index = FileIndex(root)
    path = _need(index, BID_MARKERS, "bid")
    raw = _read_excel(path, header=None)
    number = pd.to_numeric(raw.iloc[:, 0], errors="coerce")
    rows = raw[number.notna()].reset_index(drop=True)
    numbers = number[number.notna()].astype(int).to_numpy()
    mos = pd.to_numeric(rows.iloc[:, 1], errors="coerce")
    grades = rows.iloc[:, 3:].apply(pd.to_numeric, errors="coerce")
    std = grades.std(axis=1, ddof=1) if grades.shape[1] else None
    images = []
    for n in numbers:
        name = f"DatabaseImage{n:04d}.JPG"
        images.append(index.path(name, name))
    return _frame(images, mos, std, source=path)


SPAQ_MARKERS = (
    "Annotations/MOS*Image*attribute*scores.xlsx",
    "MOS*Image*attribute*scores.xlsx",
    *pyiqa_markers("spaq"),
)


def parse_spaq(root: str | Path) -> pd.DataFrame:
    """SPAQ: ``Annotations/MOS_and_Image_attribute_scores.xlsx`` (``Image name``, ``MOS`` 0-100);
    images in ``TestImage/``."""
    index = FileIndex(root)
    rel = index.first(["Annotations/MOS*Image*attribute*scores.xlsx", "MOS*Image*attribute*scores.xlsx"])
    if rel is None and _pyiqa_file(index, "spaq") is not None:
        return parse_pyiqa_meta(root, "spaq", index=index, prefer=("TestImage",))[0]
    path = _need(index, ["MOS*Image*attribute*scores.xlsx"], "spaq")
    raw = _read_excel(path, header=None)
    table = _with_header(raw, _header_row(raw, "Image name", "MOS"))
    table = table[table[_column(table, path, "Image name")].notna()]
    names = table[_column(table, path, "Image name")].astype(str).str.strip()
    images = [index.path(f"TestImage/{n}", f"TestImage/{n}", ("TestImage",)) for n in names]
    return _frame(images, table[_column(table, path, "MOS")], source=path)


FLIVE_MARKERS = ("labels_image.csv",)


def parse_flive(root: str | Path) -> pd.DataFrame:
    """FLIVE (PaQ-2-PiQ): ``labels_image.csv`` (``name`` relative to ``database/``, ``mos`` 0-100)."""
    index = FileIndex(root)
    path = _need(index, FLIVE_MARKERS, "flive")
    t = _read_csv(path)
    name_col = _column(t, path, "name", "name_image")
    t = t[t[name_col].str.strip() != ""]
    names = t[name_col].str.strip()
    images = [index.path(f"database/{n}", f"database/{n}", ("database",)) for n in names]
    std = t[_column(t, path, "std")] if any(str(c).lower() == "std" for c in t.columns) else None
    return _frame(images, t[_column(t, path, "mos", "mos_image")], std, source=path)


BIQ2021_MARKERS = ("Test (Images and MOS).csv", "Train (Images and MOS).csv", "Test*Images*MOS*.csv")
BIQ2021_SUBSETS = ("all", "train", "test")


def _biq_csv(index: FileIndex, which: str) -> pd.DataFrame | None:
    rel = index.first([f"{which} (Images and MOS).csv", f"{which}*Images*MOS*.csv"])
    if rel is None:
        return None
    path = index.root / rel
    t = _read_csv(path)
    # the official header is "Image Name,MOS,," : two empty trailing columns
    t = t[[c for c in t.columns if str(c).strip() and not str(c).startswith("Unnamed:")]]
    name_col, mos_col = _column(t, path, "Image Name"), _column(t, path, "MOS")
    t = t[t[name_col].str.strip() != ""]
    names = t[name_col].str.strip()
    images = [index.path(f"Images/{n}", f"Images/{n}", ("Images",)) for n in names]
    return _frame(images, t[mos_col].str.strip(), source=path)


def parse_biq2021(root: str | Path, subset: str = "all") -> pd.DataFrame:
    """BIQ2021: ``Train (Images and MOS).csv`` (10,000) and ``Test (Images and MOS).csv`` (2,000),
    MOS 0-1; images in ``Images/`` (names with spaces and parentheses, one extension in another case).
    ``subset``: ``all`` (train then test), ``train`` or ``test``."""
    if subset not in BIQ2021_SUBSETS:
        raise ConfigError(f"biq2021: subset {subset!r} is not one of {list(BIQ2021_SUBSETS)}")
    index = FileIndex(root)
    parts = []
    for which in ("Train", "Test"):
        if subset in ("all", which.lower()):
            t = _biq_csv(index, which)
            if t is None:
                _need(
                    index,
                    [f"{which} (Images and MOS).csv"],
                    "biq2021 (for a copy of one split only, "
                    "set the dataset option subset: test or subset: train)",
                )
            parts.append(t)
    return pd.concat(parts, ignore_index=True)


def biq2021_official_splits(root: str | Path, *, seed: int = 0, val_fraction: float = 0.1) -> pd.DataFrame:
    """BIQ2021's official train/test split; ``val`` is carved from train (``val_fraction``, seeded)."""
    index = FileIndex(root)
    train, test = _biq_csv(index, "Train"), _biq_csv(index, "Test")
    if train is None or test is None:
        raise LabelFormatError(
            f"biq2021: the official split needs both 'Train (Images and MOS).csv' and "
            f"'Test (Images and MOS).csv' under {root}"
        )
    names = np.array(sorted(train["image"]))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    n_val = int(np.floor(val_fraction * len(names) + 0.5))
    val = set(names[rng.permutation(len(names))[:n_val]])
    parts = ["val" if n in val else "train" for n in train["image"]]
    out = pd.DataFrame(
        {
            "image": list(train["image"]) + list(test["image"]),
            "split": 0,
            "part": parts + ["test"] * len(test),
        }
    )
    return out.sort_values("image", kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------------------------- synthetic sets
KADID_MARKERS = ("dmos.csv", *pyiqa_markers("kadid10k"))


def parse_kadid10k(root: str | Path) -> pd.DataFrame:
    """KADID-10k: ``dmos.csv`` (dist_img, ref_img, dmos = MOS 1-5 higher better, var); images and
    references in ``images/``."""
    index = FileIndex(root)
    if index.first(["dmos.csv"]) is None and _pyiqa_file(index, "kadid10k") is not None:
        return parse_pyiqa_meta(root, "kadid10k", index=index, prefer=("images",))[0]
    path = _need(index, ["dmos.csv"], "kadid10k")
    t = _read_csv(path)
    dist = t[_column(t, path, "dist_img")].astype(str).str.strip()
    ref = t[_column(t, path, "ref_img")].astype(str).str.strip()
    var = pd.to_numeric(t[_column(t, path, "var")], errors="coerce") if "var" in t.columns else None
    images = [index.path(f"images/{n}", f"images/{n}", ("images",)) for n in dist]
    refs = [index.path(f"images/{n}", f"images/{n}", ("images",)) for n in ref]
    std = np.sqrt(var) if var is not None else None
    return _frame(images, t[_column(t, path, "dmos")], std, refs, source=path)


PIPAL_MARKERS = ("Train_Label/A*.txt", *pyiqa_markers("pipal"))
_PIPAL_DIST = ("Distortion_1", "Distortion_2", "Distortion_3", "Distortion_4", "Train_Dist", "Dist_Imgs")


def parse_pipal(root: str | Path) -> pd.DataFrame:
    """PIPAL (training part): ``Train_Label/A0001.txt`` ... with lines ``A0001_00_00.bmp,1520.0648``
    (name, Elo); references ``Train_Ref/A0001.bmp``; distorted images spread over
    ``Distortion_1..4/`` (or one folder, as in the mirrors)."""
    index = FileIndex(root)
    labels = index.find("Train_Label/*.txt")
    if not labels and _pyiqa_file(index, "pipal") is not None:
        return parse_pyiqa_meta(root, "pipal", index=index, prefer=("Train_Ref", *_PIPAL_DIST))[0]
    if not labels:
        _need(index, ["Train_Label/*.txt"], "pipal")
    images, refs, mos = [], [], []
    for rel in sorted(labels, key=lambda r: r.lower()):
        path = index.root / rel
        ref_name = Path(rel).stem + ".bmp"
        ref = index.path(f"Train_Ref/{ref_name}", f"Train_Ref/{ref_name}", ("Train_Ref",))
        for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
            if not line.strip():
                continue
            fields = [f.strip() for f in line.split(",")]
            if len(fields) < 2:
                raise LabelFormatError(f"{path}:{n}: expected 'name,score', got {line!r}")
            images.append(index.path(fields[0], f"Distortion_1/{fields[0]}", _PIPAL_DIST))
            refs.append(ref)
            mos.append(fields[1])
    return _frame(images, mos, None, refs, source=index.root / Path(labels[0]).parent)


TID2013_MARKERS = ("mos_with_names.txt", *pyiqa_markers("tid2013"))


def parse_tid2013(root: str | Path) -> pd.DataFrame:
    """TID2013: ``mos_with_names.txt`` (lines ``MOS name``, 0-9), ``mos_std.txt`` (same order);
    distorted images in ``distorted_images/``, references ``reference_images/I01.BMP`` (the first three
    characters of the name); names are matched case-insensitively."""
    index = FileIndex(root)
    if index.first(["mos_with_names.txt"]) is None and _pyiqa_file(index, "tid2013") is not None:
        return parse_pyiqa_meta(
            root, "tid2013", index=index, prefer=("distorted_images", "reference_images")
        )[0]
    path = _need(index, ["mos_with_names.txt"], "tid2013")
    names, mos = [], []
    for n, line in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise LabelFormatError(f"{path}:{n}: expected 'MOS name', got {line!r}")
        mos.append(fields[0])
        names.append(fields[1])
    std = None
    std_rel = index.first(["mos_std.txt"])
    if std_rel:
        values = [v for v in (index.root / std_rel).read_text(encoding="latin-1").split() if v.strip()]
        if len(values) != len(names):
            raise LabelFormatError(f"{index.root / std_rel}: {len(values)} values for {len(names)} images")
        std = values
    images = [
        index.path(f"distorted_images/{n}", f"distorted_images/{n}", ("distorted_images",)) for n in names
    ]
    refs = []
    for n in names:
        ref = f"{n[:3].upper()}.BMP"
        refs.append(index.path(f"reference_images/{ref}", f"reference_images/{ref}", ("reference_images",)))
    return _frame(images, mos, std, refs, source=path)


LIVE_MARKERS = ("dmos_realigned.mat", *pyiqa_markers("live"))
#: LIVE release 2: distorted images per folder in the order of dmos_realigned.mat
LIVE_FOLDERS = (("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174), ("fastfading", 174))


def parse_live(root: str | Path) -> pd.DataFrame:
    """LIVE IQA release 2: ``dmos_realigned.mat`` (``dmos_new``, ``orgs``, ``dmos_std``; 982 entries in
    folder order jp2k 227, jpeg 233, wn 174, gblur 174, fastfading 174, files ``img<i>.bmp``) and
    ``refnames_all.mat``; entries flagged in ``orgs`` are copies of the references and are dropped
    (779 rows). DMOS: lower is better."""
    index = FileIndex(root)
    if index.first(["dmos_realigned.mat"]) is None and _pyiqa_file(index, "live") is not None:
        return parse_pyiqa_meta(root, "live", index=index, prefer=("refimgs",))[0]
    path = _need(index, ["dmos_realigned.mat"], "live")
    ref_path = _need(index, ["refnames_all.mat"], "live")
    data = load_mat(path)
    dmos = mat_numbers(mat_variable(data, path, "dmos_new"))
    orgs = mat_numbers(mat_variable(data, path, "orgs")).astype(bool)
    std = mat_numbers(data["dmos_std"]) if "dmos_std" in data else np.full(len(dmos), np.nan)
    refnames = mat_strings(mat_variable(load_mat(ref_path), ref_path, "refnames_all"))
    expected = sum(n for _, n in LIVE_FOLDERS)
    if not (len(dmos) == len(orgs) == len(refnames) == len(std) == expected):
        raise LabelFormatError(
            f"{path.parent}: dmos_new ({len(dmos)}), orgs ({len(orgs)}), dmos_std ({len(std)}) and "
            f"refnames_all ({len(refnames)}) should all have {expected} entries"
        )
    images, refs = [], []
    for folder, count in LIVE_FOLDERS:
        for i in range(1, count + 1):
            images.append(index.path(f"{folder}/img{i}.bmp", f"{folder}/img{i}.bmp", (folder,)))
    for r in refnames:
        refs.append(index.path(f"refimgs/{r}", f"refimgs/{r}", ("refimgs",)))
    keep = ~orgs
    return _frame(
        [x for x, k in zip(images, keep, strict=True) if k],
        dmos[keep],
        std[keep],
        [x for x, k in zip(refs, keep, strict=True) if k],
        source=path,
    )


CSIQ_MARKERS = ("csiq.DMOS.xlsx", "csiq*.xlsx", *pyiqa_markers("csiq"))
#: CSIQ sheet dst_type -> (folder, file-name token)
CSIQ_TYPES = {
    "noise": ("awgn", "AWGN"),
    "awgn": ("awgn", "AWGN"),
    "blur": ("blur", "BLUR"),
    "contrast": ("contrast", "contrast"),
    "fnoise": ("fnoise", "fnoise"),
    "jpeg": ("jpeg", "JPEG"),
    "jpeg 2000": ("jpeg2000", "jpeg2000"),
    "jpeg2000": ("jpeg2000", "jpeg2000"),
}


def parse_csiq(root: str | Path) -> pd.DataFrame:
    """CSIQ: ``csiq.DMOS.xlsx`` sheet ``all_by_image`` (header row with image, dst_idx, dst_type,
    dst_lev, dmos_std, dmos; DMOS 0-1, lower better); distorted images
    ``dst_imgs/<type>/<image>.<TYPE>.<level>.png``, references ``src_imgs/<image>.png``."""
    index = FileIndex(root)
    rel = index.first(["csiq.DMOS.xlsx", "csiq*.xlsx"])
    if rel is None and _pyiqa_file(index, "csiq") is not None:
        return parse_pyiqa_meta(root, "csiq", index=index, prefer=("dst_imgs", "src_imgs"))[0]
    path = _need(index, ["csiq.DMOS.xlsx", "csiq*.xlsx"], "csiq")
    sheets = _read_excel(path, header=None, sheet_name=None)
    name = next((s for s in sheets if s.strip().lower() == "all_by_image"), next(iter(sheets)))
    raw = sheets[name]
    table = _with_header(raw, _header_row(raw, "image", "dst_type", "dst_lev", "dmos"))
    table = table[table[_column(table, path, "image")].notna() & table[_column(table, path, "dmos")].notna()]
    images, refs = [], []
    for _, row in table.iterrows():
        img = row[_column(table, path, "image")]
        img = str(int(img)) if isinstance(img, (int, float, np.integer, np.floating)) else str(img).strip()
        kind = str(row[_column(table, path, "dst_type")]).strip().lower()
        if kind not in CSIQ_TYPES:
            raise LabelFormatError(f"{path}: unknown dst_type {kind!r}; known: {sorted(CSIQ_TYPES)}")
        folder, token = CSIQ_TYPES[kind]
        level = int(float(row[_column(table, path, "dst_lev")]))
        fname = f"{img}.{token}.{level}.png"
        images.append(index.path(fname, f"dst_imgs/{folder}/{fname}", ("dst_imgs", folder)))
        refs.append(index.path(f"src_imgs/{img}.png", f"src_imgs/{img}.png", ("src_imgs",)))
    std_col = next((c for c in table.columns if str(c).strip().lower() == "dmos_std"), None)
    std = table[std_col] if std_col else None
    return _frame(images, table[_column(table, path, "dmos")], std, refs, source=path)
