"""Crops for crop protocols (gmc.data.crops), the stored-resolution cache, and the engine using both.

Each image of the fixtures encodes its pixel coordinates (channel 0 = row, channel 1 = column,
channel 2 = image index), so a crop's position can be read back from its first pixel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from gmc.data.cache import build_cache, load_cache, parse_size
from gmc.data.crops import Views
from gmc.data.loading import ImageSet
from gmc.data.manifest import MANIFEST_COLUMNS
from gmc.data.protocol import DataProtocol
from gmc.errors import InputFileError
from gmc.training.engine import predict


def coordinate_images(n: int, height: int, width: int) -> torch.Tensor:
    rows = torch.arange(height)[:, None].expand(height, width)
    cols = torch.arange(width)[None, :].expand(height, width)
    return torch.stack([torch.stack([rows, cols, torch.full((height, width), i)]) for i in range(n)]).to(
        torch.uint8
    )


def crop_views(size: int, **fields) -> Views:
    return Views(DataProtocol.from_dict({"kind": "crop", **fields}), size)


def test_resize_protocol_passes_images_through_and_draws_no_random_number():
    images = coordinate_images(3, 8, 8)
    generator = torch.Generator().manual_seed(1)
    before = generator.get_state().clone()
    views = Views(DataProtocol(), 8)
    out, refs = views.train_batch(images, None, generator)
    assert out is images and refs is None
    assert torch.equal(generator.get_state(), before)
    assert views.train_samples(5) == 5 and views.test_boxes(8, 8) == [(0, 0)]


def test_random_training_crops_are_windows_of_their_own_image_and_its_reference():
    images = coordinate_images(6, 20, 30)
    references = images.clone()
    views = crop_views(8, train_crops=3)
    crops, ref_crops = views.train_batch(images, references, torch.Generator().manual_seed(0))
    assert crops.shape == (6, 3, 8, 8) and torch.equal(crops, ref_crops)
    for i, crop in enumerate(crops):
        top, left = int(crop[0, 0, 0]), int(crop[1, 0, 0])
        assert 0 <= top <= 12 and 0 <= left <= 22 and int(crop[2, 0, 0]) == i
        assert torch.equal(crop, images[i, :, top : top + 8, left : left + 8])
    assert views.train_samples(6) == 18


def test_test_boxes_hand_worked():
    # CNNIQA-style: a 4 x 4 grid of 32 px patches tiles a 128 px image exactly (non-overlapping)
    grid = crop_views(32, test_crops=16, test_crop_mode="grid").test_boxes(128, 128)
    assert grid == [(t, lf) for t in (0, 32, 64, 96) for lf in (0, 32, 64, 96)]
    # 3 x 3 grid of 224 crops in 384 x 512 (H x W): offsets 0, 80, 160 and 0, 144, 288
    grid = crop_views(224, test_crops=9, test_crop_mode="grid").test_boxes(384, 512)
    assert grid == [(t, lf) for t in (0, 80, 160) for lf in (0, 144, 288)]
    assert crop_views(224).test_boxes(384, 512) == [(80, 144)]
    random = crop_views(16, test_crops=5, test_crop_mode="random")
    boxes = random.test_boxes(40, 50)
    assert boxes == random.test_boxes(40, 50) and len(boxes) == 5  # fixed seed: the same every time
    assert all(0 <= t <= 24 and 0 <= lf <= 34 for t, lf in boxes)


class MeanPixel(nn.Module):
    """Score = mean intensity of the crop (in [0, 1]); one dummy parameter."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return self.w * x.mean(dim=(1, 2, 3))


def test_prediction_averages_the_test_crops():
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (4, 3, 64, 64), dtype=np.uint8)
    data = ImageSet(torch.from_numpy(array), torch.zeros(4), [f"{i}" for i in range(4)])
    # a 2 x 2 grid of 32 px crops tiles the image: the mean of crop means is the image mean
    tiled = predict(
        MeanPixel(), data, torch.device("cpu"), 3, views=crop_views(32, test_crops=4, test_crop_mode="grid")
    )
    np.testing.assert_allclose(tiled, array.astype(np.float64).mean(axis=(1, 2, 3)) / 255, rtol=1e-6)
    centre = predict(MeanPixel(), data, torch.device("cpu"), 3, views=crop_views(32))
    np.testing.assert_allclose(centre, array[:, :, 16:48, 16:48].mean(axis=(1, 2, 3)) / 255, rtol=1e-6)


def test_crops_larger_than_the_stored_images_are_refused_with_the_fix():
    with pytest.raises(
        InputFileError, match=r"images are 30x20 px, smaller than the 24 px crops.*stored_size"
    ):
        crop_views(24).check_fits(coordinate_images(1, 20, 30), "test set x")


def test_stored_resolution_cache_keeps_width_and_height(tmp_path):
    rows = []
    for i in range(3):
        path = tmp_path / f"im{i}.png"
        Image.fromarray(np.full((30, 40, 3), 10 * i, dtype=np.uint8)).save(path)
        rows.append([path.name, path.as_posix(), "", path.name, 1.0, "", 0.5])
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(rows, columns=MANIFEST_COLUMNS).to_csv(manifest, index=False)
    build_cache(manifest, parse_size("20x12"), tmp_path / "c.npy")
    cache = load_cache(tmp_path / "c.npy", manifest)
    assert cache.shape == (3, 3, 12, 20) and cache[2].min() == cache[2].max() == 20
    assert parse_size("224") == 224
    with pytest.raises(ValueError, match="give S"):
        parse_size("12x")
