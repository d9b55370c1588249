r"""Paired training augmentation (``train.augment``) and test-time augmentation (``train.tta``), applied
identically to a distorted image and, for full-reference models, to its reference (heavy: imports torch).

Both work on float batches (B, 3, H, W) in [0, 1] on the training device, after the cached uint8 images
are converted (so no uint8 rounding happens between the steps). Each is a registry entry, so a config
names one and an unknown name fails with the valid ones.

**Lightness scaling** (:func:`scale_lightness`): the CIE L* channel of CIE Lab (sRGB primaries, D65
white) multiplied by a factor ``s`` with a* and b* kept, as the official ``scale_down_intensity`` does with
OpenCV's Lab conversion (github.com/smehdia/NTIRE2021-IQA-MACS ``data_generators/DataGenerator_pipal.py``,
``evaluation_ntire.py``). With ``f(t) = t^(1/3)`` for ``t > (6/29)^3`` else ``t / (3 (6/29)^2) + 4/29``
and the sRGB transfer function undone (``c / 12.92`` up to 0.04045, else ``((c + 0.055) / 1.055)^2.4``)::

    (X, Y, Z) = M rgb_linear / (X_n, Y_n, Z_n)       M: sRGB -> XYZ (D65), (X_n, Y_n, Z_n) = M (1, 1, 1)
    L* = 116 f(Y) - 16,  a* = 500 (f(X) - f(Y)),  b* = 200 (f(Y) - f(Z))
    L*' = clip(s L*, 0, 100)   ->   f(Y)' = (L*' + 16) / 116,  f(X)' = f(X) + f(Y)' - f(Y),
                                    f(Z)' = f(Z) + f(Y)' - f(Y)

then back through ``f^-1`` (exact: ``u^3`` above 6/29, else ``3 (6/29)^2 (u - 4/29)``), ``M^-1`` and the
sRGB transfer function, the linear RGB clipped to [0, 1] first (as OpenCV's Lab -> RGB). The clip of L* to
[0, 100] is the "clip to [0, 255]" of docs/asna.md on OpenCV's 8-bit L (= 2.55 L*); the official code
casts ``s * L`` to uint8 instead, which wraps around for bright pixels when ``s > 1``. Matrix and white:
OpenCV's (and scikit-image's) sRGB/D65 values; ``f`` with the exact CIE constants (continuous, exactly
invertible) where OpenCV rounds them (0.008856, 7.787).

**``augment: asna``** (docs/asna.md section 3; official ``DataGenerator_pipal.py``), drawn from the engine's
data generator in this order per batch: ``k`` uniform in 0..3, then a horizontal and a vertical flip
(p = 0.5 each) for the whole batch; then for each pair whether its lightness is scaled (p = 0.5) and the
factor ``s ~ U(0.3, 1.5)`` (both drawn for every pair, used or not, so the stream has a fixed length). A
batch is rotated by ``k`` quarter turns (counter-clockwise, ``torch.rot90``, as ``tf.image.rot90``), then
flipped; a selected pair is lightness-scaled by its ``s`` (the same for reference and distorted image).
Official differences: the official generator doubles the training set with one lightness-scaled copy of
every pair (drawn once, before training), so an epoch sees each pair once as it is and once scaled; here
each pair is scaled with p = 0.5 at every epoch, the same mix drawn afresh (an epoch has as many steps as
there are pairs). Its third random flip (both axes at once, i.e. a half turn) is left out: after a uniform
``k`` it does not change the distribution of the transform. The rotation needs square images: another
shape raises :class:`gmc.errors.ConfigError`.

**``tta: asna``** (official ``evaluation_ntire.py``): the mean of the model's scores over 22 variants of each
image (pair): rotations by 0, 90, 180, 270 degrees, a vertical flip, a horizontal flip, both flips, and
lightness factors 0.1, 0.2, ..., 1.5 (15). Official differences: ``imutils.rotate`` turns about the pixel
(s/2, s/2) with bilinear sampling, a one-pixel shift with a black border at even sizes; here the exact
``torch.rot90``. The official average also runs over an ensemble of saved models, which is not part of
this option. ``tta: none``: the image as it is.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from gmc.errors import ConfigError

Pair = tuple[torch.Tensor, torch.Tensor | None]

#: sRGB (linear) -> CIE XYZ, D65 (OpenCV's and scikit-image's ``xyz_from_rgb``)
_RGB_TO_XYZ = torch.tensor(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=torch.float64,
)
_WHITE = _RGB_TO_XYZ.sum(dim=1)  # XYZ of RGB (1, 1, 1): white has a* = b* = 0 exactly
_XYZ_TO_RGB = torch.linalg.inv(_RGB_TO_XYZ)
_DELTA = 6.0 / 29.0

#: the lightness factors of the official test-time augmentation: 0.1, 0.2, ..., 1.5
ASNA_TTA_FACTORS = tuple(round(0.1 * i, 1) for i in range(1, 16))
#: the range of the official training-time lightness factor
ASNA_TRAIN_FACTORS = (0.3, 1.5)


def _srgb_to_linear(c: torch.Tensor) -> torch.Tensor:
    return torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055).pow(2.4))


def _linear_to_srgb(c: torch.Tensor) -> torch.Tensor:
    return torch.where(c <= 0.0031308, 12.92 * c, 1.055 * c.clamp_min(0.0031308).pow(1.0 / 2.4) - 0.055)


def _f(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > _DELTA**3, t.clamp_min(_DELTA**3).pow(1.0 / 3.0), t / (3 * _DELTA**2) + 4.0 / 29.0)


def _f_inv(u: torch.Tensor) -> torch.Tensor:
    return torch.where(u > _DELTA, u.pow(3), 3 * _DELTA**2 * (u - 4.0 / 29.0))


def _mix(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``matrix`` (3 x 3) applied to the channel axis (-3) of ``x``."""
    return torch.einsum("ij,...jhw->...ihw", matrix.to(x.dtype), x)


