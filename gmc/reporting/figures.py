"""Report figures (matplotlib, Agg, no pyplot state): each function writes ``<stem>.png`` and ``<stem>.pdf``
atomically and deterministically (no creation date in the PDF, fixed split-point offsets, sorted data).

Text from the config (dataset, model and ablation titles, variant labels) is drawn literally: ``RC`` turns
matplotlib's mathtext off for every Text of these figures, so a ``$``, ``^``, ``_`` or backslash in a title
is shown as typed instead of starting a formula (or failing to parse one).

Splits whose correlation is undefined (NaN: constant predictions) are not plotted; medians are over the
defined splits, and a median that excludes undefined splits is marked with ``UNDEFINED_MARK``. The callers
say so in the captions (:func:`undefined_note`)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gmc.config.settings import NATIVE
from gmc.io import atomic_path
from gmc.reporting.display import UNDEFINED_MARK, is_synthetic, loss_label, model_rows, title

RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.alpha": 0.3,
    "pdf.fonttype": 42,
    "svg.hashsalt": "gmc",
    # every label of these figures is plain text, much of it from the config: never mathtext or LaTeX
    "text.parse_math": False,
    "text.usetex": False,
}
COLORS = mpl.colormaps["tab10"].colors
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
HATCHES = ("", "//", "\\\\", "..", "xx", "++")


def save(fig: Figure, stem: Path) -> list[Path]:
    """Write ``stem``.png (150 dpi) and ``stem``.pdf atomically; return both paths."""
    paths = []
    for fmt, metadata in (("png", {"Software": None}), ("pdf", {"CreationDate": None, "Producer": None})):
        path = stem.with_suffix(f".{fmt}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=150, metadata=metadata)
        paths.append(path)
    return paths


def _title(fig: Figure, text: str, synthetic: bool) -> None:
    """Figure-level title (above the legend too), with a second line flagging synthetic demo data."""
    if synthetic:
        text += "\nSYNTHETIC demo data (not human-rated; not comparable with published results)"
    fig.suptitle(text, x=0.01, ha="left", fontsize=10, color="black")


def _dagger(datasets: dict[str, dict], key: str) -> str:
    return "\u2020" if is_synthetic(datasets, key) else ""


def _marker(marker: str, color, label: str) -> Line2D:
    """A legend proxy: one marker, no line."""
    return Line2D(
        [], [], linestyle="", marker=marker, markersize=7, color=color, markeredgecolor="black", label=label
    )


def undefined_note(scores: pd.DataFrame, metric: str = "SROCC", medians: bool = True) -> str:
    """A caption sentence (with a leading space) counting the intra-dataset ``metric`` splits with an
    undefined (NaN) value, or "" when there are none. ``medians``: the figure shows marked medians."""
    intra = scores[(scores["train_set"] == scores["test_set"]) & (scores["metric"] == metric)]
    k = int(intra["value"].isna().sum())
    if not k:
        return ""
    about = f", excluded from the medians ({UNDEFINED_MARK} marks such a median)" if medians else ""
    return (
        f" {k} of {len(intra)} split(s) gave constant predictions ({metric} undefined); not plotted{about}."
    )


def _mark(ax, x: float, median: float, n_undefined: int) -> None:
    """``UNDEFINED_MARK`` above a median that excludes ``n_undefined`` splits; "‡ undefined" (vertical, at
    the bottom of the axes) where no split is defined."""
    if not n_undefined:
        return
    style = {"ha": "center", "va": "bottom", "color": "#8a4b00"}
    if np.isnan(median):
        where = ax.get_xaxis_transform()  # x in data, y in axes fraction
        ax.text(x, 0.03, f"{UNDEFINED_MARK} undefined", transform=where, rotation=90, fontsize=8, **style)
    else:
        ax.annotate(UNDEFINED_MARK, (x, median), xytext=(0, 5), textcoords="offset points", **style)


def _empty(fig: Figure, message: str) -> None:
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)


def intra_bars(
    scores: pd.DataFrame,
    stem: Path,
    datasets: dict[str, dict],
    models: dict[str, dict],
    metric: str = "SROCC",
) -> list[Path]:
    """Grouped bars of the median ``metric`` per model/loss for each training set (intra-dataset), with one
    point per split. Colour = model, hatching = loss (native plain; the model's other losses hatched, one
    pattern each in row order: GCC first, then the others alphabetically)."""
    intra = scores[(scores["train_set"] == scores["test_set"]) & (scores["metric"] == metric)]
    sets = sorted(intra["train_set"].unique())
    combos = model_rows(intra) if not intra.empty else []
    synthetic = any(is_synthetic(datasets, d) for d in sets)
    model_keys = sorted({c[0] for c in combos})
    with mpl.rc_context(RC):
        fig = Figure(
            figsize=(max(8.0, 1.2 + len(sets) * (0.35 * len(combos) + 0.6)), 5.2), layout="constrained"
        )
        if not combos:
            _empty(fig, "No intra-dataset results.")
            return save(fig, stem)
        ax = fig.add_subplot()
        width = 0.8 / len(combos)
        x = np.arange(len(sets), dtype=float)
        lo = 0.0
        for j, (model, role, loss) in enumerate(combos):
            color = COLORS[model_keys.index(model) % len(COLORS)]
            others = [c for c in combos if c[0] == model and c[1] != NATIVE]
            hatch = (
                "" if role == NATIVE else HATCHES[1 + others.index((model, role, loss)) % (len(HATCHES) - 1)]
            )
            offset = (j - (len(combos) - 1) / 2) * width
            medians = []
            for i, ds in enumerate(sets):
                vals = intra[
                    (intra["model"] == model)
                    & (intra["loss_role"] == role)
                    & (intra["loss"] == loss)
                    & (intra["train_set"] == ds)
                ].sort_values("split")["value"]
                undefined, vals = int(vals.isna().sum()), vals.dropna()
                medians.append(vals.median() if len(vals) else np.nan)
                _mark(ax, x[i] + offset, medians[-1], undefined)
                if len(vals):
                    lo = min(lo, float(vals.min()))
                    jitter = np.linspace(-width * 0.22, width * 0.22, len(vals)) if len(vals) > 1 else [0.0]
                    ax.scatter(
                        x[i] + offset + np.asarray(jitter),
                        vals,
                        s=12,
                        color="black",
                        zorder=3,
                        label="split" if (j == 0 and i == 0) else None,
                    )
            ax.bar(
                x + offset,
                medians,
                width=width * 0.95,
                color=color,
                alpha=0.55 if role == NATIVE else 0.95,
                hatch=hatch,
                edgecolor="black",
                linewidth=0.6,
                label=f"{title(models, model)} \u2014 {loss_label(role, loss)}",
            )
        ax.set_xticks(x, [textwrap.fill(title(datasets, d) + _dagger(datasets, d), 18) for d in sets])
        ax.set_ylabel(f"median {metric} over splits")
        ax.set_ylim(min(0.0, lo - 0.05), 1.02)
        ax.axhline(0, color="black", linewidth=0.6)
        _title(
            fig, f"Intra-dataset {metric} (bars: median over splits, points: individual splits)", synthetic
        )
        fig.legend(loc="outside lower center", ncols=2, frameon=False)
        return save(fig, stem)


def gcc_vs_native_scatter(
    scores: pd.DataFrame,
    stem: Path,
    datasets: dict[str, dict],
    models: dict[str, dict],
    metric: str = "SROCC",
) -> list[Path]:
    """Per split, the native-loss ``metric`` (x) against the GCC-loss ``metric`` (y) of the same model,
    dataset and split; points above the diagonal are splits GCC won. Colour = model, marker = dataset."""
    intra = scores[(scores["train_set"] == scores["test_set"]) & (scores["metric"] == metric)]
    keys = ["model", "train_set", "split"]
    native = intra[intra["loss_role"] == "native"][[*keys, "loss", "value"]]
    gcc = intra[intra["loss_role"] == "gcc"][[*keys, "loss", "value"]]
    paired = native.merge(gcc, on=keys, suffixes=("_native", "_gcc")).sort_values(
        ["model", "train_set", "loss_native", "loss_gcc", "split"]
    )
    paired = paired.dropna(subset=["value_native", "value_gcc"])  # both sides defined
    sets = sorted(paired["train_set"].unique())
    model_keys = sorted(paired["model"].unique())
    synthetic = any(is_synthetic(datasets, d) for d in sets)
    with mpl.rc_context({**RC, "axes.grid.axis": "both"}):
        fig = Figure(figsize=(7.6, 5.2), layout="constrained")
        if paired.empty:
            _empty(
                fig, "No split was run (with a defined correlation) with both the native and the GCC loss."
            )
            return save(fig, stem)
        ax = fig.add_subplot()
        for (model, ds), part in paired.groupby(["model", "train_set"], sort=True):
            ax.scatter(
                part["value_native"],
                part["value_gcc"],
                color=COLORS[model_keys.index(model) % len(COLORS)],
                marker=MARKERS[sets.index(ds) % len(MARKERS)],
                s=36,
                edgecolor="black",
                linewidth=0.5,
                zorder=3,
            )
        values = np.concatenate([paired["value_native"].to_numpy(), paired["value_gcc"].to_numpy()])
        span = max(float(values.max() - values.min()), 0.02)
        lims = (float(values.min()) - 0.08 * span, float(values.max()) + 0.08 * span)
        ax.plot(lims, lims, color="grey", linestyle="--", linewidth=1, zorder=1)
        ax.set_xlim(lims)
        ax.set_ylim(lims)
        ax.set_aspect("equal")
        ax.set_xlabel(f"{metric}, native loss")
        ax.set_ylabel(f"{metric}, GCC loss")
        ax.text(
            0.03, 0.97, "above the diagonal: GCC better", transform=ax.transAxes, va="top", color="dimgrey"
        )
        _title(fig, f"{metric} with the native loss vs the GCC loss, per split (intra-dataset)", synthetic)
        handles = [_marker("o", COLORS[i % len(COLORS)], title(models, m)) for i, m in enumerate(model_keys)]
        handles += [
            _marker(MARKERS[i % len(MARKERS)], "white", title(datasets, d) + _dagger(datasets, d))
            for i, d in enumerate(sets)
        ]
        handles.append(Line2D([], [], color="grey", linestyle="--", label="GCC = native"))
        fig.legend(handles=handles, loc="outside right center", frameon=False)
        return save(fig, stem)


def ablation_points(
    scores: pd.DataFrame,
    stem: Path,
    ablation: dict,
    datasets: dict[str, dict],
    metric: str = "SROCC",
) -> list[Path]:
    """One panel per training set of ``ablation`` (normalised spec): the median intra-dataset ``metric`` of
    each variant (diamonds joined by a thin line, variants in their configured order on the x axis) and one
    point per split."""
    intra = scores[(scores["train_set"] == scores["test_set"]) & (scores["metric"] == metric)]
    sets, variants = list(ablation["train_sets"]), list(ablation["variants"])
    synthetic = any(is_synthetic(datasets, d) for d in sets)
    rotate = len(variants) > 5 or any(len(v["label"]) > 14 for v in variants)
    with mpl.rc_context(RC):
        fig = Figure(
            figsize=(max(6.0, 1.2 + len(sets) * (0.7 * len(variants) + 1.0)), 4.8), layout="constrained"
        )
        if not sets or not variants:
            _empty(fig, "No variants or training sets.")
            return save(fig, stem)
        axes = fig.subplots(1, len(sets), sharey=True, squeeze=False)[0]
        x = np.arange(len(variants), dtype=float)
        shown: list[float] = []
        for ax, ds in zip(axes, sets):
            medians = []
            for i, variant in enumerate(variants):
                vals = intra[
                    (intra["model"] == variant["model"])
                    & (intra["loss"] == variant["loss"])
                    & (intra["train_set"] == ds)
                ].sort_values("split")["value"]
                undefined, vals = int(vals.isna().sum()), vals.dropna()
                medians.append(float(vals.median()) if len(vals) else np.nan)
                _mark(ax, x[i], medians[-1], undefined)
                shown += vals.tolist()
                if len(vals):
                    jitter = np.linspace(-0.15, 0.15, len(vals)) if len(vals) > 1 else [0.0]
                    ax.scatter(x[i] + np.asarray(jitter), vals, s=12, color="black", alpha=0.75, zorder=3)
            ax.plot(x, medians, color=COLORS[0], linewidth=1, zorder=2)
            ax.scatter(
                x, medians, marker="D", s=48, color=COLORS[0], edgecolor="black", linewidth=0.6, zorder=4
            )
            ax.set_title(title(datasets, ds) + _dagger(datasets, ds))
            labels = [textwrap.fill(v["label"], 16) for v in variants]
            ax.set_xticks(x, labels, **({"rotation": 30, "ha": "right"} if rotate else {}))
            ax.set_xlim(-0.5, len(variants) - 0.5)
        if shown:
            span = max(max(shown) - min(shown), 0.02)
            axes[0].set_ylim(min(shown) - 0.12 * span, max(shown) + 0.12 * span)
        axes[0].set_ylabel(f"{metric} (intra-dataset)")
        _title(fig, f"{ablation['title']}: {metric} per variant", synthetic)
        handles = [
            _marker("D", COLORS[0], "median over splits"),
            Line2D([], [], linestyle="", marker="o", markersize=4, color="black", label="split"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
        return save(fig, stem)


def cross_matrix(scores: pd.DataFrame, metric: str = "SROCC") -> pd.DataFrame:
    """Median cross-dataset ``metric`` over splits (undefined splits left out): one row per (model,
    loss_role, loss) in report order (:func:`gmc.reporting.display.model_rows`), one column per
    (train_set, test_set) pair with train_set != test_set, sorted; NaN where a row has no such run."""
    cross = scores[(scores["train_set"] != scores["test_set"]) & (scores["metric"] == metric)]
    if cross.empty:
        return pd.DataFrame()
    medians = cross.groupby(["model", "loss_role", "loss", "train_set", "test_set"])["value"].median()
    matrix = medians.unstack(["train_set", "test_set"]).sort_index(axis=1)
    return matrix.reindex(model_rows(cross))


def cross_heatmap(
    scores: pd.DataFrame,
    stem: Path,
    datasets: dict[str, dict],
    models: dict[str, dict],
    metric: str = "SROCC",
) -> list[Path]:
    """Heatmap of :func:`cross_matrix`: rows model (loss), columns "train -> test", each cell its median
    with the value written in it ("n/a", uncoloured, where the row has no such run)."""
    matrix = cross_matrix(scores, metric)
    pairs = list(matrix.columns)
    synthetic = any(is_synthetic(datasets, d) for pair in pairs for d in pair)
    height = 1.6 + 0.32 * max(len(matrix), 1)
    with mpl.rc_context({**RC, "axes.grid": False}):
        fig = Figure(figsize=(max(7.6, 4.0 + 1.5 * len(pairs)), height), layout="constrained")
        if matrix.empty:
            _empty(fig, "No cross-dataset test set was configured (benchmark.test_sets).")
            return save(fig, stem)
        ax = fig.add_subplot()
        values = matrix.to_numpy(dtype=float)
        image = ax.imshow(
            np.ma.masked_invalid(values),
            cmap="viridis",
            vmin=-1 if (values < 0).any() else 0,
            vmax=1,
            aspect="auto",
        )
        for (i, j), value in np.ndenumerate(values):
            text = "n/a" if np.isnan(value) else f"{value:.3f}"
            ax.text(
                j, i, text, ha="center", va="center", fontsize=8, color="white" if value < 0.6 else "black"
            )
        ax.set_xticks(range(len(pairs)))
        ax.set_xticklabels(
            [
                f"{title(datasets, a)}{_dagger(datasets, a)} -> {title(datasets, b)}{_dagger(datasets, b)}"
                for a, b in pairs
            ],
            rotation=20,
            ha="right",
        )
        ax.set_yticks(range(len(matrix)))
        ax.set_yticklabels(
            [f"{title(models, m)} ({loss_label(role, loss)})" for m, role, loss in matrix.index]
        )
        fig.colorbar(image, ax=ax, label=f"median {metric}")
        _title(fig, f"Cross-dataset median {metric} over splits", synthetic)
        return save(fig, stem)
