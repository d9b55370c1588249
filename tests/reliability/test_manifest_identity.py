"""Image identity: one image under two spellings is a duplicate (two scores, and a train/test leak), byte-
identical images under different names are a warning, and every consumer uses the normalised names."""

from __future__ import annotations

import logging

import pytest

from gmc.data.datasets import build_dataset_spec
from gmc.data.manifest import build_manifest
from gmc.data.splits import check_splits, official_splits
from gmc.data.validate import DatasetValidationError, validate_labels
from tests.data.layouts import build_biq2021

from .helpers_data import CSV_OPTIONS, csv_dataset, png_bytes


def _manifest(root, options=CSV_OPTIONS):
    return build_manifest(build_dataset_spec("mine", options), root)


@pytest.mark.parametrize("spelling", ["./img1.jpg", "sub/../img1.jpg", ".//img1.jpg"])
def test_one_image_under_two_spellings_is_a_duplicate(tmp_path, spelling):
    images = {"img1.jpg": png_bytes(1), "img2.jpg": png_bytes(2)}
    labels = f"image,mos\n{spelling},2\nimg2.jpg,3\nimg1.jpg,4.5\n"
    root = csv_dataset(tmp_path / "ds", labels, images)
    with pytest.raises(DatasetValidationError) as err:
        _manifest(root)
    assert f"duplicate image names: img1.jpg (line 2 as {spelling!r}, line 4)" in str(err.value)
    assert str(root / "labels.csv") in str(err.value)


def test_identical_bytes_under_two_names_are_a_warning(tmp_path, caplog):
    images = {"a.png": png_bytes(1), "copy_of_a.png": png_bytes(1), "b.png": png_bytes(2)}
    root = csv_dataset(tmp_path / "ds", "image,mos\na.png,2\ncopy_of_a.png,3\nb.png,4\n", images)
    with caplog.at_level(logging.WARNING, logger="gmc.data.validate"):
        manifest, report = _manifest(root)
    assert report["ok"] and len(manifest) == 3
    assert [g["images"] for g in report["duplicate_content"]] == [["a.png", "copy_of_a.png"]]
    assert len(report["duplicate_content"][0]["sha256"]) == 64
    assert "1 group(s) of byte-identical images" in caplog.text and "a.png = copy_of_a.png" in caplog.text


def test_references_under_two_spellings_form_one_content_group(tmp_path):
    """FR sets are split by reference: './ref.png' and 'ref.png' must be one group, or the two distorted
    images of one reference can land in train and test."""
    images = {"ref.png": png_bytes(0), "d1.png": png_bytes(1), "d2.png": png_bytes(2)}
    root = csv_dataset(tmp_path / "ds", "image,ref,mos\nd1.png,./ref.png,2\nd2.png,ref.png,3\n", images)
    options = {**CSV_OPTIONS, "reference_column": "ref", "split_by": "reference"}
    manifest, _ = _manifest(root, options)
    assert list(manifest["content"]) == ["ref.png", "ref.png"]
    assert list(manifest["reference_path"]) == [(root / "ref.png").as_posix()] * 2


def test_official_split_names_match_the_manifest(tmp_path):
    """BIQ2021 listing './name' in its CSV: the manifest and the official split use the same name."""
    root, _ = build_biq2021(tmp_path, n_train=4, n_test=2)
    csv = root / "Test (Images and MOS).csv"
    csv.write_text(csv.read_text().replace("ss01 (1001).jpg", "./ss01 (1001).jpg"))
    spec = build_dataset_spec("biq2021", {"expected_count": 6})
    table, _ = validate_labels(spec, root, spec.parse(root))
    assert "Images/ss01 (1001).jpg" in set(table["image"])
    splits = official_splits("biq2021", root, options={"expected_count": 6})
    assert check_splits(splits, table)[0]["test"] == 2
