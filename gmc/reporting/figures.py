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


def _set_label(datasets: dict[str, dict], key: str) -> str:
    return title(datasets, key) + _dagger(datasets, key)


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


def prediction_scatter(
    predictions: pd.DataFrame,
    stem: Path,
    model: str,
    datasets: dict[str, dict],
    models: dict[str, dict],
) -> list[Path]:
    """Predictions (x) against MOS (y) of one ``model``: one row of panels per loss (report order), one
    column per test set, each panel one run's test images (the caller picks the run: the workflow passes
    each test set's intra-dataset run, or the first training set's cross-dataset run, on the first split)
    with the fitted VQEG logistic (:func:`gmc.metrics.fit_logistic`; none drawn where the fit fails) and
    the run's SROCC and PLCC after the fit in the corner.

    ``predictions``: rows of ``gmc predict`` files (``image, mos, prediction`` and the identity columns);
    only the rows of ``model`` are drawn."""
    from gmc.metrics import fit_logistic, plcc_logistic

    rows = predictions[predictions["model"] == model]
    combos = model_rows(rows) if not rows.empty else []
    sets = sorted(rows["test_set"].unique()) if not rows.empty else []
    synthetic = any(is_synthetic(datasets, d) for d in {*sets, *rows.get("train_set", [])})
    with mpl.rc_context({**RC, "axes.grid.axis": "both"}):
        fig = Figure(
            figsize=(max(6.8, 1.0 + 2.8 * len(sets)), 1.0 + 2.5 * max(len(combos), 1)), layout="constrained"
        )
        if not combos:
            _empty(fig, f"No predictions of {title(models, model)} were passed to the report.")
            return save(fig, stem)
        axes = fig.subplots(len(combos), len(sets), squeeze=False)
        for (i, (_, role, loss)), (j, test_set) in (
            (r, c) for r in enumerate(combos) for c in enumerate(sets)
        ):
            ax = axes[i][j]
            part = rows[(rows["loss_role"] == role) & (rows["loss"] == loss) & (rows["test_set"] == test_set)]
            if part.empty:
                ax.axis("off")
                ax.text(0.5, 0.5, "not run", ha="center", va="center", transform=ax.transAxes)
                continue
            train_set, split = part["train_set"].iloc[0], int(part["split"].iloc[0])
            x, y = part["prediction"].to_numpy(float), part["mos"].to_numpy(float)
            ax.scatter(x, y, s=6, alpha=0.5, color=COLORS[0], linewidth=0)
            mapping = fit_logistic(x, y)
            text = (
                "SROCC n/a" if np.ptp(x) == 0 else f"SROCC {pd.Series(x).corr(pd.Series(y), 'spearman'):.3f}"
            )
            if mapping is not None:
                grid = np.linspace(x.min(), x.max(), 200)
                ax.plot(grid, mapping(grid), color=COLORS[3], linewidth=1.4)
                text += f"\nPLCC (logistic) {plcc_logistic(x, y):.3f}"
            else:
                text += "\nlogistic fit failed"
            ax.text(0.03, 0.97, text, transform=ax.transAxes, va="top", fontsize=7.5)
            kind = "test part" if train_set == test_set else f"trained on {title(datasets, train_set)}"
            ax.set_title(
                f"{title(datasets, test_set)}{_dagger(datasets, test_set)} ({kind}, split {split})",
                fontsize=8.5,
            )
            if j == 0:
                ax.set_ylabel(f"{loss_label(role, loss)}\nMOS (0-1 scale)")
            if i == len(combos) - 1:
                ax.set_xlabel("prediction")
        _title(fig, f"{title(models, model)}: predictions vs MOS with the fitted VQEG logistic", synthetic)
        return save(fig, stem)


