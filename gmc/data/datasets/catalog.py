"""The real IQA datasets: one registered spec factory per key (``livec``, ``koniq10k``, ``bid``, ``spaq``,
``flive``, ``biq2021``, ``kadid10k``, ``pipal``, ``tid2013``, ``live``, ``csiq``).

Each spec records where the archives come from (official URL first, then mirrors: pyiqa's Hugging
Face archive with its meta-info CSV, under the repository's current name and then its older name, and the
Waterloo IQA-Dataset mirror), which files identify the
dataset root once extracted, the label parser (:mod:`gmc.data.datasets.parsers`), the expected image
count, the raw score range and direction, NR/FR, and the split policy. Every source can be replaced in
the config (``datasets.<key>.source``: URL, ``file://`` URL, local archive or folder; see
:func:`gmc.data.fetch.fetch_dataset`). No owner publishes checksums, so no archive hash is pinned here;
the lock file records each archive's sha256 on first fetch (``datasets.<key>.sha256`` pins one).

Common factory options: ``expected_count`` (override, e.g. for a partial copy) and ``title``.
"""

from __future__ import annotations

from functools import partial

from gmc.data.datasets import DATASETS, DatasetSpec, DownloadOption, RemoteFile
from gmc.data.datasets import parsers as P
from gmc.errors import ConfigError

#: pyiqa's Hugging Face dataset repositories as (archives, meta-info CSVs), tried in this order. The
#: current names are those of pyiqa 0.1.16's README (site-packages/pyiqa-0.1.16.dist-info/METADATA, lines
#: 244, 258 and 266); the older names are the ones its code still downloads from
#: (site-packages/pyiqa/data/dataset_api.py, line 148: the meta-info, line 166: the archives).
HF_REPOS = (
    ("chaofengc/IQA-Toolbox-Datasets", "chaofengc/IQA-Toolbox-Datasets-metainfo"),
    ("chaofengc/IQA-PyTorch-Datasets", "chaofengc/IQA-PyTorch-Datasets-metainfo"),
)
HF_RESOLVE = "https://huggingface.co/datasets/{repo}/resolve/main/"
HF_DATASETS = HF_RESOLVE.format(repo=HF_REPOS[0][0])  # current names
HF_METAINFO = HF_RESOLVE.format(repo=HF_REPOS[0][1])
WATERLOO = "http://ivc.uwaterloo.ca/database/IQADataset/"
MMSP = "https://datasets.vqa.mmsp-kn.de/archives/"

RANDOM_BY_IMAGE = "10 random 80/20 splits by image (val carved from train)"
RANDOM_BY_REFERENCE = "10 random 80/20 splits by reference image (val carved from train)"


def huggingface(archive: str, key: str | None = None) -> tuple[DownloadOption, ...]:
    """pyiqa's Hugging Face archive, plus its meta-info CSV (labels) when pyiqa has one for ``key``: one
    option per name of the repositories (:data:`HF_REPOS`, current name first)."""
    options = []
    for i, (archives, metainfo) in enumerate(HF_REPOS):
        files = [RemoteFile(HF_RESOLVE.format(repo=archives) + archive)]
        if key in P.PYIQA_META:
            meta = P.PYIQA_META[key][0]
            url = HF_RESOLVE.format(repo=metainfo) + meta
            files.append(RemoteFile(url, kind="file", target=f"meta_info/{meta}"))
        name = archives.split("/")[-1] + (", older name" if i else "")
        options.append(
            DownloadOption(
                f"huggingface (pyiqa, {name})",
                tuple(files),
                note="mirror of last resort (academic use; the original licence applies)",
            )
        )
    return tuple(options)


def waterloo(name: str) -> DownloadOption:
    return DownloadOption(
        "waterloo",
        (RemoteFile(f"{WATERLOO}{name}.tar"),),
        note="Waterloo IQA-Dataset mirror; parsed when it holds the official label files",
    )


def _urls(downloads: tuple[DownloadOption, ...]) -> tuple[str, ...]:
    return tuple(f.url for d in downloads for f in d.files)


def _spec(key: str, *, title: str, expected_count: int | None, downloads=(), **kw) -> DatasetSpec:
    downloads = tuple(downloads)
    return DatasetSpec(
        key=key,
        title=title,
        expected_count=expected_count,
        downloads=downloads,
        sources=_urls(downloads),
        **kw,
    )


def _manual(name: str, where: str, marker: str, mirrors: str = "") -> str:
    text = (
        f"{name} has no scriptable download. Get the archive from {where}, then either put it (.zip, .tar, "
        f".tgz/.tar.gz or .rar) into the dataset folder given to 'gmc fetch' (default "
        f"resources/datasets/<key>/), or set datasets.<key>.source in the config to the archive or to an "
        f"extracted folder that contains {marker}; then rerun."
    )
    return text + (f" {mirrors}" if mirrors else "")


