"""SYNTHETIC demo IQA datasets, generated offline from images that ship inside installed packages.

A fresh machine cannot download the real IQA datasets, so the default (demo) run uses small datasets made
here, deterministically, from the sample images bundled with scikit-image (``skimage.data``) and
matplotlib (``grace_hopper.jpg``). They are **not** human-rated: every score is simulated. Each dataset
folder says so in its ``README.txt`` and :func:`demo_dataset_options` marks it ``synthetic_demo=True``
so that tables and figures can label it.

Presets (:data:`DEMO_PRESETS`)
------------------------------
* ``demo_scenes`` (NR): natural colour photographs (astronaut, coffee, chelsea, rocket, motorcycle,
  Grace Hopper) with Gaussian blur, white noise and JPEG compression; ~8 % pristine crops.
* ``demo_textures`` (NR): other content -- the Hubble deep field, a retina fundus photograph,
  immunohistochemistry, and grey-level images converted to RGB (brick, grass, gravel, moon, coins,
  camera) -- with JPEG, contrast change, over-saturation (colour crops only), blur and noise; ~8 %
  pristine.
  The two NR presets differ in content *and* distortion mix, so training on one and testing on the
  other is a (small) cross-dataset test.
* ``demo_fr`` (FR): reference crops from all the sources above, each with several distorted versions
  (blur, noise, JPEG, contrast, saturation, down/up-scaling, colour quantisation); the pristine
  references are shipped in ``references/`` and every row names its reference.

Generation
----------
1. Random square crops: a source image is picked round-robin, a square of side
   ``U(0.35, 0.85) * min(H, W)`` (at least ``image_size`` when the source allows) is cut at a random
   position, randomly mirrored, and resized to ``image_size`` px with Lanczos. Nearly flat crops (the
   black surround of the retina, empty sky of the Hubble field) are redrawn. Each crop has a ``content``
   id (``<preset>_cNNNN``); NR presets use every crop once (so ``content`` is unique per image), FR
   presets derive several distorted images from each reference crop.
2. Distortion: a type from the preset's mix (NR: uniform per image; FR: shuffled rounds of the mix per
   reference, so each reference gets every type) and a strength ``t ~ U(0.05, 1)`` (``t = 0`` for
   pristine crops); the images are saved as 8-bit PNG and the labels are computed from those saved
   pixels. Parameters (pixel values in [0, 1], sizes in output pixels):

   ========== =====================================================================================
   blur       Gaussian, sigma = 0.3 + 2.7 t
   noise      additive white Gaussian, sd = 0.01 + 0.14 t
   jpeg       PIL JPEG, quality = round(2 + 68 (1 - t)^2)  (70 .. 2)
   contrast   about the mean luma, factor 1 - 0.8 t (washed out, 70 %) or 1 + 1.5 t (harsh, 30 %)
   saturation chroma (RGB - luma) times 1 + 4 t, clipped; colour crops only
   resize     box downscale by 1.15 + 4.85 t, bilinear upscale back
   quantise   round(24 - 21 t) levels per channel (banding)
   ========== =====================================================================================
3. Objective quality ``Q`` of the distorted crop against its pristine crop from three weight-free pyiqa
   full-reference metrics, each mapped to [0, 1] with fixed anchors (the same for every preset, so the
   presets share one scale)::

       q_fsim = clip((FSIMc - 0.75) / 0.25, 0, 1)
       q_gmsd = clip(1 - GMSD / 0.25, 0, 1)
       q_vif  = clip(VIF, 0, 1)
       Q      = (q_fsim + q_gmsd + q_vif) / 3
       mos_true = 1 + 4 * Q

   (MS-SSIM is not used: pyiqa's 5-scale MS-SSIM needs images of at least 176 px.)
4. Simulated raters: a panel of ``R = 20`` raters per dataset, rater ``r`` with bias
   ``b_r ~ N(0, 0.3)``; rater ``r``'s vote on image ``i`` is
   ``v_ri = clip(mos_true_i + b_r + e_ri, 1, 5)`` with ``e_ri ~ N(0, 0.5)``. The published label is
   ``mos = mean_r v_ri`` (1-5, higher is better) and ``mos_std = std_r v_ri`` (ddof=1).

Everything random comes from ``numpy.random.Generator`` streams seeded from ``(seed, preset name)``
through SHA-256 (not Python's salted ``hash()``), torch runs single-threaded in fixed batches, so the same
``seed`` gives byte-identical ``labels.csv`` and PNG files on the same software stack.

Output folder::

    images/*.png         distorted images (NR: the dataset's images, pristine ones included)
    references/*.png     pristine reference crops (FR only)
    labels.csv           image, mos, mos_std, content[, reference], source, distortion, strength
    fr_scores.csv        the FR metric values, Q and the noise-free mos_true behind every label
    README.txt           what this is (SYNTHETIC, not human-rated) and how it was made
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tempfile
import textwrap
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

__all__ = [
    "DEMO_PRESETS",
    "DemoSpec",
    "demo_dataset_options",
    "generate_demo_dataset",
    "quality_from_metrics",
    "simulate_ratings",
]

#: Simulated panel (see module docstring, step 4).
N_RATERS = 20
RATER_BIAS_SD = 0.3
VOTE_NOISE_SD = 0.5
SCORE_RANGE = (1.0, 5.0)

#: Fixed anchors of the metric -> [0, 1] maps (module docstring, step 3).
FSIM_FLOOR = 0.75
GMSD_CEIL = 0.25
FR_METRICS = ("fsim", "gmsd", "vif")

#: Images per call of each metric, fixed for determinism: small batches are fastest for pyiqa's FSIM on
#: CPU, larger ones for VIF (many small convolutions).
_METRIC_BATCH = {"fsim": 4, "gmsd": 16, "vif": 16}
_MIN_IMAGE_SIZE = 48


# --------------------------------------------------------------------------------------------------
# Source images
# --------------------------------------------------------------------------------------------------


def _skimage(name: str, index: int | None = None) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        image = getattr(skimage.data, name)()
        return image[index] if index is not None else image

    return load


def _matplotlib_sample(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from matplotlib import cbook

        with cbook.get_sample_data(name, asfileobj=True) as handle:
            return np.asarray(Image.open(handle).convert("RGB"))

    return load


#: name -> loader of every source image a preset may use (colour or grey, any size >= 256 px).
SOURCES: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),
    "coffee": _skimage("coffee"),
    "chelsea": _skimage("chelsea"),
    "rocket": _skimage("rocket"),
    "motorcycle": _skimage("stereo_motorcycle", 0),
    "grace_hopper": _matplotlib_sample("grace_hopper.jpg"),
    "hubble_deep_field": _skimage("hubble_deep_field"),
    "retina": _skimage("retina"),
    "immunohistochemistry": _skimage("immunohistochemistry"),
    "brick": _skimage("brick"),
    "grass": _skimage("grass"),
    "gravel": _skimage("gravel"),
    "moon": _skimage("moon"),
    "coins": _skimage("coins"),
    "camera": _skimage("camera"),
}


def _load_source(name: str) -> np.ndarray | None:
    """The source as uint8 RGB [H, W, 3] (grey images replicated), or None when not installed."""
    try:
        image = np.asarray(SOURCES[name]())
    except Exception:  # a version of scikit-image without this file (or needing pooch): skip it
        return None
    if image.dtype != np.uint8:
        image = np.clip(np.round(image.astype(np.float64) * (255.0 if image.max() <= 1 else 1.0)), 0, 255)
        image = image.astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    image = image[:, :, :3]
    image.setflags(write=False)
    return image


def _is_grey(image: np.ndarray) -> bool:
    return bool(np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 0], image[..., 2]))


# --------------------------------------------------------------------------------------------------
# Distortions: f(image float [H, W, 3] in [0, 1], strength t in [0, 1], rng) -> float image
# --------------------------------------------------------------------------------------------------


def _luma(x: np.ndarray) -> np.ndarray:
    return x @ np.array([0.299, 0.587, 0.114])


def _blur(x: np.ndarray, t: float, rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    sigma = 0.3 + 2.7 * t  # pixels of the output image
    return gaussian_filter(x, sigma=(sigma, sigma, 0), mode="reflect")


def _noise(x: np.ndarray, t: float, rng: np.random.Generator) -> np.ndarray:
    sd = 0.01 + 0.14 * t
    return x + rng.normal(0.0, sd, size=x.shape)


def _jpeg(x: np.ndarray, t: float, rng: np.random.Generator) -> np.ndarray:
    quality = int(round(2 + 68 * (1.0 - t) ** 2))  # 70 (mild) .. 2 (blocky)
    buffer = io.BytesIO()
    Image.fromarray(_to_uint8(x)).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    return np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float64) / 255.0


def _contrast(x: np.ndarray, t: float, rng: np.random.Generator) -> np.ndarray:
    mean = _luma(x).mean()
    factor = 1.0 - 0.8 * t if rng.random() < 0.7 else 1.0 + 1.5 * t  # washed out, or harsh and clipped
    return mean + factor * (x - mean)


def _saturation(x: np.ndarray, t: float, rng: np.random.Generator) -> np.ndarray:
    luma = _luma(x)[..., None]
    # Over-saturation (garish, clipped colours). Desaturation is not used: the label metrics work mostly
    # on luminance and would call a fully grey version of a colour image nearly perfect.
    factor = 1.0 + 4.0 * t
    return luma + factor * (x - luma)


def _resize(x: np.ndarray, t: float, rng: np.random.Generator) -> np.ndarray:
    size = x.shape[0]
    small = max(4, int(round(size / (1.15 + 4.85 * t))))
    image = Image.fromarray(_to_uint8(x)).resize((small, small), Image.Resampling.BOX)
    image = image.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float64) / 255.0


def _quantise(x: np.ndarray, t: float, rng: np.random.Generator) -> np.ndarray:
    levels = int(round(24 - 21 * t))  # levels per channel: 24 .. 3 (banding, posterisation)
    return np.round(x * (levels - 1)) / (levels - 1)


#: name -> (function, needs colour). Colour-only distortions are not drawn for grey crops.
DISTORTIONS: dict[str, tuple[Callable[[np.ndarray, float, np.random.Generator], np.ndarray], bool]] = {
    "blur": (_blur, False),
    "noise": (_noise, False),
    "jpeg": (_jpeg, False),
    "contrast": (_contrast, False),
    "saturation": (_saturation, True),
    "resize": (_resize, False),
    "quantise": (_quantise, False),
}


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------------
# Presets
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSpec:
    """One demo preset. ``n_images``: default number of (distorted) images; FR: ``per_reference``
    distorted images per reference crop; NR: ``pristine_fraction`` of the images are undistorted."""

    name: str
    title: str
    description: str
    sources: tuple[str, ...]
    distortions: tuple[str, ...]
    full_reference: bool = False
    n_images: int = 300
    image_size: int = 128
    pristine_fraction: float = 0.08
    per_reference: int = 10


DEMO_PRESETS: dict[str, DemoSpec] = {
    "demo_scenes": DemoSpec(
        name="demo_scenes",
        title="Demo scenes (SYNTHETIC)",
        description="natural colour photographs with blur, white noise and JPEG compression",
        sources=("astronaut", "coffee", "chelsea", "rocket", "motorcycle", "grace_hopper"),
        distortions=("blur", "noise", "jpeg"),
        n_images=300,
    ),
    "demo_textures": DemoSpec(
        name="demo_textures",
        title="Demo textures (SYNTHETIC)",
        description=(
            "astronomy, medical and grey-level texture images with JPEG, contrast change, colour "
            "over-saturation, blur and noise"
        ),
        sources=(
            "hubble_deep_field",
            "retina",
            "immunohistochemistry",
            "brick",
            "grass",
            "gravel",
            "moon",
            "coins",
            "camera",
        ),
        distortions=("jpeg", "contrast", "saturation", "blur", "noise"),
        n_images=300,
    ),
    "demo_fr": DemoSpec(
        name="demo_fr",
        title="Demo full-reference (SYNTHETIC)",
        description=(
            "pristine reference crops of photographs and textures, each with distorted versions "
            "(blur, noise, JPEG, contrast, saturation, down/up-scaling, colour quantisation)"
        ),
        sources=(
            "astronaut",
            "coffee",
            "chelsea",
            "rocket",
            "motorcycle",
            "grace_hopper",
            "hubble_deep_field",
            "retina",
            "immunohistochemistry",
            "brick",
            "gravel",
            "camera",
        ),
        distortions=("blur", "noise", "jpeg", "contrast", "saturation", "resize", "quantise"),
        full_reference=True,
        n_images=200,
        per_reference=10,
    ),
}


def _get_preset(preset: str) -> DemoSpec:
    if preset not in DEMO_PRESETS:
        raise KeyError(f"unknown demo preset {preset!r}; valid: {sorted(DEMO_PRESETS)}")
    return DEMO_PRESETS[preset]


def demo_dataset_options(preset: str, n_images: int | None = None) -> dict:
    """Options of the generic ``csv`` dataset type (:func:`gmc.data.datasets.csv_spec`) that read a
    folder written by :func:`generate_demo_dataset` (config entry: ``{type: csv, **options}``).
    ``expected_count`` is the number of images generated (the preset default unless ``n_images``)."""
    spec = _get_preset(preset)
    options = {
        "csv": "labels.csv",
        "image_column": "image",
        "score_column": "mos",
        "std_column": "mos_std",
        "content_column": "content",
        "score_range": SCORE_RANGE,
        "higher_better": True,
        "expected_count": int(n_images or spec.n_images),
        "split_by": "reference" if spec.full_reference else "image",
        "synthetic_demo": True,
        "title": spec.title,
    }
    if spec.full_reference:
        options["reference_column"] = "reference"
    return options


# --------------------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------------------


def quality_from_metrics(fsim: np.ndarray, gmsd: np.ndarray, vif: np.ndarray) -> np.ndarray:
    """Objective quality ``Q`` in [0, 1] from FSIMc, GMSD and VIF (module docstring, step 3)."""
    q_fsim = np.clip((np.asarray(fsim, float) - FSIM_FLOOR) / (1.0 - FSIM_FLOOR), 0.0, 1.0)
    q_gmsd = np.clip(1.0 - np.asarray(gmsd, float) / GMSD_CEIL, 0.0, 1.0)
    q_vif = np.clip(np.asarray(vif, float), 0.0, 1.0)
    return (q_fsim + q_gmsd + q_vif) / 3.0


def simulate_ratings(mos_true: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(mos, mos_std)`` from a simulated panel (module docstring, step 4)."""
    mos_true = np.asarray(mos_true, dtype=float)
    bias = rng.normal(0.0, RATER_BIAS_SD, size=N_RATERS)
    noise = rng.normal(0.0, VOTE_NOISE_SD, size=(len(mos_true), N_RATERS))
    votes = np.clip(mos_true[:, None] + bias[None, :] + noise, *SCORE_RANGE)
    return votes.mean(axis=1), votes.std(axis=1, ddof=1)


