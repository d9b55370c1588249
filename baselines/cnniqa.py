"""CNNIQA (Kang et al., "Convolutional Neural Networks for No-Reference Image Quality Assessment",
CVPR 2014) on pyiqa's ``CNNIQA`` (PolyForm Noncommercial; imported, not copied). No backbone, no
pretrained weights (``pretrained=None``; pyiqa's ``False`` raises a KeyError).

Protocol: the paper trains on non-overlapping 32 x 32 patches, each labelled with its image's score,
and averages the patch scores at test time. Mapped to the harness: kind ``crop`` at 32 px, 192 random
crops per image per epoch (a 512 x 384 image holds 16 x 12 = 192 non-overlapping patches) and a grid of
144 (12 x 12, a square number as ``grid`` needs) averaged at test. Differences from the paper, kept as
pyiqa has them: RGB input in [0, 1] (the paper uses grey-scale patches after local contrast
normalisation). No recipe is declared: the paper's optimiser settings were not verified offline, and
pyiqa's retraining (384 px crops, PLCC loss) is not the authors' protocol.
"""

from __future__ import annotations

from gmc.models import register_model


@register_model(
    "cnniqa",
    native_loss="l1",
    default_input_size=32,
    description="CNNIQA (pyiqa arch, trained from scratch)",
    protocol={"kind": "crop", "train_crops": 192, "test_crops": 144, "test_crop_mode": "grid"},
    normalisation="none: RGB in [0, 1] as pyiqa (the paper's local contrast normalisation is not applied)",
    sources={
        "native_loss": "Kang et al. 2014 s. 3: L1 loss between patch score and image score (pyiqa's "
        "retraining uses PLCCLoss instead)",
        "default_input_size": "Kang et al. 2014 s. 3: 32 x 32 patches",
        "protocol": "Kang et al. 2014 s. 3: non-overlapping 32 x 32 patches, image score = mean of patch "
        "scores (mapped to random training crops and a test grid, see the module docstring)",
        "normalisation": "pyiqa cnniqa_arch.py takes [0, 1] RGB input unnormalised",
    },
)
def build_cnniqa(ker_size: int = 7, n_kers: int = 50, n1_nodes: int = 800, n2_nodes: int = 800):
    """CNNIQA from scratch (pyiqa's layer sizes by default)."""
    from pyiqa.archs.cnniqa_arch import CNNIQA

    from baselines._nets import Scores

    return Scores(
        CNNIQA(ker_size=ker_size, n_kers=n_kers, n1_nodes=n1_nodes, n2_nodes=n2_nodes, pretrained=None)
    )
