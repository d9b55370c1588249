"""TReS (Golestaneh et al., "No-Reference Image Quality Assessment via Transformers, Relative Ranking,
and Self-Consistency", WACV 2022) on pyiqa's ``TReS`` (PolyForm Noncommercial; imported, not copied).

pyiqa's constructor always downloads torchvision ResNet weights. The builder constructs it with
``torchvision.models`` stood in for (:func:`baselines._nets.without_downloads`: a random-init torchvision
ResNet, no download), then loads timm's ``<backbone>.<tag>.safetensors`` (``tv_in1k`` = torchvision's
IMAGENET1K_V1; timm's ResNet keys are torchvision's) into it. ``backbone``: resnet50 (paper), resnet34
or resnet18 (pyiqa's alternatives).

Native loss: TReS trains with L1 plus a relative-ranking (triplet) loss and a self-consistency loss
between an image and its flip. The harness's native loss is the L1 term only; pyiqa's consistency term
(returned in training mode) is dropped. pyiqa re-crops its input (224 px; a 224 px input is resampled
to 225 px first) - the harness feeds 224 px crops.
"""

from __future__ import annotations

from baselines._pyiqa import IMAGENET, timm_weights
from gmc.models import register_model

BACKBONES = ("resnet50", "resnet34", "resnet18")


@register_model(
    "tres",
    native_loss="l1",
    default_input_size=224,
    description="TReS (pyiqa TReS; ResNet weights from a local file; L1 term of its loss)",
    weights=timm_weights("resnet50", "tv_in1k"),
    protocol={"kind": "crop", "train_crops": 50, "test_crops": 50, "test_crop_mode": "random"},
    recipe={"epochs": 3, "batch_size": 8, "optimizer": "adam", "lr": 2e-5, "weight_decay": 5e-4},
    paper_backbone="resnet50.tv_in1k",
    normalisation=IMAGENET,
    sources={
        "native_loss": "Golestaneh et al. 2022 s. 3: L1 + relative ranking + self-consistency; only the "
        "L1 term is used here",
        "default_input_size": "authors' code isalirezag/TReS args.py --patch_size 224",
        "protocol": "authors' code args.py: --train_patch_num 50, --test_patch_num 50 random 224 px crops",
        "recipe.epochs": "authors' code args.py --epochs 3",
        "recipe.batch_size": "authors' code args.py --batch_size 8",
        "recipe.optimizer": "authors' code models.py: torch.optim.Adam",
        "recipe.lr": "authors' code args.py --lr 2e-5",
        "recipe.weight_decay": "authors' code args.py --weight_decay 5e-4",
        "paper_backbone": "authors' code models.py / pyiqa tres_arch.py: torchvision resnet50 ImageNet "
        "weights (IMAGENET1K_V1) = timm resnet50.tv_in1k",
        "normalisation": "pyiqa tres_arch.py default_mean/default_std (ImageNet)",
    },
)
def build_tres(
    backbone: str = "resnet50",
    pretrained: str | None = "tv_in1k",
    weights_file: str | None = None,
    nheadt: int = 16,
    num_encoder_layerst: int = 2,
    dim_feedforwardt: int = 64,
):
    """TReS on a torchvision ResNet (``pretrained``: timm tag read from resources/weights, or null)."""
    from pyiqa.archs import tres_arch

    from baselines._nets import Scores, torchvision_random, without_downloads
    from gmc.models.backbones import load_local_state_dict
    from gmc.models.weight_files import weight_tag

    if backbone not in BACKBONES:
        raise ValueError(f"TReS backbone {backbone!r} is not one of {', '.join(BACKBONES)}")
    with without_downloads(tres_arch, models=torchvision_random(*BACKBONES)):
        net = tres_arch.TReS(
            network=backbone,
            nheadt=nheadt,
            num_encoder_layerst=num_encoder_layerst,
            dim_feedforwardt=dim_feedforwardt,
            test_sample=1,
            pretrained=False,
        )
    tag = weight_tag(backbone, pretrained)
    if tag is not None:
        net.model.load_state_dict(load_local_state_dict(backbone, tag, weights_file), strict=True)
    return Scores(net)
