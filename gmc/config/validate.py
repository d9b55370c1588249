"""Config validation: everything that can be known before any job runs is checked here, so that
``snakemake -n`` (and ``python -m gmc check-config``) rejects a mistake with the key and the fix instead of
a job failing after training.

Checks, in order: the schema (types, unknown keys, defaults filled in; :mod:`gmc.config.schema`), then
references between sections (``benchmark`` names defined models and datasets), then every catalogue entry
against the registries: a model's ``arch``, its ``options`` and ``native_loss``; a loss entry's ``type``
and options; each loss in ``benchmark.losses``; every dataset's ``type`` and options (the dataset spec is
built, which checks required options such as a ``csv`` set's ``score_range``). The registries are light
(names and metadata only), so none of this imports torch, timm or pyiqa.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from gmc.config.schema import read_yaml, schema_errors
from gmc.config.settings import NATIVE
from gmc.errors import ConfigError
from gmc.registry import UnknownNameError


def loss_type(config: dict, key: str) -> str:
    """The registered loss behind a loss key (its ``losses`` entry's ``type``, else the key itself)."""
    return config["losses"].get(key, {}).get("type", key)


def loss_options(config: dict, key: str) -> dict:
    """The options of a loss key (its ``losses`` entry without ``type``)."""
    return {k: v for k, v in config["losses"].get(key, {}).items() if k != "type"}


def check_loss_name(config: dict, name: str, where: str) -> None:
    """Raise :class:`ConfigError` unless ``name`` is a registered loss or a ``losses`` key of one."""
    from gmc.losses import LOSSES

    kind = loss_type(config, name)
    if kind not in LOSSES:
        raise ConfigError(
            f"{where}: loss {name!r} is neither a registered loss ({', '.join(LOSSES.names())}) nor a key "
            "of 'losses:' with a 'type'; fix the name or define the loss variant under 'losses:'"
        )


def check_reported_loss(config: dict, name: str) -> None:
    """A loss of ``benchmark.losses`` other than ``native``: a registered loss or a ``losses:`` variant of
    one. Every such loss is trained for every model and reported (main tables, and the loss comparison
    table of a model with more than two losses); an unknown name is rejected with the valid names."""
    check_loss_name(config, name, f"benchmark.losses: {name!r}")


def check_loss_entry(config: dict, key: str) -> None:
    """A ``losses`` entry: a registered ``type`` and only the options that loss's constructor takes."""
    from gmc.losses import LOSSES

    check_loss_name(config, key, f"losses.{key}")
    card = LOSSES.get(loss_type(config, key))
    unknown = card.unknown_options(loss_options(config, key))
    if unknown:
        raise ConfigError(
            f"losses.{key}: unknown option(s) {', '.join(map(repr, unknown))} for loss {card.name!r}; "
            f"valid options: {', '.join(card.options) or '(none)'}"
        )


def model_card(config: dict, key: str):
    """The registered card of model entry ``models.<key>`` (:class:`ConfigError` for an unknown arch)."""
    from gmc.models import get_model_card

    arch = config["models"][key]["arch"]
    try:
        return get_model_card(arch)
    except UnknownNameError as err:
        raise ConfigError(f"models.{key}.arch: {err} (python -m gmc list models)") from None


def check_model_entry(config: dict, key: str) -> None:
    """A ``models`` entry: a registered ``arch``, options its build function takes, a known native loss,
    and a ``pretrained`` value the weight-file logic understands."""
    entry = config["models"][key]
    card = model_card(config, key)
    options = entry.get("options", {})
    card.check_options(options, f"models.{key}.options")
    native = entry.get("native_loss", card.native_loss)
    check_loss_name(config, native, f"models.{key}.native_loss")
    try:
        card.weights(**options)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"models.{key}.options: {err}") from None
    from gmc.config.settings import TrainSettings
    from gmc.data.protocol import resolve_protocol

    resolve_protocol(card.protocol, entry.get("protocol"), f"models.{key}.protocol")
    _check_input_size(entry, card, key)
    unknown = sorted(set(card.recipe) - set(TrainSettings.__dataclass_fields__))
    if unknown:  # a defect of the card, not of the config: say whose
        raise ConfigError(f"model card {card.name!r}: its recipe has unknown train setting(s) {unknown}")


