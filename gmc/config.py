"""Benchmark configuration: YAML -> validated against the JSON schema (defaults filled in) -> frozen
dataclasses. The schema (workflow/schemas/config.schema.yaml) is the single source of truth for keys,
types and defaults; Snakemake validates with it on start-up and the CLI does the same here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"
NATIVE = "native"


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key, the value and the fix."""


def _with_defaults(validator_class):
    """A jsonschema validator that also fills in ``default`` values (like snakemake.utils.validate)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = json.loads(json.dumps(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def validate_config(raw: dict) -> dict:
    """Validate ``raw`` against the schema, fill defaults, check cross references; return a new dict."""
    config = json.loads(json.dumps(raw))
    validator = _with_defaults(jsonschema.Draft202012Validator)(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {'.'.join(map(str, e.absolute_path)) or '<top>'}: {e.message}" for e in errors]
        raise ConfigError("invalid configuration:\n" + "\n".join(lines))
    bench = config["benchmark"]
    for section, names in (
        ("models", bench["models"]),
        ("datasets", bench["train_sets"] + bench["test_sets"] + bench["extra_datasets"]),
    ):
        for name in names:
            if name not in config[section]:
                raise ConfigError(
                    f"benchmark refers to {section[:-1]} {name!r}, which is not defined under "
                    f"'{section}:' (defined: {', '.join(sorted(config[section]))}); add it or fix the name"
                )
    return config


def load_config(path: str | Path) -> dict:
    with open(path) as fh:
        raw = yaml.safe_load(fh)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a YAML mapping at the top level")
    return validate_config(raw)


def check_loss_type(name: str, where: str) -> None:
    """Raise ``ConfigError`` unless ``name`` is a registered loss."""
    from gmc.losses import LOSSES

    if name not in LOSSES.names():
        raise ConfigError(
            f"{where}: loss {name!r} is neither a registered loss ({', '.join(LOSSES.names())}) nor a key "
            "of 'losses:' with a 'type'; fix the name or define the loss variant under 'losses:'"
        )


def config_hash(obj: Any) -> str:
    """sha256 (first 12 hex digits) of the canonical JSON of ``obj``: identifies a resolved config."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


