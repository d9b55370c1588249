"""Labels files: no row reads a file outside the dataset root, and bad files end in one clear error naming
the file (and the line) and the fix, at the manifest step, not in a traceback or a later step."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from gmc.data.datasets import build_dataset_spec
from gmc.data.manifest import build_manifest
from gmc.data.validate import DatasetValidationError
from gmc.errors import InputFileError, UserError
from tests.conftest import REPO, copy_workflow, run_snakemake
from tests.data.layouts import build_biq2021

from .helpers_data import CSV_OPTIONS, csv_dataset, png_bytes

GOOD = {"a.png": png_bytes(1), "b.png": png_bytes(2)}


def _manifest(root, options=CSV_OPTIONS, **kwargs):
    return build_manifest(build_dataset_spec("mine", options), root, **kwargs)


# ---------------------------------------------------------------------------------- paths outside the root
@pytest.mark.parametrize(
    "name,reason",
    [
        ("../secret.png", "climbs out of the dataset root"),
        ("sub/../../secret.png", "climbs out of the dataset root"),
        ("{outside}", "is an absolute path"),
        ("C:/secret.png", "is an absolute path"),
    ],
)
def test_labels_rows_outside_the_root_are_refused(tmp_path, name, reason):
    (tmp_path / "secret.png").write_bytes(png_bytes(9))
    name = name.format(outside=(tmp_path / "secret.png").as_posix())
    root = csv_dataset(tmp_path / "ds", f"image,mos\na.png,2\n{name},3\nb.png,4\n", GOOD)
    with pytest.raises(DatasetValidationError) as err:
        _manifest(root)
    msg = str(err.value)
    assert str(root / "labels.csv") in msg and f"line 3: {name!r} {reason}" in msg
    report = err.value.report
    assert len(report["unsafe_paths"]) == 1 and report["n_files_checked"] == 2  # a.png, b.png: not secret


def test_a_row_through_a_link_leading_outside_is_refused(tmp_path):
    """A local dataset folder (source: a directory) whose Images/ is a link to another folder."""
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "secret.png").write_bytes(png_bytes(9))
    root = csv_dataset(tmp_path / "ds", "image,mos\na.png,2\nImages/secret.png,3\n", {"a.png": png_bytes(1)})
    (root / "Images").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(DatasetValidationError, match=r"line 3: 'Images/secret.png' leads outside the root"):
        _manifest(root)


def test_catalog_parsers_pass_through_the_same_check(tmp_path):
    """BIQ2021's parser keeps a listed name it cannot find as Images/<name>: '../../x' leaves the root."""
    root, _ = build_biq2021(tmp_path, n_train=2, n_test=2)
    (tmp_path / "secret.jpg").write_bytes(png_bytes(9))
    csv = root / "Test (Images and MOS).csv"
    csv.write_text(csv.read_text().replace("ss01 (1001).jpg", "../../secret.jpg"))
    spec = build_dataset_spec("biq2021", {"subset": "test", "expected_count": 2})
    with pytest.raises(DatasetValidationError) as err:
        build_manifest(spec, root)
    assert str(csv) in str(err.value) and "'Images/../../secret.jpg'" in str(err.value)


def test_dot_segments_are_collapsed(tmp_path):
    images = {"sub/a.png": png_bytes(1), "b.png": png_bytes(2)}
    root = csv_dataset(tmp_path / "ds", "image,mos\n./sub/./a.png,2\nsub/../b.png,3\n", images)
    manifest, report = _manifest(root)
    assert list(manifest["image"]) == ["b.png", "sub/a.png"] and report["ok"]
    assert list(manifest["path"]) == [(root / "b.png").as_posix(), (root / "sub/a.png").as_posix()]


# ------------------------------------------------------------------------------------- malformed labels
def test_empty_labels_file(tmp_path):
    root = csv_dataset(tmp_path / "ds", "", GOOD)
    with pytest.raises(InputFileError, match=rf"{tmp_path / 'ds' / 'labels.csv'} is empty: .*header line"):
        _manifest(root)


def test_semicolon_separated_labels_file(tmp_path):
    root = csv_dataset(tmp_path / "ds", "image;mos\na.png;2\nb.png;3\n", GOOD)
    with pytest.raises(InputFileError, match=r"labels\.csv: no column\(s\) \['image', 'mos'\].*semicolons"):
        _manifest(root)


def test_header_only_labels_file_fails_at_the_manifest(tmp_path):
    root = csv_dataset(tmp_path / "ds", "image,mos\n", GOOD)
    with pytest.raises(DatasetValidationError, match=r"labels\.csv lists no images"):
        _manifest(root)


def test_names_keep_leading_zeros(tmp_path):
    images = {"000": png_bytes(1), "007": png_bytes(2), "010": png_bytes(3)}
    root = csv_dataset(tmp_path / "ds", "image,mos\n000,2\n007,3\n010,4\n", images)
    manifest, report = _manifest(root)
    assert list(manifest["image"]) == ["000", "007", "010"] and report["ok"]


