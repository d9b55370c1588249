"""``render_report``: scores CSV -> ``index.html``, ``tables/*.tex|csv``, ``figures/*.png|pdf``,
``provenance.json``. Reads results only; never trains or predicts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from gmc.io import atomic_write
from gmc.reporting import display, figures, statistics, tables
from gmc.reporting.flags import PAPER_SPLITS, build_flags
from gmc.reporting.html import render_html
from gmc.reporting.latex import tables_document, to_booktabs
from gmc.reporting.scores import (
    check_metadata,
    load_curves,
    load_prediction_rows,
    load_reported,
    load_scores,
)


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8", newline="\n"))


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Raw numbers at full (round-trip) precision; byte-stable for the same input."""
    atomic_write(path, lambda p: frame.to_csv(p, index=False, lineterminator="\n", encoding="utf-8"))


def _input(path: Path) -> dict:
    return {"path": str(path), "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}


#: what a table needs that a configuration may lack: shown on the page and in ``tables.tex`` when the table
#: is empty or absent
NEEDS = {
    "intra": "intra-dataset results (benchmark.train_sets)",
    "cross": "a cross-dataset test set (benchmark.test_sets naming a set it does not train on)",
    "gcc_vs_native": "a model trained with both its native loss and gcc (benchmark.losses: [native, gcc])",
    "loss_comparison": "a model trained with more than two losses (e.g. the loss zoo of models.<key>.losses)",
    "full_reference": "an fr_benchmark: a full-reference model (ASNA) on an FR dataset (the demo's demo_fr; "
    "PIPAL and KADID-10k in config/paper.yaml)",
    "reported": "published numbers (report.reported_csv: config/reported.csv, as in config/paper.yaml) and "
    "models and datasets whose reported_as names match them (real datasets, not the synthetic demo)",
}


def unfilled_tables(shown: dict, loss_tables: list) -> list[dict]:
    """The report's tables this configuration leaves empty or absent, each with what it needs
    (``NEEDS``): the page and ``tables.tex`` list them, so a reader knows which need the paper
    configuration."""
    titles = {
        "intra": "Intra-dataset results",
        "cross": "Cross-dataset results",
        "gcc_vs_native": "Native loss vs GCC loss",
        "loss_comparison": "Loss comparison",
        "full_reference": "Full-reference track",
        "reported": "Reproduced vs reported",
    }
    empty = {key for key in titles if shown.get(key) is None or not shown[key].rows}
    if loss_tables:
        empty.discard("loss_comparison")
    return [{"key": k, "title": t, "needs": NEEDS[k]} for k, t in titles.items() if k in empty]


def render_report(
    scores_csv: Path,
    out_dir: Path,
    *,
    datasets: dict[str, dict],
    models: dict[str, dict],
    provenance: dict,
    reported_csv: Path | None = None,
    title: str = "GMC-IQA benchmark",
    runs: pd.DataFrame | None = None,
    protocol_splits: int = PAPER_SPLITS,
    curves_csv: Path | None = None,
    predictions: list[Path] | None = None,
    sorters: list[Path] | None = None,
) -> None:
    """Render the benchmark report from ``scores_csv`` into ``out_dir``.

    ``datasets``: key -> {"title", "synthetic_demo", "full_reference", optional "reported_as"};
    ``models``: key -> {"title", "arch", "native_loss", optional "reported_as"};
    ``provenance``: shown verbatim in the footer and written to ``provenance.json``;
    ``reported_csv``: optional published numbers for the "reproduced vs reported" table;
    ``runs``: the run table (``results/runs.csv``; its ``selection`` and ``precision`` raise protocol flags,
    :mod:`gmc.reporting.flags`); ``protocol_splits``: the paper protocol's number of splits (a number over
    fewer is flagged). A model whose metadata says ``"paper_backbone": False`` is flagged too.
    ``curves_csv``: the per-epoch validation metrics (``results/curves.csv``,
    :func:`gmc.results.collect_curves`) for the validation-curve figure; ``predictions``: ``gmc predict``
    files for the predictions-vs-MOS figures (one figure per model with predictions; the workflow passes the
    first split's runs). Without them those figures say what is missing.

    Full-reference datasets (``"full_reference": True``, the ``fr_benchmark`` track) get their own table
    (PLCC, SROCC, KROCC, PLCC + SROCC; :func:`gmc.reporting.display.fr_display`) and stay out of the
    no-reference intra, cross and reported tables and figures; the paired statistics, the GCC plug-in table
    and the curves cover both tracks. ``sorters``: the JSON summaries of ASNA's pre-trained sorters
    (``results/sorters/sorter<n>.pt.json``), whose accuracy the FR table states.

    Statistics over splits (:mod:`gmc.reporting.statistics`): every model's native loss vs each other loss,
    per train/test set and metric (SROCC, PLCC), in ``tables/statistics.csv`` (Holm over each model's
    comparisons of one metric); the GCC-vs-native table shows the intra-dataset SROCC ones with Holm over its
    own rows.

    Any loss role is reported (``native``, ``gcc`` or another registered loss type): the intra, cross and
    reported tables list every (model, loss) row, native first, then GCC, then the others alphabetically;
    the GCC plug-in table compares native with GCC only; a model trained with more than two losses also
    gets a loss comparison table (``tables/loss_comparison_<model>.tex``; every such model's raw numbers
    in ``tables/loss_comparison.csv``, which has only its header when no model qualifies) and a table of
    each loss against the native one with the paired statistics (``tables/loss_statistics_<model>.tex``;
    raw numbers in ``tables/statistics.csv``).

    A NaN SROCC/PLCC/KROCC (undefined correlation: constant predictions) is kept: statistics use the defined
    splits, the CSVs count the others in ``*_n_undefined``, tables and figures mark the affected cells.

    Raises ``ValueError`` (naming the file) for empty or malformed scores or missing metadata.
    """
    scores_csv, out_dir = Path(scores_csv), Path(out_dir)
    scores = load_scores(scores_csv)
    check_metadata(scores, datasets, models, scores_csv)
    reported = load_reported(reported_csv) if reported_csv is not None else None

    fr_sets = {k for k, meta in datasets.items() if meta.get("full_reference")}
    fr_scores = scores[scores["test_set"].isin(fr_sets)]
    all_scores, scores = scores, scores[~scores["test_set"].isin(fr_sets)]
    sorter_info = [json.loads(Path(p).read_text(encoding="utf-8")) for p in sorted(map(str, sorters or []))]
    summary = tables.summarise(scores)
    compared = tables.loss_comparison_models(scores)
    paired = statistics.paired_statistics(all_scores)
    frames = {
        "summary": summary,
        "intra": tables.intra_table(summary),
        "cross": tables.cross_table(summary),
        "gcc_vs_native": statistics.with_statistics(tables.gcc_vs_native_table(all_scores), paired),
        "full_reference": tables.fr_table(fr_scores),
        "loss_comparison": tables.loss_comparison_table(summary, compared),
        "statistics": statistics.add_holm(paired, ["model", "metric"]),
    }
    flags = build_flags(runs, models, protocol_splits)
    if reported is not None:
        frames["reported"] = tables.reported_table(summary, reported, datasets, models)

    shown = {
        "intra": display.intra_display(frames["intra"], datasets, models, flags),
        "cross": display.cross_display(frames["cross"], datasets, models, flags),
        "gcc_vs_native": display.gcc_display(frames["gcc_vs_native"], datasets, models, flags),
        "full_reference": display.fr_display(
            frames["full_reference"],
            datasets,
            models,
            flags,
            sorter_info,
            tables.fr_published(reported, datasets, fr_sets),
        ),
        "reported": (
            display.reported_display(frames["reported"], datasets, models, flags)
            if reported is not None
            else None
        ),
    }

    loss_tables = [
        table
        for model in compared
        for table in (
            display.loss_comparison_display(frames["loss_comparison"], model, datasets, models, flags),
            display.loss_statistics_display(frames["statistics"], model, datasets, models),
        )
    ]

    table_dir = out_dir / "tables"
    for name, frame in frames.items():
        _write_csv(table_dir / f"{name}.csv", frame)
    written = []
    for table in [*shown.values(), *loss_tables]:
        if table is not None:
            _write_text(table_dir / f"{table.key}.tex", to_booktabs(table))
            written.append(f"tables/{table.key}.tex")
    unfilled = unfilled_tables(shown, loss_tables)
    _write_text(out_dir / "tables.tex", tables_document(title, written, unfilled))

    fig_dir = out_dir / "figures"
    figures.intra_bars(scores, fig_dir / "intra_srocc", datasets, models)
    figures.gcc_vs_native_scatter(all_scores, fig_dir / "gcc_vs_native", datasets, models)
    figures.difference_forest(paired, fig_dir / "gcc_differences", datasets, models)
    figures.cross_heatmap(scores, fig_dir / "cross_srocc", datasets, models)
    curves = load_curves(curves_csv) if curves_csv is not None else pd.DataFrame()
    figures.validation_curves(curves, fig_dir / "validation_srocc", datasets, models)
    prediction_rows = load_prediction_rows(predictions or [])
    scatter_models = sorted(prediction_rows["model"].unique()) if not prediction_rows.empty else []
    for model in scatter_models:
        figures.prediction_scatter(prediction_rows, fig_dir / f"scatter_{model}", model, datasets, models)

    used_sets = sorted(set(all_scores["train_set"]) | set(all_scores["test_set"]))
    synthetic_sets = [d for d in used_sets if display.is_synthetic(datasets, d)]
    synthetic = bool(synthetic_sets)
    note = " Synthetic demo data (not human-rated)." if synthetic else ""
    figure_list = [
        {
            "name": "intra_srocc",
            "alt": "Grouped bar chart of intra-dataset median SROCC per model and loss",
            "caption": "Intra-dataset median SROCC per model and loss for each training set; "
            "points are individual splits (native loss plain, other losses hatched)."
            + figures.undefined_note(scores)
            + note,
        },
        {
            "name": "gcc_vs_native",
            "alt": "Scatter plot of native-loss SROCC against GCC-loss SROCC per split",
            "caption": "SROCC with the native loss (x) vs the GCC loss (y) on the same model, dataset and "
            "split; points above the dashed diagonal are splits where GCC scored higher."
            + figures.undefined_note(scores, medians=False)
            + note,
        },
        {
            "name": "cross_srocc",
            "alt": "Heatmap of cross-dataset median SROCC per model and loss and per train-test pair",
            "caption": "Cross-dataset median SROCC over splits: each row a model and loss, each column a "
            "training set and the set it was tested on whole; n/a where that run was not made."
            + figures.undefined_note(scores)
            + note,
        },
        {
            "name": "gcc_differences",
            "alt": "Forest plot of the median SROCC difference GCC minus native with bootstrap intervals",
            "caption": "Median intra-dataset SROCC difference over splits, GCC loss minus native loss, per "
            "model and training set, with its 95 % percentile-bootstrap interval (none under 3 splits) and "
            "the number of splits GCC won; points right of zero favour GCC. Tests: GCC plug-in table." + note,
        },
        {
            "name": "validation_srocc",
            "alt": "Validation SROCC per epoch per model and training set, one line per loss",
            "caption": "Validation SROCC after each epoch (on the split's validation part, never the test "
            "part): mean over splits, band from the lowest to the highest split; native and GCC solid, "
            "other losses dashed."
            + ("" if curves_csv is not None else " No training curves were passed to the report.")
            + note,
        },
        *[
            {
                "name": f"scatter_{model}",
                "alt": f"Predictions against MOS of {display.title(models, model)} per loss and test set",
                "caption": f"{display.title(models, model)}: predictions against MOS (normalised 0-1 scale) "
                "on each test set, one run per panel (the first split; a test set the model was not trained "
                "on shows the cross-dataset run of its first training set), with the fitted VQEG 4-parameter "
                "logistic used for PLCC (logistic)." + note,
            }
            for model in scatter_models
        ],
    ]

    inputs = {"scores_csv": _input(scores_csv)}
    if reported_csv is not None:
        inputs["reported_csv"] = _input(Path(reported_csv))
    if curves_csv is not None:
        inputs["curves_csv"] = _input(Path(curves_csv))
    for k, path in enumerate(sorted(map(str, sorters or []))):
        inputs[f"sorter_{k}"] = _input(Path(path))
    for k, path in enumerate(sorted(map(str, predictions or []))):
        inputs[f"predictions_{k}"] = _input(Path(path))
    record = {"provenance": provenance, "inputs": inputs}
    record_json = json.dumps(record, indent=2, sort_keys=True, default=str)
    _write_text(out_dir / "provenance.json", record_json + "\n")

    combos = all_scores[["model", "loss_role", "loss"]].drop_duplicates()
    html = render_html(
        {
            "title": title,
            "synthetic": synthetic,
            "synthetic_sets": [display.title(datasets, d) for d in synthetic_sets],
            "tables": shown,
            "loss_tables": loss_tables,
            "unfilled": unfilled,
            "figures": figure_list,
            "inputs": inputs,
            "provenance_json": record_json,
            "protocol": display.protocol_notes(provenance),
            "n_models": all_scores["model"].nunique(),
            "n_losses": len(combos),
            "n_datasets": len(used_sets),
            "n_rows": len(all_scores),
        }
    )
    _write_text(out_dir / "index.html", html)