def difference_forest(
    paired: pd.DataFrame,
    stem: Path,
    datasets: dict[str, dict],
    models: dict[str, dict],
    metric: str = "SROCC",
) -> list[Path]:
    """GCC minus native ``metric`` per model and training set (intra-dataset), from the paired statistics
    (:func:`gmc.reporting.statistics.paired_statistics`): the median difference over splits as a point, its
    95 % bootstrap interval as a bar (none with fewer than 3 splits), and "wins/n" beside it. Points right
    of the zero line favour GCC."""
    rows = paired[
        (paired["train_set"] == paired["test_set"])
        & (paired["metric"] == metric)
        & (paired["baseline_role"] == NATIVE)
        & (paired["loss_role"] == "gcc")
    ].sort_values(["model", "train_set", "loss"], ascending=False)
    synthetic = any(is_synthetic(datasets, d) for d in rows["train_set"])
    with mpl.rc_context({**RC, "axes.grid.axis": "x"}):
        fig = Figure(figsize=(9.0, 1.9 + 0.34 * max(len(rows), 1)), layout="constrained")
        if rows.empty:
            _empty(fig, "No model was run with both its native loss and the GCC loss on the same splits.")
            return save(fig, stem)
        ax = fig.add_subplot()
        y = np.arange(len(rows), dtype=float)
        model_keys = sorted(rows["model"].unique())
        for k, rec in enumerate(rows.itertuples(index=False)):
            color = COLORS[model_keys.index(rec.model) % len(COLORS)]
            if np.isfinite(rec.ci_low):
                ax.plot([rec.ci_low, rec.ci_high], [y[k], y[k]], color=color, linewidth=2.2, zorder=2)
            ax.scatter([rec.median_diff], [y[k]], marker="D", s=30, color=color, edgecolor="black", zorder=3)
            ax.annotate(
                f"{rec.wins}/{rec.n}", (1.0, y[k]), xycoords=("axes fraction", "data"), xytext=(4, 0),
                textcoords="offset points", va="center", fontsize=8,
            )  # fmt: skip
        ax.axvline(0, color="grey", linestyle="--", linewidth=1)
        ax.set_yticks(
            y,
            [
                f"{title(models, r.model)} \u2014 {_set_label(datasets, r.train_set)}"
                for r in rows.itertuples()
            ],
        )
        ax.set_xlabel(f"median {metric} difference over splits, GCC \u2212 native\n(bar: 95 % bootstrap CI)")
        ax.text(1.0, 1.0, "GCC wins / splits", transform=ax.transAxes, ha="left", va="bottom", fontsize=8)
        _title(fig, f"GCC vs native loss: paired {metric} differences (intra-dataset)", synthetic)
        return save(fig, stem)


def curve_band(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per epoch (index, ascending) of the rows ``runs`` (several splits of one model, loss and training
    set): ``mean``, ``min`` and ``max`` of ``metric`` over the splits defined at that epoch, and their
    ``count``; epochs where no split is defined are dropped."""
    stats = runs.groupby("epoch")[metric].agg(["mean", "min", "max", "count"]).sort_index()
    return stats[stats["count"] > 0]


def validation_curves(
    curves: pd.DataFrame,
    stem: Path,
    datasets: dict[str, dict],
    models: dict[str, dict],
    metric: str = "val_SROCC",
) -> list[Path]:
    """Validation ``metric`` per epoch (``results/curves.csv``): one panel per model and training set, one
    line per loss (native, GCC; other losses of the model dashed), the mean over splits with a band from the
    lowest to the highest split. Splits whose value is undefined (NaN) at an epoch are left out of it."""
    if curves.empty or metric not in curves.columns:
        panels, synthetic = [], False
    else:
        panels = sorted(curves[["model", "train_set"]].drop_duplicates().itertuples(index=False, name=None))
        synthetic = any(is_synthetic(datasets, d) for d in curves["train_set"])
    ncols = min(3, max(len(panels), 1))
    nrows = -(-max(len(panels), 1) // ncols)
    with mpl.rc_context({**RC, "axes.grid.axis": "both"}):
        fig = Figure(figsize=(1.0 + 3.4 * ncols, 1.4 + 2.6 * nrows), layout="constrained")
        if not panels:
            _empty(fig, f"No training log with {metric} was passed to the report.")
            return save(fig, stem)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        handles: dict[str, Line2D] = {}
        for ax, (model, train_set) in zip(axes, panels):
            part = curves[(curves["model"] == model) & (curves["train_set"] == train_set)]
            for n, (_, role, loss) in enumerate(model_rows(part)):
                stats = curve_band(part[(part["loss_role"] == role) & (part["loss"] == loss)], metric)
                color = COLORS[n % len(COLORS)]
                style = "-" if role in (NATIVE, "gcc") else "--"
                label = loss_label(role, loss)
                (line,) = ax.plot(
                    stats.index, stats["mean"], color=color, linestyle=style, linewidth=1.4, label=label
                )
                ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.18, linewidth=0)
                handles.setdefault(label, line)
            # two wrapped lines (model, then training set): long titles must not run into the next panel
            ax.set_title(
                textwrap.fill(title(models, model), 40)
                + "\n"
                + textwrap.fill(_set_label(datasets, train_set), 40),
                fontsize=9,
            )
            ax.set_xlabel("epoch")
            ax.set_ylabel(metric.replace("val_", "validation "))
        for ax in axes[len(panels) :]:
            ax.axis("off")
        fig.legend(
            handles=list(handles.values()),
            loc="outside lower center",
            ncols=min(4, len(handles)),
            frameon=False,
        )
        _title(
            fig,
            f"{metric.replace('val_', 'Validation ')} per epoch: mean over splits, "
            "band = lowest to highest split",
            synthetic,
        )
        return save(fig, stem)