@contextmanager
def _torch_threads(n: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fr_scores(distorted: np.ndarray, reference: np.ndarray) -> dict[str, np.ndarray]:
    """pyiqa FR metrics of uint8 [N, S, S, 3] distorted images against their references."""
    # FSIM, GMSD and VIF are weight-free: building them downloads nothing (works offline).
    import pyiqa
    import torch

    identical = np.all(distorted == reference, axis=(1, 2, 3))  # pristine: the metrics' ideal values
    ideal = {"fsim": 1.0, "gmsd": 0.0, "vif": 1.0}
    todo = np.flatnonzero(~identical)
    d_all = torch.from_numpy(distorted[todo]).permute(0, 3, 1, 2)
    r_all = torch.from_numpy(reference[todo]).permute(0, 3, 1, 2)
    out = {}
    with _torch_threads(1), torch.no_grad():
        for name in FR_METRICS:
            metric = pyiqa.create_metric(name, device="cpu", as_loss=False)
            step = _METRIC_BATCH[name]
            values = [
                metric(d_all[i : i + step].float() / 255, r_all[i : i + step].float() / 255)
                .double()
                .reshape(-1)
                for i in range(0, len(todo), step)
            ]
            scores = np.full(len(distorted), ideal[name], dtype=float)
            if values:
                scores[todo] = torch.cat(values).numpy()
            out[name] = scores
    return out


# --------------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------------


def _streams(seed: int, preset: str) -> list[np.random.Generator]:
    """Independent generators (crops+distortions, pixel noise, raters) seeded from (seed, preset)."""
    digest = hashlib.sha256(f"gmc-demo:{preset}:{int(seed)}".encode()).digest()
    entropy = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 32, 4)]
    return [np.random.default_rng(child) for child in np.random.SeedSequence(entropy).spawn(3)]


