"""``render_ablation_report``: scores CSV + ablation specs -> ``ablations.html``,
``tables/ablation_<name>.tex|csv``, ``figures/ablation_<name>.png|pdf``, ``ablations.provenance.json``.

Each ablation is a list of variants (one run each, given by its model and loss) evaluated intra-dataset on
one or more training sets. Every problem is found before anything is written. Reads results only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from gmc.errors import ConfigError, InputFileError
from gmc.reporting import display, figures, tables
from gmc.reporting.flags import build_flags
from gmc.reporting.html import render_html
from gmc.reporting.latex import to_booktabs
from gmc.reporting.report import _input, _write_csv, _write_text
from gmc.reporting.scores import load_scores

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
FIX_CONFIG = "fix the ablations section of the config"
FIX_RUNS = "run `snakemake ablations` to train and evaluate the missing runs"


def _require(spec: dict, keys: tuple[str, ...], what: str) -> None:
    if not isinstance(spec, dict):
        raise ConfigError(f"{what} must be a mapping, got {type(spec).__name__}; {FIX_CONFIG}")
    missing = [k for k in keys if k not in spec]
    if missing:
        raise ConfigError(f"{what}: missing key(s) {', '.join(missing)}; {FIX_CONFIG}")


def _variant(variant: dict, where: str) -> dict:
    """A variant with its defaults filled in (label = name, settings = "")."""
    _require(variant, ("name", "model", "loss"), where)
    out = {k: str(variant[k]) for k in ("name", "model", "loss")}
    out["label"] = str(variant.get("label", out["name"]))
    out["settings"] = str(variant.get("settings", ""))
    return out


def normalise(ablation: dict, position: int) -> dict:
    """Check one ablation spec (:class:`ConfigError` naming the key) and return it with strings, defaults
    and an int ``splits``."""
    where = f"ablation #{position + 1}"
    _require(ablation, ("name", "title", "train_sets", "splits", "variants"), where)
    name = str(ablation["name"])
    where = f"ablation {name!r}"
    if not NAME.match(name):
        raise ConfigError(f"{where}: name must be path-safe (letters, digits, _ . -); {FIX_CONFIG}")
    splits = ablation["splits"]
    if isinstance(splits, bool) or not isinstance(splits, int) or splits < 1:
        raise ConfigError(f"{where}: 'splits' must be a positive integer, got {splits!r}; {FIX_CONFIG}")
    train_sets = [str(t) for t in ablation["train_sets"] or []]
    if not train_sets or len(set(train_sets)) != len(train_sets):
        raise ConfigError(f"{where}: 'train_sets' must be a non-empty list without repeats; {FIX_CONFIG}")
    variants = [_variant(v, f"{where}, variant #{i + 1}") for i, v in enumerate(ablation["variants"] or [])]
    names = [v["name"] for v in variants]
    if not variants or len(set(names)) != len(names):
        raise ConfigError(f"{where}: 'variants' must be a non-empty list with unique names; {FIX_CONFIG}")
    return {
        "name": name,
        "title": str(ablation["title"]),
        "description": str(ablation.get("description") or ""),
        "train_sets": train_sets,
        "splits": splits,
        "variants": variants,
    }


def check_datasets(specs: list[dict], datasets: dict[str, dict]) -> None:
    """Every training set must be described in ``datasets`` (title, synthetic flag); an unknown one is a
    :class:`ConfigError`."""
    for spec in specs:
        unknown = [t for t in spec["train_sets"] if t not in datasets]
        if unknown:
            raise ConfigError(
                f"ablation {spec['name']!r}: train set(s) {', '.join(map(repr, unknown))} are not in the "
                f"datasets metadata (known: {', '.join(sorted(datasets)) or '(none)'}); {FIX_CONFIG} or "
                "configure the dataset"
            )
        for key in spec["train_sets"]:
            if "synthetic_demo" not in datasets[key]:
                raise ValueError(
                    f"datasets metadata for {key!r} has no 'synthetic_demo' flag; the report must know "
                    "whether its numbers come from synthetic demo data"
                )


def _describe(variant: dict, train_set: str) -> str:
    return (
        f"variant {variant['name']!r} (model {variant['model']!r}, loss {variant['loss']!r}) on train_set "
        f"{train_set!r}"
    )


def check_cells(used: pd.DataFrame, spec: dict, source: Path) -> None:
    """Each (variant, train_set) cell needs intra-dataset SROCC rows from a single loss role, with exactly
    ``spec["splits"]`` splits per metric (:class:`InputFileError` naming ``source`` when not). A split with
    an undefined correlation (NaN value: constant predictions) still has its row, so it counts.
    ``used``: :func:`gmc.reporting.tables.ablation_scores`."""
    head = f"scores file {source}: ablation {spec['name']!r}"
    missing = []
    for variant in spec["variants"]:
        for train_set in spec["train_sets"]:
            cell = used[
                (used["model"] == variant["model"])
                & (used["loss"] == variant["loss"])
                & (used["train_set"] == train_set)
            ]
            if not cell["metric"].eq("SROCC").any():
                missing.append(_describe(variant, train_set))
                continue
            roles = sorted(cell["loss_role"].unique())
            if len(roles) > 1:
                raise InputFileError(
                    f"{head}: {_describe(variant, train_set)} has rows with several loss roles "
                    f"({', '.join(map(repr, roles))}); one run must have one role; fix the scores file"
                )
            for metric, part in cell.groupby("metric", sort=True):
                if len(part) != spec["splits"]:
                    got = ", ".join(map(str, sorted(part["split"])))
                    raise InputFileError(
                        f"{head}: {_describe(variant, train_set)} has {len(part)} {metric} split(s) "
                        f"({got}), expected {spec['splits']} (the ablation's 'splits'); {FIX_RUNS}, or set "
                        "'splits' to the number of splits run"
                    )
    if missing:
        more = f"; and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise InputFileError(
            f"{head}: no intra-dataset SROCC rows (test_set == train_set) for {len(missing)} cell(s): "
            f"{'; '.join(missing[:5])}{more}; {FIX_RUNS}"
        )


def _figure(spec: dict, datasets: dict[str, dict], used: pd.DataFrame) -> dict:
    stem = f"figures/ablation_{spec['name']}"
    synthetic = any(display.is_synthetic(datasets, d) for d in spec["train_sets"])
    note = " Synthetic demo data (not human-rated)." if synthetic else ""
    return {
        "name": f"ablation_{spec['name']}",
        "png": f"{stem}.png",
        "pdf": f"{stem}.pdf",
        "alt": f"Median intra-dataset SROCC per variant of the ablation {spec['title']}",
        "caption": f"{spec['title']}: intra-dataset median SROCC per variant (diamonds) for each training "
        "set; points are individual splits." + figures.undefined_note(used) + note,
    }


def _section(spec: dict, table: display.Table, datasets: dict[str, dict], used: pd.DataFrame) -> dict:
    stem = f"tables/ablation_{spec['name']}"
    return {
        "name": spec["name"],
        "title": spec["title"],
        "description": spec["description"],
        "table": table,
        "tex": f"{stem}.tex",
        "csv": f"{stem}.csv",
        "figure": _figure(spec, datasets, used),
    }


def render_ablation_report(
    scores_csv: Path | None,
    out_dir: Path,
    *,
    ablations: list[dict],
    datasets: dict[str, dict],
    provenance: dict,
    title: str = "GMC-IQA benchmark",
    runs: pd.DataFrame | None = None,
    models: dict[str, dict] | None = None,
) -> None:
    """Render the ablation tables, figures and page from ``scores_csv`` (long format, any loss roles) into
    ``out_dir``.

    ``ablations``: in display order, each {"name", "title", "description", "train_sets", "splits",
    "variants": [{"name", "label", "settings", "model", "loss"}, ...]} (variant order = row order);
    ``datasets``: as for :func:`gmc.reporting.render_report`; ``provenance``: shown in the footer and written
    to ``ablations.provenance.json``; ``runs`` (``results/ablations/runs.csv``) and ``models`` (metadata
    of the variants' models, as for :func:`gmc.reporting.render_report`) raise the protocol flags of
    :mod:`gmc.reporting.flags` in the cells (test-data selection, AMP, non-paper backbone, fewer splits
    than the paper protocol). An empty ``ablations`` list writes a page saying so (``scores_csv``
    may then be None; it is not read).

    Raises, before writing anything, :class:`ConfigError` for malformed specs and unknown datasets, and
    :class:`InputFileError` (naming the file and the fix) for malformed scores, missing runs and wrong split
    counts (both are ``ValueError``).
    """
    out_dir = Path(out_dir)
    specs = [normalise(a, i) for i, a in enumerate(ablations)]
    if specs and scores_csv is None:
        raise ValueError(
            f"{len(specs)} ablation(s) given but no scores file; pass results/ablations/scores.csv"
        )
    scores_csv = Path(scores_csv) if scores_csv is not None else None
    names = [s["name"] for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f"ablation names must be unique, got {', '.join(names)}; {FIX_CONFIG}")
    check_datasets(specs, datasets)

    scores = load_scores(scores_csv, loss_roles=None) if specs else None
    flags = build_flags(runs, models or {})
    frames, used = {}, {}
    for spec in specs:
        used[spec["name"]] = tables.ablation_scores(scores, spec)
        check_cells(used[spec["name"]], spec, scores_csv)
        frames[spec["name"]] = tables.ablation_table(scores, spec)
    sections = [
        _section(
            spec,
            display.ablation_display(frames[spec["name"]], spec, datasets, flags),
            datasets,
            used[spec["name"]],
        )
        for spec in specs
    ]

    for spec, section in zip(specs, sections):
        _write_csv(out_dir / section["csv"], frames[spec["name"]])
        _write_text(out_dir / section["tex"], to_booktabs(section["table"]))
        figures.ablation_points(
            used[spec["name"]], out_dir / f"figures/ablation_{spec['name']}", spec, datasets
        )

    used_sets = sorted({t for spec in specs for t in spec["train_sets"]})
    synthetic_sets = [d for d in used_sets if display.is_synthetic(datasets, d)]
    inputs = {"scores_csv": _input(scores_csv)} if scores_csv is not None and scores_csv.is_file() else {}
    record = {"provenance": provenance, "inputs": inputs, "ablations": specs}
    record_json = json.dumps(record, indent=2, sort_keys=True, default=str)
    _write_text(out_dir / "ablations.provenance.json", record_json + "\n")

    html = render_html(
        {
            "title": title,
            "synthetic": bool(synthetic_sets),
            "synthetic_sets": [display.title(datasets, d) for d in synthetic_sets],
            "sections": sections,
            "inputs": inputs,
            "scores_path": str(scores_csv) if scores_csv is not None else "",
            "provenance_json": record_json,
        },
        template="ablations.html.j2",
    )
    _write_text(out_dir / "ablations.html", html)
