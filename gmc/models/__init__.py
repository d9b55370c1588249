"""Model registry: every trainable IQA model is a registered :class:`ModelCard`.

Contract (design.md): a model is an ``nn.Module`` whose ``forward(x)`` takes a batch of RGB images in
[0, 1], shape (B, 3, H, W) (and ``forward(ref, dist)`` for full-reference models) and returns a (B,)
tensor of quality scores, higher = better. The model normalises its own input. The card declares the
input size, whether the model is FR, its native loss, and the weight files it needs.

Baselines outside this package register through the entry-point group ``gmc.models`` (see
pyproject.toml), so gmc never imports them directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from gmc.registry import Registry


@dataclass(frozen=True)
class ModelCard:
    """What the harness needs to know about a model family.

    ``build(**options)`` returns the ``nn.Module``; ``options`` come from the config's model entry.
    ``weights(**options)`` lists the weight files the options need (for the fetch step); empty when
    the model trains from scratch or uses weights shipped inside an installed package.
    """

    name: str
    build: Callable[..., nn.Module]
    native_loss: str
    default_input_size: int = 224
    full_reference: bool = False
    description: str = ""
    weights: Callable[..., list[str]] = field(default=lambda **_: [])


MODELS: Registry[ModelCard] = Registry("model", entry_point_group="gmc.models")


def register_model(
    name: str,
    *,
    native_loss: str,
    default_input_size: int = 224,
    full_reference: bool = False,
    description: str = "",
    weights: Callable[..., list[str]] | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator registering a model factory ``build(**options) -> nn.Module`` under ``name``."""

    def _wrap(build: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        card = ModelCard(
            name=name,
            build=build,
            native_loss=native_loss,
            default_input_size=default_input_size,
            full_reference=full_reference,
            description=description or (build.__doc__ or "").strip().split("\n")[0],
            weights=weights or (lambda **_: []),
        )
        MODELS.register(name, card)
        return build

    return _wrap


def get_model_card(arch: str) -> ModelCard:
    """The card registered as ``arch``; an unknown name lists the valid ones."""
    _import_builtin_models()
    return MODELS.get(arch)


def build_model(arch: str, **options) -> nn.Module:
    """Build the registered model ``arch`` with config ``options``."""
    return get_model_card(arch).build(**options)


def _import_builtin_models() -> None:
    from gmc.models import monet  # noqa: F401  (registers "monet")
