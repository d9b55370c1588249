"""Model registry: every trainable IQA model is a registered :class:`ModelCard`.

Light index, heavy builders (design.md): a card holds what the DAG, the config check and the model-free
commands need - native loss, input size, FR or NR, the options the model accepts, the weight files it
needs - and a ``build`` function. Registering a card imports nothing heavy: a module that registers models
keeps torch, timm and pyiqa imports *inside* its build functions (or in a module those functions import),
so that ``snakemake -n`` and ``gmc score`` never pay for them. ``tests/test_light_imports.py`` checks this
for every registered model.

Contract (design.md): ``build(**options)`` returns an ``nn.Module`` whose ``forward(x)`` takes a batch of
RGB images in [0, 1], shape (B, 3, H, W) (``forward(ref, dist)`` for full-reference models), and returns
a (B,) tensor of quality scores, higher = better. The model normalises its own input.

Baselines outside this package register through the entry-point group ``gmc.models`` (pyproject.toml),
so gmc never imports them by name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gmc.errors import ConfigError
from gmc.registry import Registry


def _no_weights(**_) -> list[str]:
    return []


def _no_features(options: dict) -> None:
    return None


@dataclass(frozen=True)
class ModelCard:
    """What the harness needs to know about a model family.

    ``build(**options)`` returns the ``nn.Module``; ``options`` come from the config's model entry.
    ``weights(**options)`` lists the weight files the options need (for the fetch step); empty when the
    model trains from scratch or uses weights shipped inside an installed package. ``option_names``
    lists the accepted options when ``build`` takes ``**options`` (e.g. a wrapper that forwards them);
    otherwise they are read from ``build``'s signature.
    """

    name: str
    build: Callable[..., Any]
    native_loss: str
    default_input_size: int = 224
    full_reference: bool = False
    description: str = ""
    weights: Callable[..., list[str]] = field(default=_no_weights)
    option_names: tuple[str, ...] | None = None
    #: the published data protocol (gmc.data.protocol.DataProtocol fields; empty = whole-image resize)
    protocol: Mapping[str, Any] = field(default_factory=dict)
    #: the published training recipe: ``train`` settings (epochs, batch_size, optimizer, lr,
    #: lr_multipliers, weight_decay, scheduler, ...) applied when the config's model entry says
    #: ``recipe: published``
    recipe: Mapping[str, Any] = field(default_factory=dict)
    #: the backbone and weight tag of the paper (e.g. ``resnet50.tv_in1k``); empty when none
    paper_backbone: str = ""
    #: the input normalisation the model applies to [0, 1] images (e.g. "ImageNet mean/std")
    normalisation: str = ""
    #: where each default comes from: field (``protocol``, ``recipe.lr``, ``paper_backbone``...) -> source
    sources: Mapping[str, str] = field(default_factory=dict)
    #: how a run of the model is trained (:data:`TRAINERS`): ``engine`` (``gmc train``, gradient steps on
    #: images) or ``probe`` (closed form on cached frozen-backbone features: ``gmc features`` once per
    #: dataset, then ``gmc probe``; :mod:`gmc.probe`)
    trainer: str = "engine"
    #: the frozen-backbone features a run trains on, from its resolved options (:func:`resolved_options`):
    #: ``(backbone, pretrained, pooling)`` at the run's input size (:func:`gmc.features.run_feature_spec`),
    #: or ``None`` when its runs train on images. Runs that read features get ``results/features/...``
    #: (rule ``features``) where other runs get image caches: the probe, and MoNet with ``freeze_backbone``.
    cached_features: Callable[[dict], tuple[str, Any, str] | None] = field(default=_no_features)

    def options(self) -> tuple[str, ...] | None:
        """The option names ``build`` accepts, or ``None`` when it accepts any (undeclared ``**options``)."""
        if self.option_names is not None:
            return self.option_names
        params = inspect.signature(self.build).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        return tuple(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))

    def check_options(self, options: dict, where: str) -> None:
        """Raise :class:`ConfigError` naming ``where`` for an option ``build`` does not accept."""
        valid = self.options()
        unknown = [] if valid is None else sorted(set(options) - set(valid))
        if unknown:
            raise ConfigError(
                f"{where}: unknown option(s) {', '.join(map(repr, unknown))} for model {self.name!r}; "
                f"valid options: {', '.join(valid) or '(none)'}"
            )


MODELS: Registry[ModelCard] = Registry("model", entry_point_group="gmc.models")
#: the ways a run is trained (``ModelCard.trainer``)
TRAINERS = ("engine", "probe")


def register_model(
    name: str,
    *,
    native_loss: str,
    default_input_size: int = 224,
    full_reference: bool = False,
    description: str = "",
    weights: Callable[..., list[str]] | None = None,
    options: tuple[str, ...] | None = None,
    protocol: Mapping[str, Any] | None = None,
    recipe: Mapping[str, Any] | None = None,
    paper_backbone: str = "",
    normalisation: str = "",
    sources: Mapping[str, str] | None = None,
    trainer: str = "engine",
    cached_features: Callable[[dict], tuple[str, Any, str] | None] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a model factory ``build(**options) -> nn.Module`` under ``name``.

    Keep heavy imports inside ``build``. ``options``: the accepted option names, needed only when
    ``build`` takes ``**options``. ``protocol``, ``recipe``, ``paper_backbone``, ``normalisation`` and
    ``sources``: the published metadata (:class:`ModelCard`). ``trainer``: one of :data:`TRAINERS`.
    ``cached_features``: :attr:`ModelCard.cached_features` (default: the model trains on images)."""
    if trainer not in TRAINERS:
        raise ValueError(f"model {name!r}: trainer {trainer!r} is not one of {TRAINERS}")

    def _wrap(build: Callable[..., Any]) -> Callable[..., Any]:
        card = ModelCard(
            name=name,
            build=build,
            native_loss=native_loss,
            default_input_size=default_input_size,
            full_reference=full_reference,
            description=description or (build.__doc__ or "").strip().split("\n")[0],
            weights=weights or _no_weights,
            option_names=tuple(options) if options is not None else None,
            protocol=dict(protocol or {}),
            recipe=dict(recipe or {}),
            paper_backbone=paper_backbone,
            normalisation=normalisation,
            sources=dict(sources or {}),
            trainer=trainer,
            cached_features=cached_features or _no_features,
        )
        MODELS.register(name, card)
        return build

    return _wrap


def resolved_options(card: ModelCard, options: dict) -> dict:
    """``options`` over the defaults of ``card.build``'s keyword parameters (those that have one)."""
    params = inspect.signature(card.build).parameters.values()
    defaults = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
    return {**defaults, **options}


def get_model_card(arch: str) -> ModelCard:
    """The card registered as ``arch``; an unknown name lists the valid ones."""
    _import_builtin_models()
    return MODELS.get(arch)


def model_names() -> list[str]:
    """Every registered model name (built-in and entry-point plugins)."""
    _import_builtin_models()
    return MODELS.names()


def build_model(arch: str, **options):
    """Build the registered model ``arch`` with config ``options`` (imports the network code)."""
    card = get_model_card(arch)
    card.check_options(options, f"model {arch!r}")
    return card.build(**options)


def _import_builtin_models() -> None:
    from gmc.models import cards  # noqa: F401  (registers "monet" and "asna"; light)
