"""Ablation grids: the config's ``ablations:`` section -> variants -> the (model, loss) entries they train.

A grid names a base model and a base loss and lists variants; each variant changes one thing::

    ablations:
      queue_length:
        model: monet_small
        loss: gcc
        train_sets: [demo_scenes]
        variants:
          batch_only: {label: "0 (batch only)", loss_options: {queue_size: 0}}
          q800: {loss_options: {queue_size: 800}}
          ratio: {loss_options: {queue_size: null, queue_ratio: 0.5}}
      views:
        model: monet_small
        variants:
          M1: {model_options: {num_views: 1}}

A variant may swap the model (``model``) or the loss (``loss``) and override options (``model_options``,
``loss_options``; ``null`` removes an option). Its settings are resolved into catalogue entries: when the
resolved model entry (ignoring ``title``/``reported_as``) or loss entry (registered ``type`` + options)
equals an entry that already exists, the variant uses that entry, so its runs are shared with the main
benchmark or with other grids (e.g. ``q800`` above is the main ``gcc`` run when ``losses.gcc`` has
``queue_size: 800``). Otherwise a new entry ``<base>-<grid>-<variant>`` is added to the catalogue.
Equality is literal: an option left at its default is not equal to the same value written out, so the
configs write the defaults that ablations compare against.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass

from gmc.config.settings import NATIVE
from gmc.config.validate import (
    check_loss_entry,
    check_loss_name,
    check_model_entry,
    loss_options,
    loss_type,
)
from gmc.errors import ConfigError

#: model entry keys that only change how a model is shown, not what is trained
_DISPLAY_KEYS = ("title", "reported_as")


@dataclass(frozen=True)
class Variant:
    """One row of an ablation table: the catalogue entries it trains and what it changes."""

    name: str
    label: str
    settings: str  # what differs from the base, e.g. "queue_size=0" or "loss=mse"
    model: str  # a key of config["models"] (possibly generated)
    loss: str  # a key of config["losses"] or a registered loss name (never "native")


@dataclass(frozen=True)
class Ablation:
    """One ablation grid: the variants, trained on ``train_sets`` with the first ``splits`` splits."""

    name: str
    title: str
    description: str
    model: str
    loss: str
    train_sets: tuple[str, ...]
    splits: int
    variants: tuple[Variant, ...]

    def as_dict(self) -> dict:
        """Plain JSON-able form (the report's input)."""
        out = asdict(self)
        out["train_sets"] = list(self.train_sets)
        out["variants"] = [asdict(v) for v in self.variants]
        return out


def merge_options(base: dict, overrides: dict) -> dict:
    """``base`` updated with ``overrides``: dicts merge recursively, a ``None`` value removes the key."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_options(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _check_generated(check: Callable[[dict, str], None], config: dict, key: str, where: str) -> None:
    """Check a generated catalogue entry; an error names the variant that made it."""
    try:
        check(config, key)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def _describe(changes: dict) -> str:
    """``{"queue_size": 0, "queue_ratio": None}`` -> ``"queue_size=0, queue_ratio unset"``."""
    parts = []
    for key, value in changes.items():
        if value is None:
            parts.append(f"{key} unset")
        else:
            parts.append(f"{key}={json.dumps(value, sort_keys=True) if isinstance(value, dict) else value}")
    return ", ".join(parts)


def _model_identity(entry: dict) -> str:
    return json.dumps({k: v for k, v in entry.items() if k not in _DISPLAY_KEYS}, sort_keys=True)


def _resolve_model(config: dict, grid: str, name: str, variant: dict, base: str) -> str:
    key = variant.get("model", base)
    if key not in config["models"]:
        raise ConfigError(
            f"ablations.{grid}.variants.{name}: model {key!r} is not defined under 'models:' "
            f"(defined: {', '.join(sorted(config['models']))})"
        )
    overrides = variant.get("model_options")
    if not overrides:
        return key
    entry = copy.deepcopy(config["models"][key])
    entry["options"] = merge_options(entry.get("options", {}), overrides)
    label = variant.get("label", name)
    entry["title"] = f"{entry.get('title', key)} [{grid}: {label}]"
    identity = _model_identity(entry)
    for existing in [key, *config["models"]]:
        if _model_identity(config["models"][existing]) == identity:
            return existing
    new = f"{key}-{grid}-{name}"
    if new in config["models"]:
        raise ConfigError(
            f"ablations.{grid}.variants.{name}: the generated model name {new!r} is already defined under "
            "'models:' with other settings; rename that entry or the variant"
        )
    config["models"][new] = entry
    _check_generated(check_model_entry, config, new, f"ablations.{grid}.variants.{name}.model_options")
    return new


def _resolve_loss(
    config: dict, grid: str, name: str, variant: dict, base: str, model: str, native_loss: Callable
) -> str:
    key = variant.get("loss", base)
    if key == NATIVE:
        key = native_loss(model)
    check_loss_name(config, key, f"ablations.{grid}.variants.{name}")
    overrides = variant.get("loss_options")
    if not overrides:
        return key
    entry = {"type": loss_type(config, key), **merge_options(loss_options(config, key), overrides)}
    candidates = [key, *config["losses"]]
    for existing in candidates:
        if {"type": loss_type(config, existing), **loss_options(config, existing)} == entry:
            return existing
    new = f"{key}-{grid}-{name}"
    if new in config["losses"]:
        raise ConfigError(
            f"ablations.{grid}.variants.{name}: the generated loss name {new!r} is already defined under "
            "'losses:' with other settings; rename that entry or the variant"
        )
    config["losses"][new] = entry
    _check_generated(check_loss_entry, config, new, f"ablations.{grid}.variants.{name}.loss_options")
    return new


def expand_ablations(config: dict, native_loss: Callable[[str], str], n_splits: int) -> tuple[Ablation, ...]:
    """Resolve every grid of a validated ``config`` (adding generated entries to its ``models`` and
    ``losses`` catalogues, in place) and return the grids in config order.

    ``native_loss(model_key)`` gives a model's native loss; ``n_splits`` is the number of splits each
    dataset's split file holds (a grid may use the first ``splits`` of them, not more).
    """
    bench = config["benchmark"]
    out = []
    for grid, spec in config.get("ablations", {}).items():
        where = f"ablations.{grid}"
        if spec["model"] not in config["models"]:
            raise ConfigError(
                f"{where}.model: {spec['model']!r} is not defined under 'models:' "
                f"(defined: {', '.join(sorted(config['models']))})"
            )
        train_sets = tuple(spec.get("train_sets", bench["train_sets"]))
        unknown = [d for d in train_sets if d not in config["datasets"]]
        if unknown:
            raise ConfigError(
                f"{where}.train_sets: {', '.join(map(repr, unknown))} not defined under 'datasets:' "
                f"(defined: {', '.join(sorted(config['datasets']))})"
            )
        splits = spec.get("splits", n_splits)
        if splits > n_splits:
            raise ConfigError(
                f"{where}.splits = {splits}, but the benchmark has only {n_splits} split(s) per dataset; "
                f"use at most {n_splits} or raise benchmark.splits"
            )
        variants = []
        for name, variant in spec["variants"].items():
            model = _resolve_model(config, grid, name, variant, spec["model"])
            loss = _resolve_loss(config, grid, name, variant, spec["loss"], model, native_loss)
            changes = {k: variant[k] for k in ("model", "loss") if k in variant}
            changes.update(variant.get("model_options", {}))
            changes.update(variant.get("loss_options", {}))
            variants.append(
                Variant(name, variant.get("label", name), _describe(changes) or "base settings", model, loss)
            )
        out.append(
            Ablation(
                name=grid,
                title=spec.get("title", grid),
                description=spec.get("description", ""),
                model=spec["model"],
                loss=spec["loss"],
                train_sets=train_sets,
                splits=splits,
                variants=tuple(variants),
            )
        )
    return tuple(out)
