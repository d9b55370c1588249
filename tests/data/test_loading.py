"""Split files are checked against the manifest wherever they are written or read: an image missing from
a split, one listed in two parts, or an official split that leaks is an error naming the file, never a
silently smaller training or test part."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from gmc.cli import main
from gmc.data.cache import build_cache
from gmc.data.loading import load_image_set
from gmc.data.manifest import MANIFEST_COLUMNS


@pytest.fixture
def tiny_set(tmp_path):
    """Eight 8x8 PNGs, their manifest and their cache at 8 px."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(8):
        path = tmp_path / "images" / f"im{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(path)
        rows.append([f"im{i}.png", path.as_posix(), "", f"im{i}.png", 1.0 + i, "", i / 7])
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(rows, columns=MANIFEST_COLUMNS).to_csv(manifest, index=False)
    cache = tmp_path / "cache.npy"
    build_cache(manifest, 8, cache)
    return manifest, cache


def split_file(path, parts: dict[str, str]):
    pd.DataFrame({"image": list(parts), "split": 0, "part": list(parts.values())}).to_csv(path, index=False)
    return path


FULL = {f"im{i}.png": part for i, part in enumerate(["train"] * 4 + ["val"] * 2 + ["test"] * 2)}


def test_a_complete_split_loads_its_part(tiny_set, tmp_path):
    manifest, cache = tiny_set
    splits = split_file(tmp_path / "s.csv", FULL)
    data = load_image_set(manifest, cache, split_csv=splits, split=0, part="test")
    assert data.names == ["im6.png", "im7.png"]
    assert data.images.shape == (2, 3, 8, 8)


def test_a_split_that_omits_manifest_images_is_an_error_not_a_silent_drop(tiny_set, tmp_path):
    manifest, cache = tiny_set
    partial = {k: v for k, v in FULL.items() if k not in ("im0.png", "im1.png")}
    splits = split_file(tmp_path / "s.csv", partial)
    with pytest.raises(ValueError, match=r"s\.csv does not match .*manifest\.csv.*not assigned.*im0\.png"):
        load_image_set(manifest, cache, split_csv=splits, split=0, part="train")


def test_a_split_listing_an_image_twice_is_an_error(tiny_set, tmp_path):
    manifest, cache = tiny_set
    splits = split_file(tmp_path / "s.csv", FULL)
    table = pd.read_csv(splits)
    leaked = pd.concat([table, pd.DataFrame([{"image": "im0.png", "split": 0, "part": "test"}])])
    leaked.to_csv(splits, index=False)
    with pytest.raises(ValueError, match=r"listed twice.*im0\.png"):
        load_image_set(manifest, cache, split_csv=splits, split=0, part="test")


def test_gmc_split_refuses_an_official_split_that_leaks(tiny_set, tmp_path, monkeypatch, capsys):
    manifest, _ = tiny_set
    leaking = pd.DataFrame(
        {
            "image": [f"im{i}.png" for i in range(8)] + ["im0.png"],
            "split": 0,
            "part": ["train"] * 6 + ["test"] * 2 + ["test"],
        }
    )
    monkeypatch.setattr("gmc.data.splits.official_splits", lambda *a, **k: leaking)
    out = tmp_path / "official.csv"
    dataset_json = tmp_path / "dataset.json"
    dataset_json.write_text(json.dumps({"root": tmp_path.as_posix()}))
    args = ["split", "--manifest", str(manifest), "--out", str(out), "--dataset", "mine"]
    options = '{"type": "csv", "score_range": [1, 8]}'
    official = ["--options", options, "--protocol", "official", "--dataset-json", str(dataset_json)]
    assert main([*args, *official]) == 2  # a user error: the message, no traceback
    assert re.match(r"error: official splits of dataset 'mine'.*im0\.png", capsys.readouterr().err)
    assert not out.exists()


def test_a_part_too_large_for_memory_stays_memory_mapped(tiny_set, tmp_path, monkeypatch):
    import torch

    from gmc.data import loading

    manifest, cache = tiny_set
    splits = split_file(tmp_path / "s.csv", FULL)
    in_memory = load_image_set(manifest, cache, split_csv=splits, split=0, part="train")
    monkeypatch.setattr(loading, "IN_MEMORY_SHARE", 0.0)  # every part is "too large"
    mapped = load_image_set(manifest, cache, split_csv=splits, split=0, part="train")
    assert isinstance(mapped.images, loading.MappedImages) and isinstance(in_memory.images, torch.Tensor)
    assert mapped.images.shape == in_memory.images.shape == (4, 3, 8, 8)
    for key in (torch.tensor([3, 0, 2]), slice(1, 3), np.array([1])):
        assert torch.equal(mapped.images[key], in_memory.images[key])
