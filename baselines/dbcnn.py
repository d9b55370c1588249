"""DBCNN (Zhang et al., "Blind Image Quality Assessment Using a Deep Bilinear Convolutional Neural
Network", IEEE TCSVT 2020) on pyiqa's ``DBCNN`` (PolyForm Noncommercial; imported at run time, not copied).

pyiqa's constructor always downloads torchvision's VGG-16 ImageNet weights and the authors' SCNN branch
(pretrained on synthetic distortions) and takes neither in. The builder constructs it with
``torchvision.models`` and pyiqa's loader stood in for (:func:`baselines._nets.without_downloads`;
random-init VGG-16, no download), then loads the local files itself: VGG-16 from timm's
``vgg16.<tag>.safetensors`` (``vgg16.tv_in1k`` is torchvision's IMAGENET1K_V1; timm's ``features.N``
keys are torchvision's) and the SCNN branch from ``DBCNN_scnn-7ea73d75.pth`` (declared in
``gmc.models.weight_files.EXTERNAL_WEIGHTS``, fetched by ``snakemake fetch_weights``). The bilinear
pooling needs VGG-16's 512 channels, so the backbone is fixed (no ``backbone`` option).

The authors train in two stages: the linear layer alone with both branches frozen (SGD), then the
whole network (Adam). The harness trains one stage; the recipe is the second (fine-tuning) stage, from
a randomly initialised linear layer. ``freeze_backbones: true`` gives the first stage instead.
"""

from __future__ import annotations

from baselines._pyiqa import IMAGENET, external
from gmc.models import register_model
from gmc.models.weight_files import required_weight_files

SCNN_FILE = "DBCNN_scnn-7ea73d75.pth"


def _weights(pretrained="tv_in1k", scnn_weights=SCNN_FILE, **_) -> list[str]:
    return required_weight_files("vgg16", pretrained) + external(scnn_weights)


@register_model(
    "dbcnn",
    native_loss="mse",
    default_input_size=384,
    description="DBCNN (pyiqa DBCNN; VGG-16 and SCNN weights from local files)",
    weights=_weights,
    protocol={"kind": "crop", "train_crops": 1, "test_crops": 1, "test_crop_mode": "center"},
    recipe={
        "epochs": 11,
        "batch_size": 8,
        "optimizer": "adam",
        "lr": 1e-5,
        "weight_decay": 5e-4,
        "scheduler": "none",
    },
    paper_backbone="vgg16.tv_in1k + SCNN (DBCNN_scnn-7ea73d75.pth, the authors' synthetic-distortion branch)",
    normalisation=IMAGENET,
    sources={
        "native_loss": "authors' code zwx8981/DBCNN-PyTorch DBCNN.py: torch.nn.MSELoss (pyiqa's retraining "
        "uses PLCCLoss instead)",
        "default_input_size": "pyiqa options/train/DBCNN/train_DBCNN_koniq10k.yml: random_crop 384 on "
        "KonIQ-10k at 512x384",
        "protocol": "pyiqa train_DBCNN_koniq10k.yml: one random 384 px crop per image per step, hflip; it "
        "tests on the whole 512x384 image, mapped here to one centre 384 px crop",
        "recipe.epochs": "pyiqa train_DBCNN_koniq10k.yml: 10000 fine-tuning iterations at batch 8 "
        "(883 iterations per epoch) = 11 epochs",
        "recipe.batch_size": "pyiqa train_DBCNN_koniq10k.yml batch_size_per_gpu 8",
        "recipe.optimizer": "pyiqa train_DBCNN_koniq10k.yml optim_finetune: Adam (authors' 2nd stage)",
        "recipe.lr": "pyiqa train_DBCNN_koniq10k.yml optim_finetune lr 1e-5",
        "recipe.weight_decay": "pyiqa train_DBCNN_koniq10k.yml optim_finetune weight_decay 5e-4",
        "recipe.scheduler": "pyiqa train_DBCNN_koniq10k.yml: MultiStepLR with gamma 1 (constant)",
        "paper_backbone": "Zhang et al. 2020 s. III: VGG-16 pretrained on ImageNet + SCNN pretrained on "
        "synthetic distortions; pyiqa dbcnn_arch.py: torchvision vgg16 IMAGENET1K_V1 and DBCNN_scnn-7ea73d75",
        "normalisation": "pyiqa dbcnn_arch.py default_mean/default_std (ImageNet)",
    },
)
def build_dbcnn(
    pretrained: str | None = "tv_in1k",
    scnn_weights: str | None = SCNN_FILE,
    freeze_backbones: bool = False,
):
    """DBCNN: VGG-16 (``pretrained``: timm tag of ``vgg16`` read from resources/weights, or null) and the
    SCNN branch (``scnn_weights``: the declared file, or null for random init)."""
    from pyiqa.archs import dbcnn_arch

    from baselines._nets import Scores, _skip_load, load_external, torchvision_random, without_downloads
    from gmc.models.backbones import load_local_state_dict
    from gmc.models.weight_files import external_weight_file, weight_tag

    tv = type("tv", (), {"models": torchvision_random("vgg16")})
    with without_downloads(dbcnn_arch, torchvision=tv, load_pretrained_network=_skip_load):
        net = dbcnn_arch.DBCNN(fc=freeze_backbones, pretrained=False)
    tag = weight_tag("vgg16", pretrained)
    if tag is not None:
        state = load_local_state_dict("vgg16", tag)
        features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
        # features1 is VGG-16's features less the last max-pool: indices 0..29, all that hold tensors
        net.features1.load_state_dict(features, strict=True)
    if scnn_weights not in (None, False, "", "null", "none"):
        state = load_external(external_weight_file(scnn_weights), "DBCNN's SCNN branch")
        branch = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
        net.features2.load_state_dict(branch, strict=True)
    return Scores(net)
