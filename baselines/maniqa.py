"""MANIQA (Yang et al., "MANIQA: Multi-dimension Attention Network for No-Reference Image Quality
Assessment", CVPRW 2022) on pyiqa's ``MANIQA`` (PolyForm Noncommercial; imported, not copied).

pyiqa's constructor always downloads timm ``vit_base_patch8_224`` (``pretrained=True`` hard-coded). The
builder constructs it with timm stood in for (:func:`baselines._nets.without_downloads`; no download),
then puts its own ViT in ``vit`` (weights from ``resources/weights/<backbone>.<tag>.safetensors``, or
random init) and hooks its blocks as pyiqa does (MANIQA reads the outputs of blocks 6-9, so the ViT
needs at least 10 blocks; ``backbone_options`` such as ``depth``/``embed_dim`` build a small one for
tests). pyiqa re-crops its input to 224 px (a 224 px input is resampled to 225 px first).
"""

from __future__ import annotations

from baselines._pyiqa import HALF, timm_weights
from gmc.models import register_model


@register_model(
    "maniqa",
    native_loss="mse",
    default_input_size=224,
    description="MANIQA (pyiqa MANIQA; ViT weights from a local file)",
    weights=timm_weights("vit_base_patch8_224", "augreg_in21k_ft_in1k"),
    protocol={"kind": "crop", "train_crops": 1, "test_crops": 1, "test_crop_mode": "random"},
    recipe={
        "epochs": 300,
        "batch_size": 8,
        "optimizer": "adam",
        "lr": 1e-5,
        "weight_decay": 1e-5,
        "scheduler": "cosine",
        "t_max": 50,
        "eta_min": 0.0,
    },
    paper_backbone="vit_base_patch8_224.augreg_in21k_ft_in1k",
    normalisation=HALF,
    sources={
        "native_loss": "authors' code IIGROUP/MANIQA train_maniqa.py: torch.nn.MSELoss",
        "default_input_size": "authors' code train_maniqa.py (KonIQ config): crop_size 224, img_size 224",
        "protocol": "authors' code train_maniqa.py: RandCrop 224 per image per epoch; num_avg_val 1 for "
        "KonIQ-10k (one random crop at test)",
        "recipe.epochs": "authors' code train_maniqa.py n_epoch 300",
        "recipe.batch_size": "authors' code train_maniqa.py batch_size 8",
        "recipe.optimizer": "authors' code train_maniqa.py: torch.optim.Adam",
        "recipe.lr": "authors' code train_maniqa.py learning_rate 1e-5",
        "recipe.weight_decay": "authors' code train_maniqa.py weight_decay 1e-5",
        "recipe.scheduler": "authors' code train_maniqa.py: CosineAnnealingLR",
        "recipe.t_max": "authors' code train_maniqa.py T_max 50",
        "recipe.eta_min": "authors' code train_maniqa.py eta_min 0",
        "paper_backbone": "authors' code: timm.create_model('vit_base_patch8_224', pretrained=True) with "
        "the timm of 2022, whose default tag was augreg_in21k_ft_in1k (today's default is augreg2)",
        "normalisation": "authors' code train_maniqa.py Normalize(0.5, 0.5); pyiqa "
        "IMAGENET_INCEPTION_MEAN/STD",
    },
)
def build_maniqa(
    backbone: str = "vit_base_patch8_224",
    pretrained: str | None = "augreg_in21k_ft_in1k",
    weights_file: str | None = None,
    backbone_options: dict | None = None,
    depths: list[int] | None = None,
    num_heads: list[int] | None = None,
    window_size: int = 4,
    dim_mlp: int = 768,
    num_tab: int = 2,
    scale: float = 0.8,
    drop: float = 0.1,
):
    """MANIQA on a timm ViT (``pretrained``: timm tag read from resources/weights, or null)."""
    from pyiqa.archs import maniqa_arch

    from baselines._nets import TIMM_PLACEHOLDER, Scores, without_downloads
    from gmc.models.backbones import create_timm_model

    vit, _source, _mean, _std = create_timm_model(
        backbone, pretrained, weights_file, num_classes=0, img_size=224, **(backbone_options or {})
    )
    if len(vit.blocks) < 10:
        raise ValueError(f"MANIQA reads ViT blocks 6-9: {backbone!r} has only {len(vit.blocks)} blocks")
    with without_downloads(maniqa_arch, timm=TIMM_PLACEHOLDER):
        net = maniqa_arch.MANIQA(
            embed_dim=vit.embed_dim,
            patch_size=vit.patch_embed.patch_size[0],
            depths=depths or [2, 2],
            num_heads=num_heads or [4, 4],
            window_size=window_size,
            dim_mlp=dim_mlp,
            num_tab=num_tab,
            scale=scale,
            drop=drop,
            test_sample=1,
            pretrained=False,
        )
    net.vit = vit
    for layer in vit.modules():
        if isinstance(layer, maniqa_arch.Block):
            layer.register_forward_hook(net.save_output)
    return Scores(net)
