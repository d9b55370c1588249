"""WaDIQaM-NR (Bosse et al., "Deep Neural Networks for No-Reference and Full-Reference Image Quality
Assessment", IEEE TIP 2018) on pyiqa's ``WaDIQaM`` with ``metric_type='NR'`` (PolyForm Noncommercial;
imported, not copied). Built-in VGG-like feature network, trained from scratch (``pretrained=False``).

The network cuts its own 32 x 32 patches: ``train_patch_num`` (32) random patches of its input in
training, all non-overlapping patches at test time, and pools their scores with learned weights. The
harness feeds it 384 px crops of the stored image (pyiqa feeds the whole 512 x 384 KonIQ image; a 384 px
crop keeps the pixels unresampled). No recipe is declared: the paper's optimiser settings were not
verified offline, and pyiqa's retraining (PLCC loss, FR-pretrained features) is not the authors'.
"""

from __future__ import annotations

from gmc.models import register_model


@register_model(
    "wadiqam_nr",
    native_loss="l1",
    default_input_size=384,
    description="WaDIQaM-NR (pyiqa arch, trained from scratch)",
    protocol={"kind": "crop", "train_crops": 1, "test_crops": 1, "test_crop_mode": "center"},
    normalisation="none: RGB in [0, 1] as pyiqa",
    sources={
        "native_loss": "Bosse et al. 2018 s. III: mean absolute error of the weighted-average image score "
        "(pyiqa's retraining uses PLCCLoss instead)",
        "default_input_size": "pyiqa options/train/WaDIQaM/train_WaDIQaM_NR_koniq.yml: whole 512x384 "
        "KonIQ images; here a 384 px crop of them",
        "protocol": "Bosse et al. 2018 s. III / pyiqa wadiqam_arch.py: 32 random 32 x 32 patches in "
        "training, all non-overlapping patches at test, inside the network",
        "normalisation": "pyiqa wadiqam_arch.py takes [0, 1] RGB input unnormalised",
    },
)
def build_wadiqam_nr(weighted_average: bool = True, train_patch_num: int = 32, eps: float = 1e-8):
    """WaDIQaM-NR from scratch."""
    from pyiqa.archs.wadiqam_arch import WaDIQaM

    from baselines._nets import Scores

    return Scores(
        WaDIQaM(
            metric_type="NR",
            pretrained=False,
            weighted_average=weighted_average,
            train_patch_num=train_patch_num,
            eps=eps,
        )
    )
