"""Network code shared by the pyiqa baselines (heavy: imports torch; the build functions import it).

**Offline construction.** Several pyiqa architectures download weights in their constructor whatever
their ``pretrained`` argument says (HyperNet: timm ``resnet50`` with ``pretrained=True``; DBCNN:
torchvision VGG16 and the SCNN branch; MANIQA: timm ``vit_base_patch8_224``; TReS: torchvision ResNet),
and offer no argument to hand a backbone in. :func:`without_downloads` therefore replaces, *only while
the constructor runs*, the names those constructors call (``timm`` / ``torchvision`` / ``models`` /
``load_pretrained_network`` in the arch's own module namespace) by stand-ins that build nothing or a
randomly initialised torchvision model; the names are restored afterwards, and no pyiqa file is changed.
The builder then puts its own backbone (timm, weights from a local file under ``resources/weights/``)
in place. Construction is not thread-safe (a module attribute is swapped for its duration); models are
built once per process, before training.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gmc.models.weight_files import missing_weight_file_message

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@contextlib.contextmanager
def without_downloads(module: types.ModuleType, **replacements) -> Iterator[None]:
    """Within the block, ``module.<name>`` is ``replacements[name]``; restored on exit."""
    saved = {name: getattr(module, name) for name in replacements}
    try:
        for name, value in replacements.items():
            setattr(module, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


def _placeholder(*_, **__) -> nn.Module:
    return nn.Identity()


#: stands in for ``timm`` in an arch module: ``create_model`` returns a placeholder, replaced afterwards
TIMM_PLACEHOLDER = types.SimpleNamespace(create_model=_placeholder)


def _refuse_download(_net, path, *args, **kwargs):
    raise RuntimeError(f"pyiqa tried to load {path!r} during offline construction (a bug in this wrapper)")


def _skip_load(_net, _path, *args, **kwargs) -> None:
    """Stands in for pyiqa's ``load_pretrained_network`` where the builder loads the file itself."""


def torchvision_random(*names: str) -> types.SimpleNamespace:
    """Stands in for ``torchvision.models``: each of ``names`` builds the torchvision net, random init."""
    import torchvision

    def make(name):
        return lambda *_, **__: getattr(torchvision.models, name)(weights=None)

    return types.SimpleNamespace(**{name: make(name) for name in names})


def load_external(path: str | Path, what: str) -> dict[str, torch.Tensor]:
    """A state dict from a declared non-timm weight file (``weights_only``: tensors, no code)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(missing_weight_file_message(path, what))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "params" in state and isinstance(state["params"], dict):
        state = state["params"]
    return {k.removeprefix("module."): v for k, v in state.items()}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class Scores(nn.Module):
    """A pyiqa network fitted to the model contract: [0, 1] images (B, 3, H, W) in, (B,) scores out.

    The network normalises its own input (pyiqa archs hold their mean/std). ``fixed_size``: the input
    size the architecture's layers are built for (e.g. 224 for HyperNet's pooling); another input size
    is resized to it (bicubic) first. Training-mode outputs that are tuples (TReS returns its
    consistency loss too) give their first element."""

    def __init__(self, net: nn.Module, fixed_size: int | None = None) -> None:
        super().__init__()
        self.net = net
        self.fixed_size = fixed_size

    def resize(self, x: torch.Tensor) -> torch.Tensor:
        size = self.fixed_size
        if size is not None and tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
        return x

    def score(self, x: torch.Tensor):
        return self.net(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.score(self.resize(x))
        if isinstance(out, tuple):
            out = out[0]
        return out.reshape(x.shape[0])


class PatchScores(Scores):
    """For pyiqa's HyperNet: scores each input as one patch (``forward_patch``) in training and at test
    time, since the harness cuts and averages the test crops itself."""

    def score(self, x: torch.Tensor):
        return self.net.forward_patch(x)


class MusiqScores(Scores):
    """For pyiqa's MUSIQ, whose training-mode forward expects the multi-scale patch tensor that pyiqa's
    data pipeline prepares: here the wrapper prepares it (inputs scaled to [-1, 1], then pyiqa's
    ``get_multiscale_patches`` with the network's own options), as MUSIQ's eval-mode forward does."""

    def score(self, x: torch.Tensor):
        if not self.training:
            return self.net(x)
        from pyiqa.data.multiscale_trans_util import get_multiscale_patches

        return self.net(get_multiscale_patches((x - 0.5) * 2, **self.net.data_preprocess_opts))