def test_a_score_that_is_not_a_number_is_named_with_its_line(tmp_path):
    rows = "".join(f"img{i}.png,{i}\n" for i in range(1, 5))
    labels = f"image,mos\n{rows}\nimg5.png,three\nimg6.png,\n"  # a blank line 6, then lines 7 and 8
    root = csv_dataset(tmp_path / "ds", labels, {f"img{i}.png": png_bytes(i) for i in range(1, 7)})
    with pytest.raises(InputFileError) as err:
        _manifest(root)
    msg = str(err.value)
    assert str(root / "labels.csv") in msg and "column 'mos'" in msg
    assert "line 7: 'three', line 8: ''" in msg and "remove those lines" in msg


def test_a_row_longer_than_the_header_is_named(tmp_path):
    root = csv_dataset(tmp_path / "ds", "image,mos\na.png,2\nb.png,3,extra\n", GOOD)
    with pytest.raises(InputFileError, match=r"labels\.csv, line 3: 3 values, but the header line has 2"):
        _manifest(root)


# --------------------------------------------------------------------------------------- drop_bad_images
def test_drop_bad_images_is_a_dataset_option_and_the_hint_names_it(tmp_path, caplog):
    images = {**GOOD, "c.png": b"not an image"}
    root = csv_dataset(tmp_path / "ds", "image,mos\na.png,2\nb.png,3\nc.png,4\n", images)
    with pytest.raises(DatasetValidationError, match=r"set datasets\.mine\.drop_bad_images: true"):
        _manifest(root)
    spec = build_dataset_spec("mine", {**CSV_OPTIONS, "drop_bad_images": True})
    with caplog.at_level(logging.WARNING, logger="gmc.data.validate"):
        manifest, report = build_manifest(spec, root, drop_bad_images=True)
    assert list(manifest["image"]) == ["a.png", "b.png"] and report["dropped"] == ["c.png"]
    assert "dropped 1 row(s)" in caplog.text and "c.png" in caplog.text


def test_the_manifest_rule_passes_drop_bad_images(tmp_path):
    """The workflow's manifest rule adds --drop-bad-images for datasets.<key>.drop_bad_images: true."""
    work = copy_workflow(tmp_path / "wf")
    config = tmp_path / "drop.yaml"
    config.write_text(
        "datasets:\n"
        "  demo_scenes: {type: demo, preset: demo_scenes, n_images: 40, image_size: 48,"
        " drop_bad_images: true}\n"
    )
    result = run_snakemake(
        work, ["config/ci.yaml", str(config)], "-n", "-p", "results/manifests/demo_scenes.csv"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = (result.stdout + result.stderr).splitlines()
    commands = [line for line in output if "python -m gmc manifest" in line]
    assert commands and all("--drop-bad-images" in line for line in commands)


# ------------------------------------------------------------------------------------ errors the CLI shows
def test_data_layer_errors_are_user_errors():
    from gmc.data import download, extract, fetch
    from gmc.data.datasets import parsers

    for cls, old_base in [
        (extract.UnsafeArchiveError, ValueError),
        (extract.ArchiveTooLargeError, ValueError),
        (extract.ExtractionToolMissing, RuntimeError),
        (download.DownloadError, RuntimeError),
        (download.HTTPStatusError, RuntimeError),
        (download.StalledDownloadError, RuntimeError),
        (download.HostUnreachableError, RuntimeError),
        (download.ChecksumError, RuntimeError),
        (download.InsufficientSpaceError, OSError),
        (fetch.FetchError, RuntimeError),
        (fetch.ManualDownloadRequired, FileNotFoundError),
        (parsers.LabelFormatError, ValueError),
        (parsers.AmbiguousImageError, ValueError),
        (parsers.DatasetNotFoundError, FileNotFoundError),
        (DatasetValidationError, ValueError),
    ]:
        assert issubclass(cls, UserError) and issubclass(cls, old_base), cls


def test_cli_manifest_on_a_bad_labels_file_prints_one_error(tmp_path):
    root = csv_dataset(tmp_path / "ds", "image;mos\na.png;2\nb.png;3\n", GOOD)
    (tmp_path / "dataset.json").write_text(json.dumps({"root": root.as_posix()}))
    result = subprocess.run(
        [sys.executable, "-m", "gmc", "manifest", "--dataset", "mine", "--options", json.dumps(CSV_OPTIONS)]
        + ["--dataset-json", str(tmp_path / "dataset.json"), "--out", str(tmp_path / "mine.csv")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,  # python -m gmc: this tree's package
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and str(root / "labels.csv") in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "mine.csv").exists()


def test_manifest_read_back_keeps_names_with_leading_zeros(tmp_path):
    """Names like 000.png survive the manifest round trip (the split files key on them as text)."""
    import pandas as pd

    from gmc.data.manifest import MANIFEST_COLUMNS, read_manifest

    rows = [["000", "d/000", "", "000", 1.0, "", 0.0], ["0010", "d/0010", "", "0010", 2.0, "", 1.0]]
    path = tmp_path / "m.csv"
    pd.DataFrame(rows, columns=MANIFEST_COLUMNS).to_csv(path, index=False)
    table = read_manifest(path)
    assert list(table["image"]) == ["000", "0010"] and list(table["content"]) == ["000", "0010"]
