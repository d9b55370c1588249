"""No-reference baselines built from pyiqa architectures (pyiqa is PolyForm Noncommercial licensed:
these wrappers import it at run time and copy none of its code).

Each arch is built with ``pyiqa.archs.build_network`` and pretrained downloads disabled (see
../shared/docs/pyiqa.md, "builds offline"): CNNIQA (Kang et al., CVPR 2014; 0.73 M parameters, native
loss L1) and WaDIQaM-NR (Bosse et al., TIP 2018; native loss L1 on the weighted patch average).
The wrapper feeds images in [0, 1] (pyiqa's own convention) and returns (B,) scores.
"""

from __future__ import annotations

from torch import nn

from gmc.models import register_model


class PyiqaArch(nn.Module):
    """Adapts a pyiqa network returning (B, 1) to the harness contract (B,)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x).reshape(-1)


def _build(arch_options: dict) -> nn.Module:
    from pyiqa.archs import build_network  # imported lazily: pyiqa is slow to import

    return PyiqaArch(build_network(dict(arch_options)))


#: name -> (pyiqa options with downloads disabled, native loss, default input size, description)
PYIQA_BASELINES = {
    "cnniqa": (
        {"type": "CNNIQA", "pretrained": None},
        "l1",
        224,
        "CNNIQA (pyiqa arch, trained from scratch)",
    ),
    "wadiqam_nr": (
        {"type": "WaDIQaM", "metric_type": "NR", "pretrained": False},
        "l1",
        224,
        "WaDIQaM-NR (pyiqa arch, trained from scratch)",
    ),
}


def _register(name: str, arch_options: dict, native_loss: str, size: int, description: str) -> None:
    @register_model(name, native_loss=native_loss, default_input_size=size, description=description)
    def build(**options) -> nn.Module:
        return _build({**arch_options, **options})


for _name, (_options, _loss, _size, _description) in PYIQA_BASELINES.items():
    _register(_name, _options, _loss, _size, _description)