def scale_lightness(x: torch.Tensor, factor: torch.Tensor | float) -> torch.Tensor:
    """``x`` (..., 3, H, W) sRGB in [0, 1] with its CIE L* multiplied by ``factor`` (a number, or a tensor
    broadcasting against ``x``, e.g. (B, 1, 1, 1)), a* and b* kept, clipped to the valid range (module
    docstring); returns a new tensor in [0, 1]."""
    shape = [1] * x.dim()
    shape[-3] = 3
    white = _WHITE.to(x.device, x.dtype).reshape(shape[-3:])
    fxyz = _f(_mix(_RGB_TO_XYZ.to(x.device), _srgb_to_linear(x.clamp(0.0, 1.0))) / white)
    fy = fxyz[..., 1:2, :, :]
    lightness = (116.0 * fy - 16.0) * factor
    shift = (lightness.clamp(0.0, 100.0) + 16.0) / 116.0 - fy
    xyz = _f_inv(fxyz + shift) * white
    return _linear_to_srgb(_mix(_XYZ_TO_RGB.to(x.device), xyz).clamp(0.0, 1.0)).clamp(0.0, 1.0)


def require_square(x: torch.Tensor, option: str) -> None:
    """Raise :class:`ConfigError` naming ``option`` unless the images of ``x`` are square (a quarter turn
    of a non-square image changes its shape)."""
    h, w = x.shape[-2:]
    if h != w:
        raise ConfigError(
            f"{option} rotates images by 90 degrees, which needs square inputs; the images are {w} x {h} "
            "(width x height). Fix: use a square input_size (or a square crop), or set the option to 'none'"
        )


# ------------------------------------------------------------------------------- training augmentation
def _no_augmentation(x: torch.Tensor, ref: torch.Tensor | None, generator: torch.Generator) -> Pair:
    """``augment: none``: the batch as it is (draws nothing)."""
    return x, ref


def _asna_augmentation(x: torch.Tensor, ref: torch.Tensor | None, generator: torch.Generator) -> Pair:
    """``augment: asna`` (module docstring): per batch a quarter-turn rotation and two flips, per pair a
    lightness scaling (p = 0.5, factor in U(0.3, 1.5)), the same for ``x`` and ``ref``."""
    require_square(x, "train.augment 'asna'")
    k = int(torch.randint(0, 4, (1,), generator=generator))
    hflip, vflip = (torch.rand(2, generator=generator) < 0.5).tolist()
    n = x.shape[0]
    scaled = (torch.rand(n, generator=generator) < 0.5).to(x.device)[:, None, None, None]
    lo, hi = ASNA_TRAIN_FACTORS
    factor = (lo + (hi - lo) * torch.rand(n, generator=generator)).to(x.device, x.dtype)[:, None, None, None]

    def apply(t: torch.Tensor) -> torch.Tensor:
        t = torch.rot90(t, k, dims=(-2, -1)) if k else t
        t = t.flip(-1) if hflip else t
        t = t.flip(-2) if vflip else t
        return torch.where(scaled, scale_lightness(t, factor), t) if bool(scaled.any()) else t

    return apply(x), None if ref is None else apply(ref)


#: ``train.augment`` name -> ``fn(x, ref, generator) -> (x, ref)``; ``ref`` is None for no-reference
#: models. Names must match the schema's enum (gmc/config/schema.yaml, ``train.augment``).
AUGMENTATIONS: dict[str, Callable[[torch.Tensor, torch.Tensor | None, torch.Generator], Pair]] = {
    "none": _no_augmentation,
    "asna": _asna_augmentation,
}


# ------------------------------------------------------------------------------ test-time augmentation
def _rotation(k: int) -> Callable[[torch.Tensor], torch.Tensor]:
    def rotate(t: torch.Tensor) -> torch.Tensor:
        require_square(t, "train.tta 'asna'")
        return torch.rot90(t, k, dims=(-2, -1)) if k else t

    return rotate


def _lightness(factor: float) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda t: scale_lightness(t, factor)


#: ``train.tta`` name -> the variants (functions of a batch) whose scores are averaged; each is applied
#: alike to the distorted image and its reference. Names must match the schema's enum (``train.tta``).
TTA_VARIANTS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], ...]] = {
    "none": (lambda t: t,),
    "asna": (
        *(_rotation(k) for k in range(4)),
        lambda t: t.flip(-2),  # official 'flip1': cv2.flip(img, 0), upside down
        lambda t: t.flip(-1),  # 'flip2': cv2.flip(img, 1), left-right
        lambda t: t.flip(-2).flip(-1),  # 'flip3': both
        *(_lightness(s) for s in ASNA_TTA_FACTORS),
    ),
}


def get_augmentation(name: str):
    """The training augmentation ``name`` (:data:`AUGMENTATIONS`); :class:`ConfigError` when unknown."""
    return _lookup(AUGMENTATIONS, name, "train.augment")


def get_tta(name: str) -> tuple[Callable[[torch.Tensor], torch.Tensor], ...]:
    """The test-time variants ``name`` (:data:`TTA_VARIANTS`); :class:`ConfigError` when unknown."""
    return _lookup(TTA_VARIANTS, name, "train.tta")


def _lookup(registry: dict, name: str, option: str):
    if name not in registry:
        raise ConfigError(f"{option}: unknown value {name!r}; valid: {', '.join(registry)}")
    return registry[name]
