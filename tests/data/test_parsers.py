"""Label parsers on tiny copies of each official layout, and on the real label files when ../shared is
present."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from gmc.data.datasets import DATASETS, LABEL_COLUMNS, build_dataset_spec
from gmc.data.datasets.catalog import REAL_DATASETS, describe
from gmc.data.datasets.parsers import FileIndex, LabelFormatError, find_root, parse_pyiqa_meta
from gmc.data.splits import official_splits
from gmc.data.validate import validate_labels

from .layouts import (
    build_bid,
    build_biq2021,
    build_csiq,
    build_flive,
    build_kadid,
    build_koniq,
    build_live,
    build_livec,
    build_pipal,
    build_spaq,
    build_tid2013,
)


def _check(table: pd.DataFrame, root, n: int | None = None) -> None:
    assert list(table.columns) == LABEL_COLUMNS
    if n is not None:
        assert len(table) == n
    assert not table["image"].duplicated().any()
    for rel in table["image"]:
        assert (root / rel).is_file(), rel
    for rel in set(table["reference"]) - {""}:
        assert (root / rel).is_file(), rel


def test_every_issue_dataset_is_registered_with_facts():
    for key in REAL_DATASETS:
        assert key in DATASETS
        spec = build_dataset_spec(key, {})
        info = describe(key)
        assert spec.score_range[0] < spec.score_range[1]
        assert spec.root_markers, key
        assert spec.downloads or spec.manual_download, key
        assert spec.split_policy
        assert info["kind"] == ("FR" if key in ("kadid10k", "pipal", "tid2013", "live", "csiq") else "NR")
        if spec.full_reference:
            assert spec.split_by == "reference"
    assert "UNIQUE" in build_dataset_spec("bid", {}).manual_download
    assert "resources/datasets" in build_dataset_spec("spaq", {}).manual_download
    assert any(
        "huggingface.co/datasets/chaofengc/IQA-PyTorch-Datasets" in u
        for u in build_dataset_spec("kadid10k", {}).sources
    )


def test_livec_mat_drops_training_images(tmp_path):
    root, want = build_livec(tmp_path)
    spec = build_dataset_spec("livec", {"expected_count": len(want["images"])})
    assert find_root(tmp_path, spec.root_markers) == root
    table = spec.parse(root)
    _check(table, root, len(want["images"]))
    assert list(table["image"]) == want["images"]
    np.testing.assert_allclose(table["mos_raw"], want["mos"])
    np.testing.assert_allclose(table["std_raw"], want["std"])
    assert not table["image"].str.contains("trainingImages").any()
    assert (table["content"] == table["image"]).all()


def test_koniq_csv_both_scales_and_official_split(tmp_path):
    root, want = build_koniq(tmp_path)
    table = build_dataset_spec("koniq10k", {}).parse(root)
    _check(table, root, 10)
    assert list(table["image"]) == want["images"]
    np.testing.assert_allclose(table["mos_raw"], want["mos"])
    z = build_dataset_spec("koniq10k", {"score": "mos_zscore"}).parse(root)
    np.testing.assert_allclose(z["mos_raw"], (want["mos"] - 1) * 25)
    # without the scores CSV the 1-5 MOS is recomputed from the c1..c5 fractions of the sets CSV
    (root / "koniq10k_scores_and_distributions.csv").unlink()
    np.testing.assert_allclose(build_dataset_spec("koniq10k", {}).parse(root)["mos_raw"], want["mos"])
    split = official_splits("koniq10k", root)
    assert list(split.columns) == ["image", "split", "part"]
    assert split.set_index("image").loc[want["images"][0], "part"] == "train"
    assert sorted(split["part"].value_counts().to_dict().items()) == [("test", 3), ("train", 4), ("val", 3)]


def test_biq2021_header_and_case_mismatch(tmp_path):
    root, rows = build_biq2021(tmp_path)
    table = build_dataset_spec("biq2021", {}).parse(root)
    _check(table, root, 12)
    assert "Images/ss02 (2).JPG" in set(table["image"])  # listed as .jpg, stored as .JPG
    assert table["mos_raw"].between(0, 1).all()
    test_only = build_dataset_spec("biq2021", {"subset": "test"})
    assert test_only.expected_count == 2000 and len(test_only.parse(root)) == 4
    split = official_splits("biq2021", root, seed=3)
    assert (split["part"] == "test").sum() == 4 and (split["part"] == "val").sum() == 1
    assert split.equals(official_splits("biq2021", root, seed=3))


def test_bid_xls(tmp_path):
    root, want = build_bid(tmp_path)
    table = build_dataset_spec("bid", {}).parse(root)
    _check(table, root, 4)
    assert list(table["image"]) == want["images"]
    assert np.isclose(table["std_raw"].iloc[0], np.std([1.0, 2.0, 1.5], ddof=1))


@pytest.mark.parametrize(
    "builder,key",
    [
        (build_kadid, "kadid10k"),
        (build_pipal, "pipal"),
        (build_tid2013, "tid2013"),
        (build_live, "live"),
        (build_csiq, "csiq"),
        (build_spaq, "spaq"),
        (build_flive, "flive"),
    ],
)
def test_official_layouts_parse_and_validate(tmp_path, builder, key):
    root, want = builder(tmp_path)
    spec = build_dataset_spec(key, {"expected_count": want["n"]})
    assert find_root(tmp_path, spec.root_markers) == root
    table = spec.parse(root)
    _check(table, root, want["n"])
    if spec.full_reference:
        assert (table["reference"] != "").all()
        assert (table["content"] == table["reference"]).all()
    validate_labels(spec, root, table, check_images=key != "live")


def test_tid2013_std_and_reference(tmp_path):
    root, _ = build_tid2013(tmp_path)
    table = build_dataset_spec("tid2013", {"expected_count": 6}).parse(root)
    assert table["reference"].iloc[0] == "reference_images/I01.BMP"
    assert table["image"].iloc[0] == "distorted_images/I01_01_1.bmp"  # listed in lower case
    np.testing.assert_allclose(table["std_raw"].iloc[:3], [0.1, 0.2, 0.3])


def test_live_drops_reference_copies(tmp_path):
    root, want = build_live(tmp_path)
    table = build_dataset_spec("live", {}).parse(root)
    assert len(table) == want["n"]
    assert "jp2k/img2.bmp" in set(table["image"]) and "jp2k/img1.bmp" not in set(table["image"])
    assert table["reference"].str.startswith("refimgs/").all()


def test_pyiqa_meta_fallback(tmp_path):
    root = tmp_path / "mirror"
    (root / "meta_info").mkdir(parents=True)
    (root / "kadid10k" / "images").mkdir(parents=True)
    from .layouts import write_image

    for n in ("I01.png", "I01_01_01.png", "I01_01_02.png"):
        write_image(root / "kadid10k" / "images" / n)
    pd.DataFrame(
        {
            "ref_name": ["I01.png"] * 2,
            "dist_name": ["I01_01_01.png", "I01_01_02.png"],
            "dmos": [4.5, 3.0],
            "std": [0.5, 0.6],
        }
    ).to_csv(root / "meta_info" / "meta_info_KADID10kDataset.csv", index=False)
    spec = build_dataset_spec("kadid10k", {"expected_count": 2})
    assert find_root(root, spec.root_markers) == root
    table = spec.parse(root)
    assert list(table["image"]) == ["kadid10k/images/I01_01_01.png", "kadid10k/images/I01_01_02.png"]
    assert set(table["reference"]) == {"kadid10k/images/I01.png"}


def test_missing_label_file_is_named(tmp_path):
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(LabelFormatError, match="AllImages_release"):
        build_dataset_spec("livec", {}).parse(tmp_path)
    with pytest.raises(FileNotFoundError, match="none of the label files"):
        find_root(tmp_path, build_dataset_spec("koniq10k", {}).root_markers)


def test_file_index_case_and_suffix(tmp_path):
    for rel in ("a/Images/X (1).JPG", "a/Images/y.jpg", "b/jp2k/img1.bmp", "b/jpeg/img1.bmp"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    idx = FileIndex(tmp_path)
    assert idx.resolve("Images/x (1).jpg") == "a/Images/X (1).JPG"
    assert idx.resolve("jpeg/img1.bmp") == "b/jpeg/img1.bmp"
    assert idx.resolve("img1.bmp", prefer=("jp2k",)) == "b/jp2k/img1.bmp"
    assert idx.resolve("missing.jpg") is None


# ------------------------------------------------------------------------------- real label files
def test_real_biq2021_test_split(shared_data):
    root = shared_data / "biq2021-test"
    spec = build_dataset_spec("biq2021", {"subset": "test"})
    table = spec.parse(root)
    assert len(table) == 2000
    assert table["mos_raw"].between(0, 1).all() and table["mos_raw"].notna().all()
    assert not table["image"].duplicated().any()
    missing = [p for p in table["image"] if not (root / p).is_file()]
    assert not missing, missing[:5]
    _, report = validate_labels(spec, root, table, workers=2)  # every real photo decodes
    assert report["ok"] and report["n_files_checked"] == 2000


def test_real_koniq_csvs_and_official_split(shared_data, tmp_path):
    for f in (shared_data / "labels" / "koniq10k").glob("*.csv"):
        shutil.copy(f, tmp_path / f.name)
    table = build_dataset_spec("koniq10k", {}).parse(tmp_path)
    assert len(table) == 10073 and not table["image"].duplicated().any()
    assert table["mos_raw"].between(1, 5).all()
    split = official_splits("koniq10k", tmp_path)
    counts = split["part"].value_counts().to_dict()
    assert counts == {"train": 7058, "val": 1000, "test": 2015}
    assert set(split["image"]) == set(table["image"])
    # the sets CSV alone gives the same 1-5 MOS (recomputed from the rating fractions)
    (tmp_path / "koniq10k_scores_and_distributions.csv").unlink()
    again = build_dataset_spec("koniq10k", {}).parse(tmp_path)
    np.testing.assert_allclose(again["mos_raw"], table["mos_raw"], atol=1e-6)


def test_real_bid_grades(shared_data):
    table = build_dataset_spec("bid", {}).parse(shared_data / "labels" / "bid")
    assert len(table) == 586
    assert table["mos_raw"].between(0, 5).all()
    assert table["image"].iloc[0] == "DatabaseImage0001.JPG"


@pytest.mark.parametrize(
    "key,n,options",
    [
        ("kadid10k", 10125, {}),
        ("tid2013", 3000, {}),
        ("live", 779, {}),
        ("csiq", 866, {}),
        ("pipal", 23200, {}),
        ("spaq", 11125, {}),
        ("livec", 1162, {}),
        ("koniq10k", 10073, {}),
    ],
)
def test_real_pyiqa_meta_counts_and_ranges(shared_data, tmp_path, key, n, options):
    from gmc.data.datasets.parsers import PYIQA_META

    meta = shared_data / "labels" / "pyiqa-meta" / PYIQA_META[key][0]
    if not meta.is_file():
        pytest.skip(f"{meta.name} not in ../shared")
    (tmp_path / "meta_info").mkdir()
    shutil.copy(meta, tmp_path / "meta_info" / meta.name)
    spec = build_dataset_spec(key, options)
    table = spec.parse(tmp_path) if key in ("livec", "koniq10k") else parse_pyiqa_meta(tmp_path, key)[0]
    assert len(table) == n == spec.expected_count
    lo, hi = spec.score_range
    assert table["mos_raw"].between(lo, hi).all(), (table["mos_raw"].min(), table["mos_raw"].max())
    if spec.full_reference:
        assert table["reference"].nunique() > 1