# ------------------------------------------------------------------------------------------ authentic
@DATASETS.register("livec")
def livec_spec(key: str, *, expected_count: int | None = 1162, title: str = "") -> DatasetSpec:
    """LIVE In the Wild Image Quality Challenge (CLIVE): 1,162 photos, MOS 0-100 (higher better)."""
    return _spec(
        key,
        stored_size=(500, 500),  # native size of every image
        title=title or "LIVE In the Wild Challenge (CLIVE)",
        expected_count=expected_count,
        parse=P.parse_livec,
        score_range=(0.0, 100.0),
        higher_better=True,
        downloads=(
            DownloadOption(
                "official",
                (RemoteFile("https://live.ece.utexas.edu/research/ChallengeDB/ChallengeDB_release.zip"),),
            ),
            *huggingface("live_challenge.tgz", "livec"),
            waterloo("LIVE_Challenge"),
        ),
        root_markers=P.LIVEC_MARKERS + P.pyiqa_markers("livec"),
        split_policy=RANDOM_BY_IMAGE,
        homepage="https://live.ece.utexas.edu/research/ChallengeDB/index.html",
        notes="the 7 training images t1..t7 are dropped; mixed .bmp/.JPG extensions",
    )


@DATASETS.register("koniq10k")
def koniq10k_spec(
    key: str,
    *,
    resolution: str = "1024x768",
    score: str = "mos",
    expected_count: int | None = 10073,
    title: str = "",
) -> DatasetSpec:
    """KonIQ-10k: 10,073 photos; ``score``: ``mos`` (1-5) or ``mos_zscore`` (0-100); ``resolution``:
    ``1024x768`` or ``512x384``. Official split 7,058/1,000/2,015."""
    if resolution not in P.KONIQ_RESOLUTIONS:
        raise ConfigError(
            f"datasets.{key}.resolution: {resolution!r} is not one of {list(P.KONIQ_RESOLUTIONS)}"
        )
    if score not in P.KONIQ_SCORES:
        raise ConfigError(f"datasets.{key}.score: {score!r} is not one of {list(P.KONIQ_SCORES)}")
    return _spec(
        key,
        stored_size=(512, 384),  # pyiqa's KonIQ option files (the 512x384 release)
        title=title or "KonIQ-10k",
        expected_count=expected_count,
        parse=partial(P.parse_koniq10k, resolution=resolution, score=score),
        score_range=(1.0, 5.0) if score == "mos" else (0.0, 100.0),
        higher_better=True,
        downloads=(
            DownloadOption(
                "official",
                (
                    RemoteFile(f"{MMSP}koniq10k_{resolution}.zip"),
                    RemoteFile(f"{MMSP}koniq10k_scores_and_distributions.zip"),
                ),
            ),
            *huggingface("koniq10k.tgz", "koniq10k"),
            waterloo("KonIQ-10k"),
        ),
        root_markers=P.KONIQ_MARKERS,
        official_splits=partial(P.koniq10k_official_splits, resolution=resolution),
        split_policy="official (training 7,058 / validation 1,000 / test 2,015) and " + RANDOM_BY_IMAGE,
        homepage="https://database.mmsp-kn.de/koniq-10k-database.html",
    )


@DATASETS.register("bid")
def bid_spec(key: str, *, expected_count: int | None = 586, title: str = "") -> DatasetSpec:
    """BID (Blurred Image Database): 586 photos, MOS 0-5 (higher better). Manual download."""
    return _spec(
        key,
        stored_size=(512, 384),  # images up to 2816x2112, landscape and portrait: aspect not kept
        title=title or "BID (Blurred Image Database)",
        expected_count=expected_count,
        parse=P.parse_bid,
        score_range=(0.0, 5.0),
        higher_better=True,
        manual_download=_manual(
            "BID (Ciancio et al., 2011)",
            "the Google Drive / Baidu links in the README of https://github.com/zwx8981/UNIQUE",
            "DatabaseGrades.xls",
        ),
        root_markers=P.BID_MARKERS,
        split_policy=RANDOM_BY_IMAGE,
        homepage="https://github.com/zwx8981/UNIQUE",
        notes="images up to 2816x2112",
    )


