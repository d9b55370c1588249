"""MUSIQ (Ke et al., "MUSIQ: Multi-scale Image Quality Transformer", ICCV 2021) on pyiqa's ``MUSIQ``
(PolyForm Noncommercial; imported, not copied). Builds offline with ``pretrained=False``.

MUSIQ has its own ResNet stem and transformer. ``pretrained: imagenet`` loads its authors' ImageNet
pretraining (``musiq_imagenet_pretrain-51d9b0a5.pth``, converted by pyiqa; declared in
``gmc.models.weight_files.EXTERNAL_WEIGHTS`` and fetched by ``snakemake fetch_weights``) as pyiqa does
(strict); null is random init. MUSIQ scores the native-resolution image plus aspect-ratio-preserving
rescales (longer side 224 and 384); the harness feeds a square image (whole-image resize), which
MUSIQ then patches at those scales (:class:`baselines._nets.MusiqScores` prepares the patches in
training mode, as pyiqa's data pipeline would).

Facts not verified offline: the paper's optimiser, learning rate, batch size and loss for KonIQ-10k
(no recipe is declared; the native loss is MSE, see ``sources``).
"""

from __future__ import annotations

from baselines._pyiqa import HALF, external
from gmc.models import register_model

IMAGENET_FILE = "musiq_imagenet_pretrain-51d9b0a5.pth"
PRETRAINED = {"imagenet": IMAGENET_FILE}


def _weights(pretrained="imagenet", **_) -> list[str]:
    return external(PRETRAINED.get(pretrained, pretrained))


@register_model(
    "musiq",
    native_loss="mse",
    default_input_size=384,
    description="MUSIQ (pyiqa MUSIQ; ImageNet pretraining from a declared local file)",
    weights=_weights,
    protocol={},
    paper_backbone="MUSIQ's own ResNet stem + transformer, ImageNet-pretrained by its authors "
    "(musiq_imagenet_pretrain-51d9b0a5.pth)",
    normalisation=HALF,
    sources={
        "native_loss": "regression to MOS with an L2 loss (Ke et al. 2021 s. 4.1 as pyiqa's pipeline "
        "reads it; not verified against the paper offline)",
        "default_input_size": "Ke et al. 2021 s. 4: multi-scale input with longer sides 224 and 384 "
        "(pyiqa longer_side_lengths); 384 is the largest fixed scale",
        "protocol": "Ke et al. 2021 s. 3: the whole image, no crops (mapped to a whole-image resize)",
        "paper_backbone": "Ke et al. 2021 s. 4.1: pretrained on ImageNet; pyiqa musiq_arch.py "
        "default_model_urls['imagenet_pretrain']",
        "normalisation": "pyiqa musiq_arch.py: (x - 0.5) * 2 'as the official code'",
    },
)
def build_musiq(
    pretrained: str | None = "imagenet",
    num_layers: int = 14,
    hidden_size: int = 384,
    mlp_dim: int = 1152,
    num_heads: int = 6,
    longer_side_lengths: list[int] | None = None,
):
    """MUSIQ (``pretrained``: ``imagenet``, a declared weight file name, or null)."""
    from pyiqa.archs import musiq_arch

    from baselines._nets import MusiqScores, load_external
    from gmc.models.weight_files import external_weight_file

    net = musiq_arch.MUSIQ(
        pretrained=False,
        num_layers=num_layers,
        hidden_size=hidden_size,
        mlp_dim=mlp_dim,
        num_heads=num_heads,
        longer_side_lengths=list(longer_side_lengths or [224, 384]),
    )
    files = external(PRETRAINED.get(pretrained, pretrained))
    if files:
        name = files[0].rsplit("/", 1)[-1]
        net.load_state_dict(load_external(external_weight_file(name), "MUSIQ's pretraining"), strict=True)
    return MusiqScores(net)