def _random_crop(source: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A square crop resized to ``size`` (redrawn a few times while nearly flat or dark)."""
    height, width = source.shape[:2]
    short = min(height, width)
    for _ in range(20):
        side = int(round(rng.uniform(0.35, 0.85) * short))
        side = min(short, max(side, min(size, short)))
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
        flip = bool(rng.random() < 0.5)
        image = Image.fromarray(source).resize(
            (size, size), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side)
        )
        crop = np.asarray(image)
        if flip:
            crop = crop[:, ::-1]
        luma = _luma(crop / 255.0)
        if luma.std() > 0.04 and luma.mean() > 0.06:
            break
    return np.ascontiguousarray(crop)


@dataclass
class _Item:
    image: str
    content: str
    source: str
    distortion: str
    strength: float
    reference: str = ""


def _plan(spec: DemoSpec, n_images: int, size: int, rng: np.random.Generator, noise_rng: np.random.Generator):
    """Crops, distorted images (uint8) and their rows, in output order."""
    loaded = {name: _load_source(name) for name in spec.sources}
    sources = [name for name in spec.sources if loaded[name] is not None]
    if len(sources) < 2:
        raise RuntimeError(
            f"demo preset {spec.name!r}: only {sources} of its source images {spec.sources} are "
            "installed; scikit-image or matplotlib sample data are missing"
        )
    n_crops = -(-n_images // spec.per_reference) if spec.full_reference else n_images
    crops = [_random_crop(loaded[sources[i % len(sources)]], size, rng) for i in range(n_crops)]
    items: list[_Item] = []
    distorted: list[np.ndarray] = []
    pristine: list[np.ndarray] = []
    for i in range(n_images):
        crop_index = i // spec.per_reference if spec.full_reference else i
        crop = crops[crop_index]
        content = f"{spec.name}_c{crop_index:04d}"
        grey = _is_grey(crop)
        allowed = [d for d in spec.distortions if not (DISTORTIONS[d][1] and grey)]
        if spec.full_reference:
            if i % spec.per_reference == 0:  # balanced types per reference: shuffled rounds of the mix
                rounds = -(-spec.per_reference // len(allowed))
                order = [allowed[k] for _ in range(rounds) for k in rng.permutation(len(allowed))]
            kind = order[i % spec.per_reference]
        elif rng.random() < spec.pristine_fraction:
            kind = "pristine"
        else:
            kind = allowed[int(rng.integers(len(allowed)))]
        strength = 0.0 if kind == "pristine" else float(np.round(rng.uniform(0.05, 1.0), 4))
        if kind == "pristine":
            image = crop
        else:
            image = _to_uint8(DISTORTIONS[kind][0](crop / 255.0, strength, noise_rng))
        items.append(
            _Item(
                image=f"images/img_{i:05d}.png",
                content=content,
                source=sources[crop_index % len(sources)],
                distortion=kind,
                strength=strength,
                reference=f"references/ref_{crop_index:04d}.png" if spec.full_reference else "",
            )
        )
        distorted.append(image)
        pristine.append(crop)
    return crops, items, np.stack(distorted), np.stack(pristine)


def _save_png(array: np.ndarray, path: Path) -> None:
    Image.fromarray(array).save(path, format="PNG")


def _readme(spec: DemoSpec, n_images: int, size: int, seed: int, sources: list[str]) -> str:
    import matplotlib
    import pyiqa
    import skimage

    def para(text: str, indent: str = "") -> str:
        return textwrap.fill(
            " ".join(text.split()), width=100, initial_indent=indent, subsequent_indent=indent
        )

    kind = "full-reference (reference, distorted image, score)" if spec.full_reference else "no-reference"
    pristine = "" if spec.full_reference else f" About {spec.pristine_fraction:.0%} were left pristine."
    steps = [
        f"""1. Random square crops of sample images that ship with scikit-image {skimage.__version__} and
        matplotlib {matplotlib.__version__} ({", ".join(sources)}), randomly mirrored and resized to
        {size} x {size} px. Grey-level images were replicated to RGB.""",
        f"""2. Each crop got one distortion from: {", ".join(spec.distortions)}, with a random strength
        in [0.05, 1].{pristine} Columns "distortion" and "strength" of labels.csv record them.""",
        f"""3. An objective quality Q in [0, 1] of each distorted image against its pristine crop, from
        pyiqa {pyiqa.__version__} full-reference metrics: Q = mean(clip((FSIMc - {FSIM_FLOOR}) /
        {1 - FSIM_FLOOR:g}, 0, 1), clip(1 - GMSD / {GMSD_CEIL}, 0, 1), clip(VIF, 0, 1)); the noise-free
        score is mos_true = 1 + 4 Q (see fr_scores.csv).""",
        f"""4. A simulated panel of {N_RATERS} raters, each with a personal bias ~ N(0, {RATER_BIAS_SD}),
        voted mos_true + bias + noise, noise ~ N(0, {VOTE_NOISE_SD}), clipped to [1, 5]. "mos" is the
        mean vote (1-5, higher is better) and "mos_std" the standard deviation of the votes.""",
    ]
    files = [
        "labels.csv      image, mos, mos_std, content"
        + (", reference" if spec.full_reference else "")
        + ", source, distortion, strength",
        "images/         the "
        + ("distorted images" if spec.full_reference else "images (distorted or pristine)"),
    ]
    if spec.full_reference:
        files.append("references/     the pristine reference crops")
    files += [
        "fr_scores.csv   the full-reference metric values, Q and mos_true behind every score",
        "README.txt      this file",
    ]
    lines = [
        "SYNTHETIC DEMO DATA -- NOT A HUMAN-RATED IQA DATASET",
        "=" * 52,
        "",
        para(
            f"{spec.title}: a {kind} demo dataset of {n_images} images of {size} x {size} px. "
            f"Content: {spec.description}."
        ),
        "",
        para(f"""Every image and every score in this folder was generated by a program (gmc.data.demo,
        preset "{spec.name}", seed {seed}); no person looked at these images. The scores imitate mean
        opinion scores only so that the benchmark pipeline can run end to end without downloading real
        datasets. Results on this data say nothing about how well a model predicts human judgements:
        report them as "synthetic demo" and never mix them with results on real datasets."""),
        "",
        "How it was made",
        "---------------",
        *[para(step, "   ")[3:] for step in steps],
        "",
        "Files",
        "-----",
        *files,
        "",
        para("""Column "content" identifies the crop an image was made from; keep one content in one
        split part."""),
        "",
    ]
    return "\n".join(lines)


def _write_dataset(spec: DemoSpec, folder: Path, n_images: int, size: int, seed: int) -> None:
    rng, noise_rng, rater_rng = _streams(seed, spec.name)
    crops, items, distorted, pristine = _plan(spec, n_images, size, rng, noise_rng)
    scores = _fr_scores(distorted, pristine)
    quality = quality_from_metrics(scores["fsim"], scores["gmsd"], scores["vif"])
    mos_true = SCORE_RANGE[0] + (SCORE_RANGE[1] - SCORE_RANGE[0]) * quality
    mos, mos_std = simulate_ratings(mos_true, rater_rng)

    (folder / "images").mkdir()
    for item, image in zip(items, distorted):
        _save_png(image, folder / item.image)
    if spec.full_reference:
        (folder / "references").mkdir()
        for index, crop in enumerate(crops):
            _save_png(crop, folder / f"references/ref_{index:04d}.png")

    labels = pd.DataFrame(
        {
            "image": [item.image for item in items],
            "mos": mos,
            "mos_std": mos_std,
            "content": [item.content for item in items],
        }
    )
    if spec.full_reference:
        labels["reference"] = [item.reference for item in items]
    labels["source"] = [item.source for item in items]
    labels["distortion"] = [item.distortion for item in items]
    labels["strength"] = [item.strength for item in items]
    labels.to_csv(folder / "labels.csv", index=False, float_format="%.4f", lineterminator="\n")

    fr = pd.DataFrame({"image": labels["image"], **scores, "quality": quality, "mos_true": mos_true})
    fr.to_csv(folder / "fr_scores.csv", index=False, float_format="%.6f", lineterminator="\n")
    used = sorted({item.source for item in items}, key=spec.sources.index)
    (folder / "README.txt").write_text(_readme(spec, n_images, size, seed, used), encoding="utf-8")


def generate_demo_dataset(
    preset: str,
    out_dir: Path,
    *,
    n_images: int | None = None,
    image_size: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Generate demo preset ``preset`` into ``out_dir`` and return ``out_dir``.

    The folder is built in a temporary sibling and renamed into place, so ``out_dir`` is either absent
    or complete. An existing non-empty ``out_dir`` is refused (``FileExistsError``) unless ``overwrite``.
    ``n_images`` (NR: images; FR: distorted images) and ``image_size`` default to the preset's values.
    """
    spec = _get_preset(preset)
    n_images = int(spec.n_images if n_images is None else n_images)
    size = int(spec.image_size if image_size is None else image_size)
    if n_images < 1:
        raise ValueError(f"n_images must be >= 1, got {n_images}")
    if size < _MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be >= {_MIN_IMAGE_SIZE} px (FR metrics), got {size}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} exists and is not empty; pass overwrite=True to replace it")

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; the dataset is not
        _write_dataset(spec, tmp, n_images, size, seed)
        old = None
        if out_dir.is_dir() and any(out_dir.iterdir()):
            if not overwrite:  # appeared while we were generating (another process)
                raise FileExistsError(f"{out_dir} exists and is not empty; pass overwrite=True to replace it")
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            old.rmdir()
            out_dir.rename(old)
        elif out_dir.is_dir():
            out_dir.rmdir()
        try:
            tmp.rename(out_dir)
        except BaseException:
            if old is not None:
                old.rename(out_dir)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
