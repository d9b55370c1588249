"""fetch -> extract -> parse -> validate -> split, from local archives, file:// and loopback URLs, local
folders, mirror fallback and manual placement."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from gmc.data.datasets import DATASETS, DatasetSpec, DownloadOption, RemoteFile, build_dataset_spec
from gmc.data.download import ChecksumError, HashLock
from gmc.data.fetch import FetchError, ManualDownloadRequired, dataset_root, fetch_dataset
from gmc.data.splits import check_splits, make_splits, official_splits
from gmc.data.validate import validate_labels

from .layouts import build_bid, build_biq2021, build_kadid, build_koniq, build_livec, make_tar, make_zip

QUIET = {"progress": False, "timeout": (2.0, 2.0), "retries": 1, "backoff": 0.01}


def _chain(key, options, root, *, group_by="image"):
    spec = build_dataset_spec(key, options)
    table, report = validate_labels(spec, root, spec.parse(root))
    splits = make_splits(table, n_splits=2, seed=0, group_by=group_by)
    check_splits(splits, table, group_by=group_by)
    return spec, table, report, splits


def test_livec_local_archive(tmp_path):
    src, want = build_livec(tmp_path / "src")
    archive = make_zip(src, tmp_path / "ChallengeDB_release.zip", arcroot="ChallengeDB_release")
    options = {"source": str(archive), "expected_count": len(want["images"])}
    dest, lock_path = tmp_path / "resources" / "livec", tmp_path / "resources" / "lock.json"
    root = fetch_dataset("livec", options, dest, lock_path, progress=False)
    assert root == dest / "data" / "ChallengeDB_release"
    assert dataset_root("livec", dest) == root
    _, table, report, splits = _chain("livec", options, root)
    assert report["ok"] and len(table) == len(want["images"])
    assert set(splits["part"]) == {"train", "val", "test"}
    entry = json.loads(lock_path.read_text())["archives"]["livec/ChallengeDB_release.zip"]
    stamp = json.loads((dest / "fetched.json").read_text())
    assert stamp["archives"][0]["sha256"] == entry["sha256"]
    # a rerun is a no-op; a tampered archive is refused and the extracted tree stays as it was
    assert fetch_dataset("livec", options, dest, lock_path, progress=False) == root
    with open(archive, "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ChecksumError, match="livec/ChallengeDB_release.zip"):
        fetch_dataset("livec", options, dest, lock_path, progress=False, force=True)
    assert (root / "Data" / "AllMOS_release.mat").is_file()


def test_koniq_from_loopback_urls_with_official_split(http_server, tmp_path):
    src, want = build_koniq(tmp_path / "src", n=9)
    (tmp_path / "img").mkdir()
    (src / "1024x768").rename(tmp_path / "img" / "1024x768")
    http_server.files["/koniq10k_1024x768.zip"] = make_zip(tmp_path / "img", tmp_path / "i.zip").read_bytes()
    http_server.files["/koniq10k_scores_and_distributions.zip"] = make_zip(
        src, tmp_path / "s.zip"
    ).read_bytes()
    options = {
        "source": [
            http_server.url("/koniq10k_1024x768.zip"),
            http_server.url("/koniq10k_scores_and_distributions.zip"),
        ],
        "expected_count": 9,
    }
    dest = tmp_path / "koniq10k"
    root = fetch_dataset("koniq10k", options, dest, tmp_path / "lock.json", **QUIET)
    assert root == dest / "data"
    assert (dest / "archives" / "koniq10k_1024x768.zip").is_file()
    _, table, _, _ = _chain("koniq10k", options, root)
    split = official_splits("koniq10k", root, options=options)
    assert set(split["image"]) == set(table["image"])
    assert split["part"].value_counts().to_dict() == {"train": 3, "val": 3, "test": 3}
    assert set(HashLock(tmp_path / "lock.json").entries()) == {
        "koniq10k/koniq10k_1024x768.zip",
        "koniq10k/koniq10k_scores_and_distributions.zip",
    }


def test_koniq_local_archive_mirror_layout(tmp_path):
    src, want = build_koniq(tmp_path / "src", n=6)
    archive = make_tar(src, tmp_path / "koniq10k.tgz", arcroot="koniq10k")  # one top folder, as in mirrors
    options = {"source": str(archive), "expected_count": 6}
    root = fetch_dataset("koniq10k", options, tmp_path / "koniq10k", tmp_path / "lock.json", progress=False)
    assert root == tmp_path / "koniq10k" / "data" / "koniq10k"
    _, table, _, splits = _chain("koniq10k", options, root)
    assert list(table["image"]) == want["images"]
    assert official_splits("koniq10k", root)["part"].value_counts().to_dict() == {
        "train": 2,
        "val": 2,
        "test": 2,
    }


def test_kadid_file_url_fr_split_by_reference(tmp_path):
    src, want = build_kadid(tmp_path / "src", n_refs=5, n_dist=3)
    archive = make_tar(src, tmp_path / "kadid10k.tgz", arcroot="kadid10k")
    options = {"type": "kadid10k", "source": archive.as_uri(), "expected_count": want["n"]}
    root = fetch_dataset("kadid_small", options, tmp_path / "kadid_small", tmp_path / "lock.json", **QUIET)
    assert root.name == "kadid10k"
    spec, table, report, splits = _chain("kadid_small", options, root, group_by="content")
    assert spec.full_reference and (table["reference"] != "").all()
    assert report["n_files_checked"] == want["n"] + 5  # distorted + references


def test_mirror_archive_plus_pyiqa_meta_csv(http_server, tmp_path):
    src, want = build_kadid(tmp_path / "src", n_refs=3, n_dist=2)
    labels = pd.read_csv(src / "dmos.csv")
    (src / "dmos.csv").unlink()  # the mirror ships images only; labels come from pyiqa's meta-info CSV
    meta = labels.rename(columns={"dist_img": "dist_name", "ref_img": "ref_name", "var": "std"})
    http_server.files["/kadid10k.tgz"] = make_tar(src, tmp_path / "k.tgz", arcroot="kadid10k").read_bytes()
    http_server.files["/meta_info_KADID10kDataset.csv"] = meta.to_csv(index=False).encode()
    options = {
        "source": [http_server.url("/kadid10k.tgz"), http_server.url("/meta_info_KADID10kDataset.csv")],
        "expected_count": want["n"],
    }
    root = fetch_dataset("kadid10k", options, tmp_path / "kadid10k", tmp_path / "lock.json", **QUIET)
    assert (
        root == tmp_path / "kadid10k" / "data"
        and (root / "meta_info" / "meta_info_KADID10kDataset.csv").is_file()
    )
    _, table, _, _ = _chain("kadid10k", options, root, group_by="content")
    assert table["image"].str.startswith("kadid10k/images/").all()


def test_local_folder_is_used_in_place(tmp_path):
    src, _ = build_biq2021(tmp_path / "copy")
    options = {"source": str(tmp_path / "copy"), "expected_count": 12}
    dest = tmp_path / "biq2021"
    root = fetch_dataset("biq2021", options, dest, tmp_path / "lock.json", progress=False)
    assert root == src.resolve() and not (dest / "data").exists()
    _, table, _, _ = _chain("biq2021", options, root)
    split = official_splits("biq2021", root)
    assert (split["part"] == "test").sum() == 4


def test_shared_biq2021_copy_through_the_chain(shared_data, tmp_path):
    options = {"source": str(shared_data / "biq2021-test"), "subset": "test"}
    root = fetch_dataset("biq2021", options, tmp_path / "biq2021", tmp_path / "lock.json", progress=False)
    spec = build_dataset_spec("biq2021", options)
    table, report = validate_labels(spec, root, spec.parse(root), check_images=False)
    assert report["n_valid"] == 2000
    assert make_splits(table, n_splits=1, seed=0)["part"].value_counts()["test"] == 400


def _register_fallback(url_bad: str, url_good: str) -> str:
    from gmc.data.datasets import parsers as P

    name = "test_fallback_kadid"

    def factory(key, *, bad: str, good: str, expected_count: int | None = None) -> DatasetSpec:
        return DatasetSpec(
            key=key,
            parse=P.parse_kadid10k,
            score_range=(1.0, 5.0),
            full_reference=True,
            split_by="reference",
            expected_count=expected_count,
            root_markers=P.KADID_MARKERS,
            downloads=(
                DownloadOption("official", (RemoteFile(bad),)),
                DownloadOption("mirror", (RemoteFile(good, name="kadid10k.tgz"),)),
            ),
        )

    if name not in DATASETS:
        DATASETS.register(name, factory)
    return name


def test_default_downloads_fall_back_to_the_mirror(http_server, tmp_path):
    src, want = build_kadid(tmp_path / "src", n_refs=2, n_dist=2)
    http_server.files["/mirror/kadid10k.tgz"] = make_tar(src, tmp_path / "k.tgz").read_bytes()
    kind = _register_fallback("", "")
    options = {
        "type": kind,
        "bad": http_server.url("/official/kadid10k.zip"),
        "good": http_server.url("/mirror/kadid10k.tgz"),
        "expected_count": want["n"],
    }
    root = fetch_dataset("kadid_fb", options, tmp_path / "kadid_fb", tmp_path / "lock.json", **QUIET)
    assert len(http_server.hits("/official/kadid10k.zip")) == 1  # 404: not retried
    _chain("kadid_fb", options, root, group_by="content")
    # an official archive that holds no dataset (e.g. a changed upstream layout) also falls back
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "readme.txt").write_text("moved")
    http_server.files["/official/junk.zip"] = make_zip(tmp_path / "junk", tmp_path / "junk.zip").read_bytes()
    options["bad"] = http_server.url("/official/junk.zip")
    root = fetch_dataset("kadid_fb", options, tmp_path / "kadid_fb1", tmp_path / "lock.json", **QUIET)
    assert root == tmp_path / "kadid_fb1" / "data"
    assert "kadid_fb/junk.zip" not in HashLock(tmp_path / "lock.json").entries()
    # every source failing is one clear error listing each
    options["good"] = http_server.url("/mirror/gone.tgz")
    with pytest.raises(FetchError, match="(?s)official: .*no dataset found.*mirror: .*404"):
        fetch_dataset("kadid_fb", options, tmp_path / "kadid_fb2", tmp_path / "lock.json", **QUIET)


def test_unresolvable_sources_end_quickly_with_the_clear_message(tmp_path):
    kind = _register_fallback("", "")
    options = {  # .invalid never resolves (RFC 2606)
        "type": kind,
        "bad": "http://official.invalid/kadid10k.zip",
        "good": "http://mirror.invalid/kadid10k.tgz",
    }
    t0 = time.monotonic()
    with pytest.raises(FetchError) as err:
        fetch_dataset(
            "kadid_dns",
            options,
            tmp_path / "kadid_dns",
            tmp_path / "lock.json",
            progress=False,
            retries=4,
            backoff=5,
        )
    elapsed = time.monotonic() - t0
    assert elapsed < 4, elapsed  # neither source waited for a backoff (5 s, 10 s, ...)
    msg = str(err.value)
    assert "official: " in msg and "'official.invalid' could not be resolved" in msg
    assert "mirror: " in msg and "'mirror.invalid' could not be resolved" in msg
    assert "No source host could be reached" in msg and "datasets.kadid_dns.source" in msg


@pytest.mark.parametrize("key", ["livec", "koniq10k", "kadid10k"])
def test_pyiqa_mirror_current_name_is_tried_before_the_old_one(key):
    downloads = build_dataset_spec(key, {"type": key}).downloads
    hf = "https://huggingface.co/datasets/chaofengc/"

    def first(repo: str) -> int:
        return next(i for i, d in enumerate(downloads) if d.files[0].url.startswith(f"{hf}{repo}/"))

    assert downloads[0].label == "official"
    current, old = first("IQA-Toolbox-Datasets"), first("IQA-PyTorch-Datasets")
    assert 0 < current < old < len(downloads) - 1 and downloads[-1].label == "waterloo"
    # each name is one option: the archive with the meta-info CSV of the same generation
    meta = "-metainfo/resolve/main/meta_info_"
    assert downloads[current].files[1].url.startswith(f"{hf}IQA-Toolbox-Datasets{meta}")
    assert downloads[old].files[1].url.startswith(f"{hf}IQA-PyTorch-Datasets{meta}")
    assert downloads[current].files[0].url.rsplit("/", 1)[1] == downloads[old].files[0].url.rsplit("/", 1)[1]
    assert len({d.label for d in downloads}) == len(downloads)  # the fetch error tells them apart


def test_manual_dataset_message_then_placed_archive(tmp_path):
    dest = tmp_path / "resources" / "datasets" / "bid"
    options = {"expected_count": 4}
    with pytest.raises(ManualDownloadRequired) as err:
        fetch_dataset("bid", options, dest, tmp_path / "lock.json", progress=False)
    msg = str(err.value)
    assert "github.com/zwx8981/UNIQUE" in msg and "DatabaseGrades.xls" in msg and str(dest) in msg
    src, _ = build_bid(tmp_path / "src")
    make_zip(src, dest / "BID.zip", arcroot="BID")
    root = fetch_dataset("bid", options, dest, tmp_path / "lock.json", progress=False)
    assert root == dest / "data" / "BID"
    _, table, report, _ = _chain("bid", options, root)
    assert report["ok"] and len(table) == 4


def test_archive_without_the_dataset_leaves_nothing(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "readme.txt").write_text("hi")
    archive = make_zip(tmp_path / "junk", tmp_path / "junk.zip")
    dest = tmp_path / "livec"
    with pytest.raises(FileNotFoundError, match="AllMOS_release"):
        fetch_dataset("livec", {"source": str(archive)}, dest, tmp_path / "lock.json", progress=False)
    assert sorted(p.name for p in dest.iterdir()) == []
    assert HashLock(tmp_path / "lock.json").entries() == {}  # only archives that proved usable are recorded
    with pytest.raises(FileNotFoundError, match="has not been fetched"):
        dataset_root("livec", dest)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fetch_dataset("livec", {"source": str(tmp_path / "nope.zip")}, dest, tmp_path / "lock.json")