def _check_input_size(entry: dict, card, key: str) -> None:
    """A network built for a fixed size (its build function takes ``input_size``, e.g. ASNA's flatten
    head, MoNet's ViT position embeddings) must be built for the size the data are cached at (the
    entry's ``input_size``, else the card's default). Crop protocols cut crops of ``input_size`` too."""
    import inspect

    if "input_size" not in (card.options() or ()):
        return
    default = inspect.signature(card.build).parameters.get("input_size")
    built = entry.get("options", {}).get(
        "input_size", default.default if default is not None else card.default_input_size
    )
    data = entry.get("input_size", card.default_input_size)
    if built != data:
        raise ConfigError(
            f"models.{key}: the network is built for {built} px images (options.input_size) but the data "
            f"are prepared at {data} px (input_size); set options.input_size: {data} (or input_size: {built})"
        )


def check_dataset_entry(config: dict, key: str) -> None:
    """A ``datasets`` entry: a registered ``type`` with valid and complete options."""
    from gmc.data.datasets import build_dataset_spec

    try:
        build_dataset_spec(key, config["datasets"][key])
    except ConfigError:
        raise
    except (UnknownNameError, ValueError, TypeError) as err:
        raise ConfigError(f"datasets.{key}: {err}") from None


def _check_references(config: dict) -> None:
    blocks = [("benchmark", config["benchmark"])]
    if "fr_benchmark" in config:
        blocks.append(("fr_benchmark", config["fr_benchmark"]))
    for block, bench in blocks:
        for section, names in (
            ("models", bench["models"]),
            ("datasets", bench["train_sets"] + bench["test_sets"] + bench.get("extra_datasets", [])),
        ):
            for name in names:
                if name not in config[section]:
                    raise ConfigError(
                        f"{block} refers to {section[:-1]} {name!r}, which is not defined under "
                        f"'{section}:' (defined: {', '.join(sorted(config[section]))}); add it or fix the "
                        "name"
                    )


def _dataset_is_fr(config: dict, key: str) -> bool:
    from gmc.data.datasets import build_dataset_spec

    return build_dataset_spec(key, config["datasets"][key]).full_reference


def check_tracks(config: dict) -> None:
    """No-reference models and datasets under ``benchmark``, full-reference ones under ``fr_benchmark``:
    an FR model scores a (reference, distorted) pair and cannot run on an NR dataset, and the other way
    round. A mix is a :class:`ConfigError` naming the entry and the section it belongs in."""
    tracks = [("benchmark", config["benchmark"], False)]
    if "fr_benchmark" in config:
        tracks.append(("fr_benchmark", config["fr_benchmark"], True))
    for block, bench, fr in tracks:
        kind, other = ("full-reference", "benchmark") if not fr else ("no-reference", "fr_benchmark")
        for key in bench["models"]:
            if model_card(config, key).full_reference != fr:
                raise ConfigError(
                    f"{block}.models: {key!r} (arch {config['models'][key]['arch']!r}) is a {kind} model; "
                    f"list it under {'fr_benchmark' if not fr else 'benchmark'}.models"
                )
        for key in bench["train_sets"] + bench["test_sets"]:
            if _dataset_is_fr(config, key) != fr:
                raise ConfigError(
                    f"{block}: dataset {key!r} is {kind}; list it under "
                    f"{'fr_benchmark' if not fr else 'benchmark'}.train_sets/test_sets "
                    f"(or benchmark.extra_datasets to only prepare it), not under {other}"
                )


def validate_config(raw: dict, *, sources: Iterable[str | Path] = ()) -> dict:
    """Validate ``raw`` (schema, references, registries); return a new dict with defaults filled in.

    ``sources``: the YAML files ``raw`` was read from, so that errors name the file and line."""
    config = json.loads(json.dumps(raw))
    sources = list(sources)
    errors = schema_errors(config, sources)
    if errors:
        origin = f" ({', '.join(map(str, sources))})" if sources else ""
        raise ConfigError(f"invalid configuration{origin}:\n" + "\n".join(errors))
    _check_references(config)
    for key in config["losses"]:
        check_loss_entry(config, key)
    for key in config["models"]:
        check_model_entry(config, key)
    model_losses = [entry.get("losses", []) for entry in config["models"].values()]
    fr_losses = config.get("fr_benchmark", {}).get("losses", [])
    for loss in dict.fromkeys(config["benchmark"]["losses"] + fr_losses + sum(model_losses, [])):
        if loss != NATIVE:
            check_reported_loss(config, loss)
    for key in config["datasets"]:
        check_dataset_entry(config, key)
    check_tracks(config)
    return config


def load_config(path: str | Path) -> dict:
    """Read and validate one YAML config file (syntax errors name the line and column)."""
    return validate_config(read_yaml(path), sources=[path])