@DATASETS.register("spaq")
def spaq_spec(key: str, *, expected_count: int | None = 11125, title: str = "") -> DatasetSpec:
    """SPAQ (smartphone photography): 11,125 photos, MOS 0-100 (higher better). Manual download."""
    return _spec(
        key,
        stored_size=(
            512,
            384,
        ),  # phone photos; papers resize the short side to 384-512: aspect kept for 4:3 landscape
        title=title or "SPAQ",
        expected_count=expected_count,
        parse=P.parse_spaq,
        score_range=(0.0, 100.0),
        higher_better=True,
        manual_download=_manual(
            "SPAQ (Fang et al., 2020)",
            "the Baidu / OneDrive links at https://github.com/h4nwei/SPAQ",
            "Annotations/MOS_and_Image_attribute_scores.xlsx and TestImage/",
            mirrors=(
                "Unverified mirrors you may set as source at your own risk: "
                f"[{HF_DATASETS}spaq.tgz, {HF_METAINFO}{P.PYIQA_META['spaq'][0]}] (the archive is reported "
                f"not to extract cleanly) or {WATERLOO}SPAQ.tar."
            ),
        ),
        root_markers=P.SPAQ_MARKERS,
        split_policy=RANDOM_BY_IMAGE,
        homepage="https://github.com/h4nwei/SPAQ",
        notes="full-size phone photos; papers resize the short side to 512 or 448",
    )


@DATASETS.register("flive")
def flive_spec(key: str, *, expected_count: int | None = None, title: str = "") -> DatasetSpec:
    """FLIVE (PaQ-2-PiQ): ~40k pictures, MOS 0-100 (higher better)."""
    return _spec(
        key,
        stored_size=(512, 384),  # images of many sizes: aspect not kept
        title=title or "FLIVE (PaQ-2-PiQ)",
        expected_count=expected_count,
        parse=P.parse_flive,
        score_range=(0.0, 100.0),
        higher_better=True,
        downloads=huggingface("flive.tgz"),
        root_markers=P.FLIVE_MARKERS,
        split_policy=RANDOM_BY_IMAGE + " (the official FLIVE split is not implemented)",
        homepage="https://github.com/niu-haoran/FLIVE_Database",
        notes="the official download is broken; the Hugging Face archive is the default. Only the "
        "picture labels (labels_image.csv) are used, not the patches.",
    )


@DATASETS.register("biq2021")
def biq2021_spec(
    key: str, *, subset: str = "all", expected_count: int | None = None, title: str = ""
) -> DatasetSpec:
    """BIQ2021: 12,000 photos (train 10,000 + test 2,000), MOS 0-1 (higher better). ``subset``:
    ``all``, ``train`` or ``test`` (e.g. a copy of the test split only)."""
    if subset not in P.BIQ2021_SUBSETS:
        raise ConfigError(f"datasets.{key}.subset: {subset!r} is not one of {list(P.BIQ2021_SUBSETS)}")
    if expected_count is None:
        expected_count = {"all": 12000, "train": 10000, "test": 2000}[subset]
    repo = "https://github.com/nisarahmedrana/BIQ2021"
    return _spec(
        key,
        stored_size=(512, 384),  # images of many sizes: aspect not kept
        title=title or "BIQ2021",
        expected_count=expected_count,
        parse=partial(P.parse_biq2021, subset=subset),
        score_range=(0.0, 1.0),
        higher_better=True,
        downloads=(
            DownloadOption(
                "official (GitHub main)",
                (RemoteFile(f"{repo}/archive/refs/heads/main.zip", name="BIQ2021-main.zip"),),
            ),
            DownloadOption(
                "official (GitHub master)",
                (RemoteFile(f"{repo}/archive/refs/heads/master.zip", name="BIQ2021-master.zip"),),
            ),
        ),
        root_markers=P.BIQ2021_MARKERS,
        official_splits=P.biq2021_official_splits if subset == "all" else None,
        split_policy="official train/test (val carved from train, seeded) and " + RANDOM_BY_IMAGE,
        homepage=repo,
        notes="names contain spaces and parentheses; 'ss02 (1014).JPG' differs in case from the CSV",
    )


# ------------------------------------------------------------------------------------------ synthetic
@DATASETS.register("kadid10k")
def kadid10k_spec(key: str, *, expected_count: int | None = 10125, title: str = "") -> DatasetSpec:
    """KADID-10k: 81 references x 25 distortions x 5 levels, MOS 1-5 (column ``dmos``; higher better)."""
    return _spec(
        key,
        stored_size=(512, 384),  # native size of every image
        title=title or "KADID-10k",
        expected_count=expected_count,
        parse=P.parse_kadid10k,
        score_range=(1.0, 5.0),
        higher_better=True,
        full_reference=True,
        split_by="reference",
        downloads=(
            DownloadOption("official", (RemoteFile(f"{MMSP}kadid10k.zip"),)),
            *huggingface("kadid10k.tgz", "kadid10k"),
            waterloo("KADID-10k"),
        ),
        root_markers=P.KADID_MARKERS,
        split_policy=RANDOM_BY_REFERENCE,
        homepage="https://database.mmsp-kn.de/kadid-10k-database.html",
    )


