"""The config's JSON schema (``gmc/config/schema.yaml``, package data) and readable errors against it.

The schema is the single source of truth for keys, types and defaults. :func:`schema_errors` validates a
config, fills in the defaults (like ``snakemake.utils.validate``) and turns jsonschema's messages into
ones that name the key, the value and the fix; when the config came from YAML files it also names the
file and line of the offending key (:func:`key_locations`). :func:`read_yaml` reports a YAML syntax
error with its file, line and column.

Per-model ``train:`` overrides take the same keys and types as the ``train`` section, without its
defaults (a default there would silently override the section): :func:`load_schema` derives that
sub-schema from the ``train`` section, so the two never disagree.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
from collections.abc import Iterable
from pathlib import Path

import jsonschema
import yaml

from gmc.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parent / "schema.yaml"

#: libyaml's loader when PyYAML was built with it (same YAML 1.1 rules, ~10x faster to parse), else PyYAML's
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: a string YAML 1.1 (PyYAML, which Snakemake uses) did not read as a number although it looks like one,
#: e.g. ``1e-4`` (no decimal point) or ``1.0e4`` (no exponent sign)
_NUMBER_LIKE = re.compile(r"^[-+]?(\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _strip_defaults(schema):
    """``schema`` without any ``default`` (recursively)."""
    if isinstance(schema, dict):
        return {k: _strip_defaults(v) for k, v in schema.items() if k != "default"}
    if isinstance(schema, list):
        return [_strip_defaults(v) for v in schema]
    return schema


@functools.cache
def _schema() -> dict:
    schema = yaml.load(SCHEMA_PATH.read_text(), Loader=_SafeLoader)
    model_props = schema["properties"]["models"]["additionalProperties"]["properties"]
    overrides = _strip_defaults(copy.deepcopy(schema["properties"]["train"]))
    overrides["description"] = model_props["train"]["description"]
    model_props["train"] = overrides
    return schema


def load_schema() -> dict:
    """The schema as a dict (a fresh copy; per-model ``train`` overrides typed like ``train``)."""
    return copy.deepcopy(_schema())


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


def _explain(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, with the fix where we know it."""
    value = error.instance
    if error.validator == "type" and isinstance(value, str) and _NUMBER_LIKE.match(value.strip()):
        return (
            f"{value!r} is a string, not a number: YAML 1.1 (PyYAML, used by Snakemake) reads a number "
            "without a decimal point or without a signed exponent as text; write it like 1.0e-4 or 1.0e+4"
        )
    if error.validator == "additionalProperties" and isinstance(value, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed))
        hints = []
        for key in extra:
            close = difflib.get_close_matches(key, allowed, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return f"unknown key(s) {', '.join(hints)}; valid keys: {', '.join(allowed)}"
    return error.message


def _dotted(path: Iterable) -> str:
    return ".".join(map(str, path)) or "<top level>"


def schema_errors(config: dict, sources: Iterable[str | Path] = ()) -> list[str]:
    """Validate ``config`` in place against the schema (filling defaults); return one line per error,
    ``key: message (file:line)``, sorted by key."""
    validator = _with_defaults(jsonschema.Draft202012Validator)(_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    locations = key_locations(sources) if errors else {}
    lines = []
    for error in errors:
        path = tuple(map(str, error.absolute_path))
        where = _location(locations, path)
        lines.append(f"  {_dotted(path)}: {_explain(error)}{f' ({where})' if where else ''}")
    return lines


# ------------------------------------------------------------------------------------- YAML files
def read_yaml(path: str | Path) -> dict:
    """Load a YAML config file; a syntax error raises :class:`ConfigError` with file, line and column."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(), Loader=_SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or str(err)
        context = getattr(err, "context", None)
        raise ConfigError(
            f"{where}: YAML syntax error: {problem}{f' ({context})' if context else ''}; check the "
            "indentation (spaces only, no tabs), the colons after keys and the closing brackets there"
        ) from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a YAML mapping (key: value lines) at the top level")
    return data


def merge_into(base: dict, update: dict) -> dict:
    """Merge ``update`` into ``base`` recursively, in place, as Snakemake merges several config files
    (``snakemake.utils.update_config``): mappings merge key by key, any other value replaces."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_into(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def read_configs(paths: Iterable[str | Path]) -> dict:
    """Read YAML config files and merge them in order (later files win)."""
    config: dict = {}
    for path in paths:
        merge_into(config, read_yaml(path))
    return config


def _walk(node: yaml.Node, prefix: tuple, out: dict, path: Path) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                here = (*prefix, key.value)
                out[here] = f"{path}:{key.start_mark.line + 1}"
                _walk(value, here, out, path)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            here = (*prefix, str(i))
            out[here] = f"{path}:{item.start_mark.line + 1}"
            _walk(item, here, out, path)


def key_locations(sources: Iterable[str | Path]) -> dict[tuple[str, ...], str]:
    """``key path -> "file:line"`` for every key of the YAML files ``sources`` (later files win, as
    they do when Snakemake merges them). Unreadable files are skipped (their errors come elsewhere)."""
    out: dict[tuple[str, ...], str] = {}
    for source in sources:
        path = Path(source)
        try:
            node = yaml.compose(path.read_text(), Loader=_SafeLoader)
        except (OSError, yaml.YAMLError):
            continue
        if node is not None:
            _walk(node, (), out, path)
    return out


def _location(locations: dict[tuple[str, ...], str], path: tuple[str, ...]) -> str:
    """The file and line of ``path`` or of its closest ancestor present in the files."""
    for n in range(len(path), 0, -1):
        if path[:n] in locations:
            return locations[path[:n]]
    return ""