@dataclass(frozen=True)
class TrainSettings:
    """The ``train`` section (see the schema for meanings and defaults)."""

    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    weight_decay: float
    scheduler: str
    t_max: int | None
    eta_min: float
    hflip: bool
    amp: bool
    selection: str
    label_scaling: str
    deterministic: bool
    eval_batch_size: int

    @classmethod
    def from_dict(cls, d: dict) -> TrainSettings:
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(
                f"unknown train setting(s) {sorted(unknown)}; valid: {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**d)


@dataclass(frozen=True)
class RunSpec:
    """One training run: model x loss x training set x split. Paths follow design.md."""

    model: str
    loss: str  # resolved loss name (mse, l1, gcc, ...)
    loss_role: str  # "native" or the name listed in benchmark.losses
    train_set: str
    split: int

    @property
    def run_dir(self) -> str:
        return f"results/runs/{self.model}/{self.loss}/{self.train_set}/split{self.split}"

    def prediction(self, test_set: str) -> str:
        return (
            f"results/predictions/{self.model}/{self.loss}/{self.train_set}/split{self.split}/{test_set}.csv"
        )


@dataclass(frozen=True)
class Benchmark:
    """A validated config with the questions the workflow asks of it."""

    raw: MappingProxyType = field(repr=False)
    ablations: tuple = ()  # gmc.ablations.Ablation, in config order

    @classmethod
    def from_dict(cls, config: dict) -> Benchmark:
        """Validate ``config`` and resolve its ablation grids (their generated model/loss entries are
        added to the catalogues of :attr:`raw`; the caller's dict is not modified)."""
        from gmc.ablations import expand_ablations

        validated = validate_config(config)
        probe = cls(MappingProxyType(validated))
        for loss in validated["benchmark"]["losses"]:
            if loss != NATIVE:
                check_loss_type(probe.loss_type(loss), f"benchmark.losses: {loss!r}")
        ablations = expand_ablations(validated, probe.native_loss, len(probe.split_indices()))
        return cls(MappingProxyType(validated), ablations)

    @property
    def bench(self) -> dict:
        return self.raw["benchmark"]

    def native_loss(self, model: str) -> str:
        entry = self.raw["models"][model]
        if "native_loss" in entry:
            return entry["native_loss"]
        from gmc.models import get_model_card

        return get_model_card(entry["arch"]).native_loss

    def resolve_loss(self, model: str, loss: str) -> str:
        return self.native_loss(model) if loss == NATIVE else loss

    def loss_type(self, loss_name: str) -> str:
        """The registered loss behind a loss name (a ``losses`` entry's ``type``, else the name)."""
        return self.raw["losses"].get(loss_name, {}).get("type", loss_name)

    def loss_options(self, loss_name: str) -> dict:
        """The options a loss name is built with (its ``losses`` entry without ``type``)."""
        return {k: v for k, v in self.raw["losses"].get(loss_name, {}).items() if k != "type"}

    def loss_role(self, model: str, loss_name: str) -> str:
        """``native`` for the model's own loss, else the registered loss type (e.g. ``gcc``)."""
        return NATIVE if loss_name == self.native_loss(model) else self.loss_type(loss_name)

    def split_indices(self) -> list[int]:
        return [0] if self.bench["split_protocol"] == "official" else list(range(self.bench["splits"]))

    def runs(self) -> Iterator[RunSpec]:
        seen = set()
        for model in self.bench["models"]:
            for loss in self.bench["losses"]:
                name = self.resolve_loss(model, loss)
                for train_set in self.bench["train_sets"]:
                    for split in self.split_indices():
                        spec = RunSpec(model, name, self.loss_role(model, name), train_set, split)
                        if spec not in seen:
                            seen.add(spec)
                            yield spec

    def ablation_runs(self) -> Iterator[RunSpec]:
        """The runs of every ablation grid, once each (runs shared with the main benchmark included)."""
        seen = set()
        for ablation in self.ablations:
            for variant in ablation.variants:
                for train_set in ablation.train_sets:
                    for split in self.split_indices()[: ablation.splits]:
                        role = self.loss_role(variant.model, variant.loss)
                        spec = RunSpec(variant.model, variant.loss, role, train_set, split)
                        if spec not in seen:
                            seen.add(spec)
                            yield spec

    def test_sets(self, train_set: str) -> list[str]:
        """Intra-dataset (the split's test part) first, then every cross-dataset test set."""
        return [train_set] + [t for t in self.bench["test_sets"] if t != train_set]

    def prepared_datasets(self) -> list[str]:
        b = self.bench
        ablation_sets = {d for a in self.ablations for d in a.train_sets}
        return sorted(set(b["train_sets"]) | set(b["test_sets"]) | set(b["extra_datasets"]) | ablation_sets)

    def train_settings(self, model: str) -> TrainSettings:
        merged = {**self.raw["train"], **self.raw["models"][model].get("train", {})}
        return TrainSettings.from_dict(merged)

    def input_size(self, model: str) -> int:
        entry = self.raw["models"][model]
        if "input_size" in entry:
            return int(entry["input_size"])
        from gmc.models import get_model_card

        return get_model_card(entry["arch"]).default_input_size

    def run_config(self, run: RunSpec) -> dict:
        """Everything a training run depends on, as plain JSON (passed to ``gmc train``)."""
        entry = self.raw["models"][run.model]
        return {
            "model": run.model,
            "arch": entry["arch"],
            "model_options": dict(entry.get("options", {})),
            "input_size": self.input_size(run.model),
            "loss": run.loss,
            "loss_type": self.loss_type(run.loss),
            "loss_role": run.loss_role,
            "loss_options": self.loss_options(run.loss),
            "train_set": run.train_set,
            "split": run.split,
            "seed": self.raw["seed"] + run.split,
            "device": self.raw["device"],
            "train": dict(self.train_settings(run.model).__dict__),
        }
