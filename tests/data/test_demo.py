"""The synthetic demo datasets: deterministic, well-formed, labelled SYNTHETIC, readable as a csv dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.stats import spearmanr

from gmc.data.datasets import LABEL_COLUMNS, build_dataset_spec, csv_spec
from gmc.data.demo import DEMO_PRESETS, demo_dataset_options, generate_demo_dataset, simulate_ratings

N, SIZE = 24, 64


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("demo")
    return {
        preset: generate_demo_dataset(preset, root / preset, n_images=N, image_size=SIZE)
        for preset in ("demo_scenes", "demo_textures", "demo_fr")
    }


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_presets_declared():
    assert {"demo_scenes", "demo_textures", "demo_fr"} <= set(DEMO_PRESETS)
    scenes, textures = DEMO_PRESETS["demo_scenes"], DEMO_PRESETS["demo_textures"]
    assert not set(scenes.sources) & set(textures.sources)  # different content ...
    assert set(scenes.distortions) != set(textures.distortions)  # ... and a different distortion mix
    assert DEMO_PRESETS["demo_fr"].full_reference and not scenes.full_reference


def test_same_seed_is_byte_identical(generated, tmp_path):
    again = generate_demo_dataset("demo_scenes", tmp_path / "again", n_images=N, image_size=SIZE)
    assert _files(again) == _files(generated["demo_scenes"])
    other = generate_demo_dataset("demo_scenes", tmp_path / "other", n_images=N, image_size=SIZE, seed=1)
    assert (other / "labels.csv").read_bytes() != (again / "labels.csv").read_bytes()


def test_fr_is_deterministic_too(generated, tmp_path):
    again = generate_demo_dataset("demo_fr", tmp_path / "again", n_images=N, image_size=SIZE)
    assert _files(again) == _files(generated["demo_fr"])


@pytest.mark.parametrize("preset", ["demo_scenes", "demo_textures", "demo_fr"])
def test_columns_ranges_and_images(generated, preset):
    folder = generated[preset]
    labels = pd.read_csv(folder / "labels.csv")
    expected = ["image", "mos", "mos_std", "content"]
    if DEMO_PRESETS[preset].full_reference:
        expected.append("reference")
    assert list(labels.columns[: len(expected)]) == expected
    assert len(labels) == N and labels["image"].is_unique
    assert labels[expected].notna().all().all()
    assert labels["mos"].between(1, 5).all() and labels["mos_std"].between(0, 2).all()
    assert labels["mos"].std() > 0.3  # scores spread over the scale
    for name in labels["image"]:
        with Image.open(folder / name) as image:
            assert image.size == (SIZE, SIZE) and image.mode == "RGB"
    assert len(list((folder / "images").iterdir())) == N
    # no temporary siblings left behind
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []


def test_nr_content_and_pristine(generated):
    labels = pd.read_csv(generated["demo_scenes"] / "labels.csv")
    assert labels["content"].is_unique  # one image per crop: NR splits by image are leak-free
    assert not (generated["demo_scenes"] / "references").exists()


def test_fr_references_exist(generated):
    folder = generated["demo_fr"]
    labels = pd.read_csv(folder / "labels.csv")
    per_reference = DEMO_PRESETS["demo_fr"].per_reference
    assert labels.groupby("reference").size().max() <= per_reference
    assert labels.groupby("content")["reference"].nunique().eq(1).all()
    for ref in labels["reference"].unique():
        assert ref.startswith("references/")
        with Image.open(folder / ref) as image:
            assert image.size == (SIZE, SIZE)
    # every distorted image differs from its reference
    for _, row in labels.iterrows():
        assert not np.array_equal(
            np.asarray(Image.open(folder / row["image"])), np.asarray(Image.open(folder / row["reference"]))
        )


@pytest.mark.parametrize("preset", ["demo_scenes", "demo_textures", "demo_fr"])
def test_readme_says_synthetic(generated, preset):
    text = (generated[preset] / "README.txt").read_text()
    assert "SYNTHETIC" in text and "NOT A HUMAN-RATED" in text
    assert "FSIM" in text and "raters" in text


def test_labels_follow_distortion_strength(tmp_path):
    folder = generate_demo_dataset("demo_textures", tmp_path / "t", n_images=60, image_size=SIZE, seed=3)
    labels = pd.read_csv(folder / "labels.csv")
    rho = spearmanr(labels["strength"], labels["mos"]).statistic
    assert rho < -0.4
    light = labels.loc[labels["strength"].between(0.01, 0.4), "mos"].mean()
    heavy = labels.loc[labels["strength"] > 0.7, "mos"].mean()
    assert heavy < light - 0.5
    pristine = labels.loc[labels["distortion"] == "pristine", "mos"]
    assert pristine.empty or pristine.mean() > light
    scores = pd.read_csv(folder / "fr_scores.csv")
    assert spearmanr(scores["mos_true"], labels["mos"]).statistic > 0.9  # rater noise is moderate


def test_rater_simulation_is_centred():
    rng = np.random.default_rng(0)
    mos, std = simulate_ratings(np.full(2000, 3.0), rng)
    assert abs(mos.mean() - 3.0) < 0.3 and 0.4 < std.mean() < 0.7


def test_existing_folder_refused_and_overwrite(generated, tmp_path):
    target = tmp_path / "demo"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        generate_demo_dataset("demo_scenes", target, n_images=4, image_size=SIZE)
    assert (target / "keep.txt").read_text() == "mine" and len(list(target.iterdir())) == 1
    generate_demo_dataset("demo_scenes", target, n_images=4, image_size=SIZE, overwrite=True)
    assert not (target / "keep.txt").exists() and len(pd.read_csv(target / "labels.csv")) == 4
    empty = tmp_path / "empty"
    empty.mkdir()
    generate_demo_dataset("demo_scenes", empty, n_images=4, image_size=SIZE)  # an empty folder is fine
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo", "empty"]  # no partial folders left


def test_failure_leaves_nothing(tmp_path, monkeypatch):
    import gmc.data.demo as demo

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(demo, "_fr_scores", boom)
    with pytest.raises(RuntimeError, match="boom"):
        generate_demo_dataset("demo_scenes", tmp_path / "x", n_images=4, image_size=SIZE)
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(tmp_path):
    with pytest.raises(KeyError, match="demo_scenes"):
        generate_demo_dataset("nope", tmp_path / "x")
    with pytest.raises(ValueError):
        generate_demo_dataset("demo_scenes", tmp_path / "x", image_size=16)


@pytest.mark.parametrize("preset", ["demo_scenes", "demo_textures", "demo_fr"])
def test_read_back_as_csv_dataset(generated, preset):
    options = demo_dataset_options(preset, n_images=N)
    spec = csv_spec(preset, **options)
    assert spec.synthetic_demo and spec.expected_count == N and spec.score_range == (1.0, 5.0)
    table = spec.parse(generated[preset])
    assert list(table.columns) == LABEL_COLUMNS and len(table) == N
    assert table["mos_raw"].between(1, 5).all() and table["std_raw"].notna().all()
    fr = DEMO_PRESETS[preset].full_reference
    assert spec.full_reference == fr
    assert spec.split_by == ("reference" if fr else "image")
    if fr:
        assert (table["reference"] != "").all()
        assert table["content"].nunique() < len(table)
    else:
        assert (table["reference"] == "").all()
    # the config route: {type: csv, **options}
    assert build_dataset_spec(preset, {"type": "csv", **options}).title == spec.title
