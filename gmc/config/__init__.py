"""Benchmark configuration: YAML -> validated against the schema (defaults filled in) and the registries
-> a :class:`Benchmark` that answers the workflow's questions. Light: nothing here imports torch.

Modules: :mod:`~gmc.config.schema` (the packaged JSON schema, YAML reading, readable errors),
:mod:`~gmc.config.validate` (cross-references and registry checks), :mod:`~gmc.config.ablations`
(ablation grids -> catalogue entries), :mod:`~gmc.config.benchmark` (runs and their settings),
:mod:`~gmc.config.settings` (the ``train`` dataclass, the config hash).
"""

from gmc.config.ablations import Ablation, Variant, merge_options
from gmc.config.benchmark import Benchmark, RunSpec
from gmc.config.schema import SCHEMA_PATH, load_schema, read_yaml
from gmc.config.settings import NATIVE, TrainSettings, config_hash
from gmc.config.validate import load_config, validate_config
from gmc.errors import ConfigError

__all__ = [
    "NATIVE",
    "SCHEMA_PATH",
    "Ablation",
    "Benchmark",
    "ConfigError",
    "RunSpec",
    "TrainSettings",
    "Variant",
    "config_hash",
    "load_config",
    "load_schema",
    "merge_options",
    "read_yaml",
    "validate_config",
]