@DATASETS.register("pipal")
def pipal_spec(key: str, *, expected_count: int | None = 23200, title: str = "") -> DatasetSpec:
    """PIPAL (public training part): 200 references x 116 = 23,200 images, Elo ~900-1860 (higher
    better). The raw range used for normalisation is fixed at 800-2000."""
    return _spec(
        key,
        stored_size=(288, 288),  # native size of every image
        title=title or "PIPAL (training part)",
        expected_count=expected_count,
        parse=P.parse_pipal,
        score_range=(800.0, 2000.0),
        higher_better=True,
        full_reference=True,
        split_by="reference",
        downloads=huggingface("pipal.tar", "pipal"),
        root_markers=P.PIPAL_MARKERS,
        split_policy=RANDOM_BY_REFERENCE + " (the NTIRE val/test parts have no public labels here)",
        homepage="https://github.com/HaomingCai/PIPAL-dataset",
        notes="official download via Google Drive / CodaLab; the Hugging Face archive is the default",
    )


@DATASETS.register("tid2013")
def tid2013_spec(key: str, *, expected_count: int | None = 3000, title: str = "") -> DatasetSpec:
    """TID2013: 25 references x 24 distortions x 5 levels, MOS 0-9 (higher better)."""
    return _spec(
        key,
        stored_size=(512, 384),  # native size of every image
        title=title or "TID2013",
        expected_count=expected_count,
        parse=P.parse_tid2013,
        score_range=(0.0, 9.0),
        higher_better=True,
        full_reference=True,
        split_by="reference",
        downloads=(
            DownloadOption(
                "official",
                (RemoteFile("https://www.ponomarenko.info/tid2013/tid2013.rar"),),
                note="RAR: needs unrar, bsdtar or 7z",
            ),
            *huggingface("tid2013.tgz", "tid2013"),
            waterloo("TID2013"),
        ),
        root_markers=P.TID2013_MARKERS,
        split_policy=RANDOM_BY_REFERENCE,
        homepage="https://www.ponomarenko.info/tid2013.htm",
    )


@DATASETS.register("live")
def live_spec(key: str, *, expected_count: int | None = 779, title: str = "") -> DatasetSpec:
    """LIVE IQA release 2: 29 references, 779 distorted images, realigned DMOS (lower better)."""
    return _spec(
        key,
        stored_size=(512, 384),  # images of 634x438 to 768x512: aspect not kept
        title=title or "LIVE IQA (release 2)",
        expected_count=expected_count,
        parse=P.parse_live,
        score_range=(0.0, 100.0),
        higher_better=False,
        full_reference=True,
        split_by="reference",
        downloads=(*huggingface("live.tgz", "live"), waterloo("LIVE")),
        root_markers=P.LIVE_MARKERS,
        split_policy=RANDOM_BY_REFERENCE,
        homepage="https://live.ece.utexas.edu/research/quality/subjective.htm",
        notes="the official download needs a form and password; mirrors are the default",
    )


@DATASETS.register("csiq")
def csiq_spec(key: str, *, expected_count: int | None = 866, title: str = "") -> DatasetSpec:
    """CSIQ: 30 references, 866 distorted images, DMOS 0-1 (lower better)."""
    return _spec(
        key,
        stored_size=(512, 512),  # native size of every image
        title=title or "CSIQ",
        expected_count=expected_count,
        parse=P.parse_csiq,
        score_range=(0.0, 1.0),
        higher_better=False,
        full_reference=True,
        split_by="reference",
        downloads=(*huggingface("csiq.tgz", "csiq"), waterloo("CSIQ")),
        root_markers=P.CSIQ_MARKERS,
        split_policy=RANDOM_BY_REFERENCE,
        homepage="https://s2.smu.edu/~eclarson/csiq.html",
    )


#: the keys registered here (the real datasets)
REAL_DATASETS = (
    "livec",
    "koniq10k",
    "bid",
    "spaq",
    "flive",
    "biq2021",
    "kadid10k",
    "pipal",
    "tid2013",
    "live",
    "csiq",
)


def describe(key: str, options: dict | None = None) -> dict:
    """A JSON-able summary of a registered real dataset (for ``gmc list datasets`` and reports)."""
    from gmc.data.datasets import build_dataset_spec

    spec = build_dataset_spec(key, options or {})
    return {
        "key": spec.key,
        "title": spec.title,
        "kind": "FR" if spec.full_reference else "NR",
        "expected_count": spec.expected_count,
        "score_range": list(spec.score_range),
        "higher_better": spec.higher_better,
        "split_by": spec.split_by,
        "split_policy": spec.split_policy,
        "official_split": spec.official_splits is not None,
        "downloads": [{"label": d.label, "urls": [f.url for f in d.files]} for d in spec.downloads],
        "manual_download": spec.manual_download,
        "homepage": spec.homepage,
        "notes": spec.notes,
    }
