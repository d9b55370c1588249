"""No-reference baselines built from pyiqa architectures (pyiqa is PolyForm Noncommercial licensed:
these wrappers import it at run time and copy none of its code).

Each arch is built with ``pyiqa.archs.build_network`` and pretrained downloads disabled (see
../shared/docs/pyiqa.md, "builds offline"): CNNIQA (Kang et al., CVPR 2014; 0.73 M parameters, native
loss L1) and WaDIQaM-NR (Bosse et al., TIP 2018; native loss L1 on the weighted patch average).
The wrapper feeds images in [0, 1] (pyiqa's own convention) and returns (B,) scores.

This module is light (gmc.models, "light index, heavy builders"): registering the cards imports neither
torch nor pyiqa; a build function imports them when it is called. Each card declares the constructor
options a config may set (the pyiqa class's keyword arguments, less the ones that would download
pretrained weights); ``tests/test_registry_and_metrics.py`` checks them against pyiqa's signatures.
"""

from __future__ import annotations

from gmc.models import register_model

#: name -> (pyiqa options with downloads disabled, native loss, default input size, description,
#: options a config may set)
PYIQA_BASELINES = {
    "cnniqa": (
        {"type": "CNNIQA", "pretrained": None},
        "l1",
        224,
        "CNNIQA (pyiqa arch, trained from scratch)",
        ("ker_size", "n_kers", "n1_nodes", "n2_nodes"),
    ),
    "wadiqam_nr": (
        {"type": "WaDIQaM", "metric_type": "NR", "pretrained": False},
        "l1",
        224,
        "WaDIQaM-NR (pyiqa arch, trained from scratch)",
        ("weighted_average", "train_patch_num", "eps"),
    ),
}


def build_pyiqa_arch(arch_options: dict):
    """``pyiqa.archs.build_network(arch_options)`` wrapped to return (B,) scores."""
    from pyiqa.archs import build_network  # imported here: pyiqa and torch are slow to import

    from gmc.models.adapters import FlattenScores

    return FlattenScores(build_network(dict(arch_options)))


def _register(name: str, arch_options: dict, native_loss: str, size: int, description: str, options) -> None:
    @register_model(
        name, native_loss=native_loss, default_input_size=size, description=description, options=options
    )
    def build(**config_options):
        return build_pyiqa_arch({**arch_options, **config_options})


for _name, (_arch, _loss, _size, _description, _options) in PYIQA_BASELINES.items():
    _register(_name, _arch, _loss, _size, _description, _options)
