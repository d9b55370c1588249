"""validate_labels: count, range, NaN, duplicates, missing and undecodable images reported by name."""

from __future__ import annotations

import numpy as np
import pytest

from gmc.data.datasets import build_dataset_spec
from gmc.data.validate import DatasetValidationError, check_image, validate_labels

from .layouts import build_kadid, build_koniq, jpeg_bytes


@pytest.fixture
def koniq(tmp_path):
    root, _ = build_koniq(tmp_path, n=6)
    spec = build_dataset_spec("koniq10k", {"expected_count": 6})
    return spec, root, spec.parse(root)


def test_valid_dataset_passes_with_report(koniq):
    spec, root, table = koniq
    out, report = validate_labels(spec, root, table)
    assert len(out) == 6 and report["ok"] and report["n_valid"] == 6
    assert report["n_files_checked"] == 6 and report["missing"] == [] and report["undecodable"] == []
    assert 1 <= report["score_min"] <= report["score_max"] <= 5


def test_truncated_jpeg_is_named(koniq):
    spec, root, table = koniq
    victim = root / table["image"].iloc[2]
    data = jpeg_bytes(seed=5, size=64)
    victim.write_bytes(data[: len(data) // 2])
    assert check_image(victim) is not None
    with pytest.raises(DatasetValidationError) as err:
        validate_labels(spec, root, table)
    assert table["image"].iloc[2] in str(err.value)
    assert err.value.report["undecodable"][0]["image"] == table["image"].iloc[2]
    # dropping instead: the row goes and the report lists it
    out, report = validate_labels(spec, root, table, drop_bad_images=True)
    assert len(out) == 5 and table["image"].iloc[2] not in set(out["image"])
    assert report["dropped"] == [table["image"].iloc[2]] and report["ok"]


def test_missing_and_garbage_files_are_named(koniq):
    spec, root, table = koniq
    (root / table["image"].iloc[0]).unlink()
    (root / table["image"].iloc[1]).write_bytes(b"not an image at all")
    with pytest.raises(DatasetValidationError) as err:
        validate_labels(spec, root, table)
    msg = str(err.value)
    assert f"{table['image'].iloc[0]} (missing)" in msg
    assert table["image"].iloc[1] in msg
    assert err.value.report["missing"] == [table["image"].iloc[0]]


def test_label_problems(koniq):
    spec, root, table = koniq
    bad = table.copy()
    bad.loc[0, "mos_raw"] = np.nan
    bad.loc[1, "mos_raw"] = 7.5
    bad.loc[3, "image"] = bad.loc[2, "image"]
    with pytest.raises(DatasetValidationError) as err:
        validate_labels(spec, root, bad, drop_bad_images=True)
    msg = str(err.value)
    assert "without a finite score: " + table["image"].iloc[0] in msg
    assert f"{table['image'].iloc[1]} (7.5)" in msg and "outside the range [1, 5]" in msg
    assert "duplicate image names: " + table["image"].iloc[2] in msg


def test_expected_count(koniq):
    _, root, table = koniq
    spec = build_dataset_spec("koniq10k", {})  # expects 10,073
    with pytest.raises(DatasetValidationError, match="expected 10073 images, the labels list 6"):
        validate_labels(spec, root, table)


def test_bad_reference_drops_its_rows(tmp_path):
    root, want = build_kadid(tmp_path, n_refs=2, n_dist=2)
    spec = build_dataset_spec("kadid10k", {"expected_count": want["n"]})
    table = spec.parse(root)
    (root / "images" / "I01.png").write_bytes(b"\x89PNG broken")
    out, report = validate_labels(spec, root, table, drop_bad_images=True)
    assert set(report["dropped"]) == {"images/I01_01_01.png", "images/I01_02_01.png"}
    assert (out["reference"] == "images/I02.png").all()
