"""Paired augmentation and test-time augmentation (gmc.training.augment): the CIE L* scaling against
scikit-image, the same transform for both images of a pair, the documented draws, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import color

from gmc.errors import ConfigError
from gmc.training.augment import (
    ASNA_TTA_FACTORS,
    AUGMENTATIONS,
    TTA_VARIANTS,
    get_augmentation,
    get_tta,
    scale_lightness,
)


def _rand(*shape, seed=0, lo=0.0, hi=1.0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(*shape, generator=g, dtype=dtype)


# ----------------------------------------------------------------------------------- lightness scaling
@pytest.mark.filterwarnings("error")  # skimage warns when it clips out-of-gamut XYZ: then it is no reference
@pytest.mark.parametrize("factor", [0.3, 0.7, 1.5])
def test_lightness_scaling_matches_scikit_image_lab(factor):
    x = _rand(2, 3, 8, 8, lo=0.3, hi=0.7, dtype=torch.float64)  # in gamut before and after scaling
    expected = []
    for img in x.permute(0, 2, 3, 1).numpy():
        lab = color.rgb2lab(img)
        lab[..., 0] = np.clip(lab[..., 0] * factor, 0.0, 100.0)
        expected.append(color.lab2rgb(lab))
    got = scale_lightness(x, factor).permute(0, 2, 3, 1).numpy()
    # differences: the white point (OpenCV's row sums vs skimage's D65 constants) and rounded constants
    np.testing.assert_allclose(got, np.stack(expected), atol=1e-4)


def test_lightness_scaling_keeps_chroma_and_clips():
    x = _rand(1, 3, 8, 8, seed=1, lo=0.4, hi=0.6)  # low chroma: in gamut at half lightness, nothing clipped
    lab, scaled = (
        color.rgb2lab(t[0].permute(1, 2, 0).double().numpy()) for t in (x, scale_lightness(x, 0.5))
    )
    np.testing.assert_allclose(scaled[..., 0], 0.5 * lab[..., 0], atol=0.01)  # L* halved
    np.testing.assert_allclose(scaled[..., 1:], lab[..., 1:], atol=0.01)  # a*, b* kept
    white, black = torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
    torch.testing.assert_close(scale_lightness(white, 1.5), white)  # L* clipped at 100: still white
    torch.testing.assert_close(scale_lightness(black, 1.5), black)
    out = scale_lightness(_rand(2, 3, 8, 8, seed=2), 1.5)
    assert out.min() >= 0 and out.max() <= 1
    torch.testing.assert_close(scale_lightness(x, 1.0), x, atol=1e-5, rtol=0)


def test_per_image_factors_broadcast():
    x = _rand(3, 3, 4, 4, seed=3)
    factors = torch.tensor([0.3, 1.0, 1.5])[:, None, None, None]
    expected = torch.stack([scale_lightness(x[i], float(factors[i])) for i in range(3)])
    torch.testing.assert_close(scale_lightness(x, factors), expected, atol=1e-6, rtol=0)


# ------------------------------------------------------------------------------ training augmentation
def _manual_asna(x, ref, generator):
    """The documented draws and transforms of ``augment: asna``, written out with plain torch ops."""
    k = int(torch.randint(0, 4, (1,), generator=generator))
    hflip, vflip = (torch.rand(2, generator=generator) < 0.5).tolist()
    scaled = torch.rand(len(x), generator=generator) < 0.5
    factor = 0.3 + 1.2 * torch.rand(len(x), generator=generator)

    def apply(t):
        t = torch.rot90(t, k, dims=(2, 3))
        t = torch.flip(t, dims=[3]) if hflip else t
        t = torch.flip(t, dims=[2]) if vflip else t
        return torch.stack(
            [scale_lightness(t[i], float(factor[i])) if scaled[i] else t[i] for i in range(len(t))]
        )

    return apply(x), apply(ref), (k, hflip, vflip, int(scaled.sum()))


def test_asna_augmentation_applies_one_transform_to_both_images():
    seen = set()
    for seed in range(12):
        x, ref = _rand(6, 3, 8, 8, seed=seed), _rand(6, 3, 8, 8, seed=100 + seed)
        got_x, got_ref = AUGMENTATIONS["asna"](x, ref, torch.Generator().manual_seed(seed))
        want_x, want_ref, draws = _manual_asna(x, ref, torch.Generator().manual_seed(seed))
        torch.testing.assert_close(got_x, want_x, atol=1e-6, rtol=0)
        torch.testing.assert_close(got_ref, want_ref, atol=1e-6, rtol=0)
        seen.add(draws[:3])
        same, same_ref = AUGMENTATIONS["asna"](x, x.clone(), torch.Generator().manual_seed(seed))
        assert torch.equal(same, same_ref)  # a pair of equal images stays equal, bit for bit
    assert {k for k, _, _ in seen} == {0, 1, 2, 3} and len(seen) >= 6  # the seeds exercise the draws


def test_asna_augmentation_is_deterministic_and_no_reference_works():
    x, ref = _rand(4, 3, 8, 8, seed=0), _rand(4, 3, 8, 8, seed=1)
    a = AUGMENTATIONS["asna"](x, ref, torch.Generator().manual_seed(7))
    b = AUGMENTATIONS["asna"](x, ref, torch.Generator().manual_seed(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    nr, none = AUGMENTATIONS["asna"](x, None, torch.Generator().manual_seed(7))
    assert none is None and torch.equal(nr, a[0])  # no-reference: the same transform of the image alone


def test_no_augmentation_draws_nothing():
    x = _rand(2, 3, 4, 4)
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    out, ref = get_augmentation("none")(x, None, g)
    assert out is x and ref is None and torch.equal(g.get_state(), state)


def test_rotation_needs_square_images():
    with pytest.raises(ConfigError, match=r"train.augment 'asna'.*square.*8 x 6"):
        AUGMENTATIONS["asna"](_rand(2, 3, 6, 8), None, torch.Generator())
    with pytest.raises(ConfigError, match=r"train.tta 'asna'.*square"):
        [v(_rand(2, 3, 6, 8)) for v in get_tta("asna")]


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ConfigError, match="valid: none, asna"):
        get_augmentation("cutmix")
    with pytest.raises(ConfigError, match="train.tta.*valid: none, asna"):
        get_tta("ten_crop")


# ----------------------------------------------------------------------------- test-time augmentation
def test_asna_tta_has_the_22_official_variants():
    variants = get_tta("asna")
    assert len(variants) == 22 and len(get_tta("none")) == 1
    assert ASNA_TTA_FACTORS == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5)
    x = _rand(1, 3, 4, 4, seed=5)
    geometric = [torch.rot90(x, k, dims=(2, 3)) for k in range(4)]
    geometric += [x.flip(2), x.flip(3), x.flip(2).flip(3)]
    for variant, want in zip(variants[:7], geometric):
        assert torch.equal(variant(x), want)
    for variant, factor in zip(variants[7:], ASNA_TTA_FACTORS):
        torch.testing.assert_close(variant(x), scale_lightness(x, factor))
    assert set(TTA_VARIANTS) == set(AUGMENTATIONS) == {"none", "asna"}
