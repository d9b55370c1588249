"""The pyiqa network ``GMCRun``: a run trained by this harness, scoring images as ``gmc predict`` does
(heavy: torch and the model code; pyiqa imports it through :mod:`gmc.integrations.pyiqa_plugin`).

Nothing is re-implemented here: the checkpoint is read and the model rebuilt by
:func:`gmc.training.engine.load_trained_model` (the run config inside ``model.pt`` names the model card
and its options; the model normalises its own input, e.g. ImageNet mean/std), and images are scored by
:meth:`gmc.inference.ScoringProtocol.score`, the code ``gmc predict`` runs (the run's crop protocol, its
test-time augmentation, AMP on CUDA when the run trained with it). This module only turns pyiqa's input
into what ``gmc predict`` reads from an image cache:

1. RGB floats in [0, 1] -> uint8, ``round(255 x)``: exact for images pyiqa read from 8-bit files
   (``imread2tensor`` divides by 255), a quantisation of at most 1/510 otherwise; 1-channel images are
   repeated to RGB, as the cache's ``convert("RGB")`` does;
2. resized as the cache (:func:`gmc.data.cache.resize_image`, PIL bicubic, aspect not kept): to
   ``input_size`` x ``input_size`` for ``resize`` protocols; for ``crop`` protocols to ``stored_size``
   when given (the resolution the training set's cache used, ``datasets.<key>.stored_size``), else the
   image is cropped at the resolution it comes in.

So for an image file ``f`` of a test set, ``net(imread2tensor(f))`` equals the ``prediction`` of ``f`` in
the ``gmc predict`` CSV of that run (``tests/test_pyiqa_plugin.py``, ``tests/test_workflow.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from gmc.data.cache import parse_size, resize_image
from gmc.data.loading import ImageSet
from gmc.features import network_feature_spec
from gmc.inference import ScoringProtocol
from gmc.models import get_model_card
from gmc.training.engine import load_trained_model

#: tolerance of pyiqa-style [0, 1] inputs (pyiqa's ``InferenceModel`` uses the same 1e-6)
_RANGE_EPS = 1e-6


def checkpoint_file(path: str | Path | None) -> Path:
    """A run's ``model.pt`` from ``pretrained_model_path``: the file itself, or ``model.pt`` in a run
    folder. The file's own errors (missing, damaged, foreign) are :func:`load_trained_model`'s."""
    if path is None:
        raise ValueError(
            "GMCRun needs pretrained_model_path: the model.pt of a run trained by this harness, e.g. "
            "results/runs/<model>/<loss>/<train_set>/split<k>/model.pt"
        )
    path = Path(path)
    return path / "model.pt" if path.is_dir() else path


def _resolution(value) -> tuple[int, int] | None:
    """``(width, height)`` from ``"WxH"``, ``"S"``, ``S`` or a pair of positive integers, else None."""
    if isinstance(value, list | tuple):
        ok = len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
        return (value[0], value[1]) if ok else None
    try:
        size = parse_size(value)
    except ValueError:
        return None
    return (size, size) if isinstance(size, int) else size


def _resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """One uint8 (3, H, W) image resized as the image cache does (:func:`gmc.data.cache.resize_image`)."""
    return torch.from_numpy(resize_image(Image.fromarray(image.permute(1, 2, 0).numpy()), size))


class GMCRun(nn.Module):
    """A trained run as a pyiqa network: ``forward(x)`` (``forward(x, ref)`` for full-reference models)
    takes RGB images in [0, 1], shape (B, 3, H, W), and returns the run's predictions, shape (B,),
    float32, higher = better (module docstring).

    ``pretrained_model_path``: the run's ``model.pt`` or its folder. ``stored_size``: ``(width, height)``
    or ``"WxH"``, for ``crop``-protocol runs only: resize images to this resolution before cutting the
    test crops (as the training set's image cache did); default: crop the image as it is. ``batch_size``:
    images per forward pass of the model."""

    def __init__(
        self,
        pretrained_model_path: str | Path | None = None,
        stored_size: str | tuple[int, int] | list[int] | None = None,
        batch_size: int = 64,
    ) -> None:
        super().__init__()
        self.checkpoint = checkpoint_file(pretrained_model_path)
        self.net, state = load_trained_model(self.checkpoint, torch.device("cpu"))
        self.run_config: dict = state["run_config"]
        cfg = self.run_config
        if network_feature_spec(cfg["arch"], cfg["model_options"], cfg["input_size"]) is not None:
            model = cfg["model"]
            raise ValueError(
                f"GMCRun: {self.checkpoint} is a head-only run (model {model!r}, freeze_backbone): its "
                "network takes cached backbone features, not images, so pyiqa cannot feed it; score it with "
                "`python -m gmc predict` on the feature caches, or train the model end to end"
            )
        self.protocol = ScoringProtocol.from_run_config(self.run_config)
        self.full_reference = get_model_card(self.run_config["arch"]).full_reference
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"GMCRun: batch_size {batch_size!r} must be an integer >= 1")
        self.batch_size = batch_size
        self.image_size = self._image_size(stored_size)

    def _image_size(self, stored_size) -> tuple[int, int] | None:
        """(width, height) the images are resized to, or None for as they come (module docstring)."""
        size = self.protocol.views.size
        if not self.protocol.views.crops:
            if stored_size is not None:
                raise ValueError(
                    f"GMCRun: stored_size={stored_size!r} applies to crop-protocol runs only; the run "
                    f"{self.checkpoint} resizes whole images to {size} px: remove stored_size"
                )
            return (size, size)
        if stored_size is None:
            return None
        parsed = _resolution(stored_size)
        if parsed is None:
            raise ValueError(
                f"GMCRun: stored_size={stored_size!r} is not a resolution; give (width, height), e.g. "
                "(512, 384), or 'WxH'"
            )
        width, height = parsed
        if min(width, height) < size:
            raise ValueError(
                f"GMCRun: stored_size {width}x{height} is smaller than the {size} px test crops of "
                f"{self.checkpoint}; give a resolution of at least {size}x{size}"
            )
        return (width, height)

    def _cache_images(self, x: torch.Tensor, what: str) -> torch.Tensor:
        """pyiqa's [0, 1] float batch as the uint8 batch an image cache would hold (module docstring)."""
        if not torch.is_tensor(x) or x.dim() != 4 or x.shape[1] not in (1, 3):
            shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise ValueError(f"GMCRun: {what} is {shape}; pass an RGB tensor (B, 3, H, W) in [0, 1]")
        lo, hi = float(x.min()), float(x.max())
        if lo < -_RANGE_EPS or hi > 1 + _RANGE_EPS:
            raise ValueError(
                f"GMCRun: {what} has values in [{lo:.4g}, {hi:.4g}]; pass images scaled to [0, 1] "
                "(8-bit images divided by 255)"
            )
        images = x.detach().float().mul(255).round_().clamp_(0, 255).to(torch.uint8).cpu()
        images = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
        height, width = images.shape[-2:]
        if self.image_size is not None and (width, height) != self.image_size:
            images = torch.stack([_resize(img, self.image_size) for img in images])
        size = self.protocol.views.size
        if min(images.shape[-2:]) < size:
            raise ValueError(
                f"GMCRun: {what} is {width}x{height} px, smaller than the {size} px test crops of "
                f"{self.checkpoint}; pass larger images or stored_size=(width, height) to resize them"
            )
        return images.contiguous()

    def forward(self, x: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        if self.full_reference and ref is None:
            raise ValueError(
                f"GMCRun: {self.checkpoint} is a full-reference model ({self.run_config['arch']}); "
                "call it with (distorted, reference)"
            )
        if not self.full_reference and ref is not None:
            raise ValueError(
                f"GMCRun: {self.checkpoint} is a no-reference model ({self.run_config['arch']}); "
                "call it with the images only"
            )
        images = self._cache_images(x, "the image batch")
        refs = None if ref is None else self._cache_images(ref, "the reference batch")
        if refs is not None and refs.shape != images.shape:
            raise ValueError(
                f"GMCRun: reference batch {tuple(refs.shape)} differs from the image batch "
                f"{tuple(images.shape)}; pass one reference of the same size per image"
            )
        n = len(images)
        data = ImageSet(images=images, mos=torch.zeros(n), names=[str(i) for i in range(n)], references=refs)
        device = next(self.net.parameters()).device
        scores = self.protocol.score(self.net, data, device, self.batch_size)
        return torch.from_numpy(scores.astype(np.float32)).to(x.device)
