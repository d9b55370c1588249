"""Turn the summary DataFrames into display tables (rows of cells with raw numbers, bold marks, labels,
synthetic-data marks) that :mod:`gmc.reporting.latex` and :mod:`gmc.reporting.html` render.

Deciding *what* is shown (which rows, which cell is best, which dataset is synthetic) happens once here;
the renderers only decide *how* (3 decimals, escaping, markup).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gmc.config.settings import GCC, NATIVE
from gmc.reporting.flags import LEGEND, Flags, legend
from gmc.reporting.tables import role_key

SYNTHETIC_NOTE = "synthetic demo data (not human-rated; numbers are not comparable with published results)"
DECIMALS = 3
UNDEFINED_MARK = "\u2021"
#: what a metric's name means in a caption: PLCC is shown raw (no logistic fit), as pyiqa reports it
PLCC_NOTE = (
    "PLCC is the raw Pearson correlation (no logistic fit, as pyiqa and the GMC-IQA authors report it); "
    "PLCC after the VQEG 4-parameter logistic fit is in the CSV (plcc_logistic_*)."
)
METRIC_NOTES = {
    "PLCC": ", raw Pearson correlation without logistic fit",
    "PLCC_logistic": ", Pearson correlation after the VQEG 4-parameter logistic fit",
}  # double dagger: the statistic excludes splits with an undefined correlation


@dataclass(frozen=True)
class Cell:
    """One table cell: a label (``text``) or a number (``value``, optional ``spread`` shown as ± and the
    number ``n`` of splits behind it). ``latex`` overrides ``text`` verbatim in LaTeX output.

    ``n_undefined`` > 0: that many further splits had an undefined correlation (constant predictions) and
    are excluded from ``value``; the renderers mark the cell with ``UNDEFINED_MARK`` and show n as
    defined/all. ``value`` is None when no split was defined (shown as a dash with the mark)."""

    text: str | None = None
    value: float | None = None
    spread: float | None = None
    n: int | None = None
    n_undefined: int = 0
    bold: bool = False
    signed: bool = False
    dagger: bool = False
    href: str | None = None
    latex: str | None = None
    attrs: tuple[tuple[str, str], ...] = ()
    #: protocol flags (:mod:`gmc.reporting.flags`), shown as a superscript after the number
    flags: tuple[str, ...] = ()
    #: a confidence interval (low, high), shown as ``[low, high]`` where ``value`` is None
    interval: tuple[float, float] | None = None


@dataclass(frozen=True)
class Column:
    header: Cell
    group: Cell | None = None
    numeric: bool = True


@dataclass
class Table:
    key: str
    title: str
    caption: str
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    row_attrs: list[tuple[tuple[str, str], ...]] = field(default_factory=list)
    group_starts: set[int] = field(default_factory=set)
    synthetic: bool = False
    uniform_n: int | None = None
    notes: list[str] = field(default_factory=list)
    empty_message: str = "No results."

    @property
    def has_groups(self) -> bool:
        return any(c.group is not None for c in self.columns)

    def header_groups(self) -> list[tuple[Cell | None, int, int]]:
        """Runs of adjacent columns sharing a group header: (group, first column index, span)."""
        runs: list[tuple[Cell | None, int, int]] = []
        for i, col in enumerate(self.columns):
            if runs and col.group is not None and runs[-1][0] == col.group:
                group, start, span = runs[-1]
                runs[-1] = (group, start, span + 1)
            else:
                runs.append((col.group, i, 1))
        return runs

    def full_caption(self) -> str:
        parts = [self.caption]
        if self.uniform_n is not None:
            parts.append(f"Medians over {self.uniform_n} split{'s' if self.uniform_n != 1 else ''}.")
        parts.extend(self.notes)
        return " ".join(parts)


#: training settings that depart from the GMC-IQA authors' protocol in a way readers must see
PROTOCOL_FLAGS = {
    "best_on_test": "model selection: best epoch on the test part (the authors' protocol; optimistic)",
    "amp-float16": "mixed precision (AMP, float16) on CUDA; the authors trained in float32",
}
PROTOCOL_PLAIN = {
    "val": "model selection: best validation SROCC (test data unseen until prediction)",
    "float32": "precision: float32",
}


def protocol_notes(provenance: dict) -> list[dict]:
    """The training protocol of the runs behind a report, from the run table's ``selection`` and
    ``precisions`` (gmc.results): one ``{"text", "flag"}`` per value, flagged where it departs from an
    honest float32 protocol; then each model's data protocol (``protocols``: whole-image resize or
    crops, gmc.data.protocol)."""
    notes = []
    for key in ("selection", "precisions"):
        for value in provenance.get(key, []):
            if value in PROTOCOL_FLAGS:
                notes.append({"text": PROTOCOL_FLAGS[value], "flag": True})
            else:
                notes.append({"text": PROTOCOL_PLAIN.get(value, f"{key}: {value}"), "flag": False})
    for model, protocols in sorted(provenance.get("protocols", {}).items()):
        notes.append({"text": f"{model} data: {' / '.join(protocols)}", "flag": False})
    return notes


def rounded(value: float | None) -> float | None:
    """The value as displayed; bold marks compare displayed values, so displayed ties are all bold."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), DECIMALS)


def _num(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def title(meta: dict[str, dict], key: str) -> str:
    return str(meta.get(key, {}).get("title", key))


def is_synthetic(datasets: dict[str, dict], key: str) -> bool:
    return bool(datasets.get(key, {}).get("synthetic_demo", False))


#: how a loss role is named in a variant's label, where it differs from the role itself
ROLE_TITLES = {GCC: "GCC"}


def loss_label(role: str, loss: str) -> str:
    """``mse (native)`` for a model's own loss; a loss used under its registered name as is (``gcc``,
    ``nin``); a ``losses:`` variant with its type (``gcc_q0 (GCC)``, ``nin_p2 (nin)``)."""
    if role == NATIVE:
        return f"{loss} (native)"
    if loss.lower() == role.lower():
        return loss
    return f"{loss} ({ROLE_TITLES.get(role, role)})"


def _dataset_cell(datasets: dict[str, dict], key: str, **kw) -> Cell:
    return Cell(text=title(datasets, key), dagger=is_synthetic(datasets, key), **kw)


def _undefined_note(table: Table) -> str | None:
    """The caption note explaining ``UNDEFINED_MARK``, or None when no cell excludes a split."""
    marked = [c for row in table.rows for c in row if c.n_undefined]
    if not marked:
        return None
    k = sum(c.n_undefined for c in marked)
    total = k + sum(c.n or 0 for c in marked)
    none = any(c.value is None for c in marked)
    return (
        f"{UNDEFINED_MARK} {k} of the {total} split scores behind the marked cells come from constant "
        "predictions (correlation undefined) and are excluded from the median; n = defined/all splits"
        + (f"; \u2014{UNDEFINED_MARK}: no split defined." if none else ".")
    )


def _stat_cell(rec, metric: str, best: float | None, attrs, spread: bool = True, flags=()) -> Cell:
    """The median of ``metric`` (lower case) from a wide-table record: defined splits only, marked when
    some splits are undefined; never bold without a value."""
    value = _num(rec[f"{metric}_median"])
    return Cell(
        flags=tuple(flags),
        value=value,
        spread=_num(rec[f"{metric}_std"]) if spread else None,
        n=int(rec[f"{metric}_n"]),
        n_undefined=int(rec.get(f"{metric}_n_undefined", 0)),
        bold=value is not None and rounded(value) == best,
        attrs=attrs,
    )


def _splits(rec, metric: str) -> int:
    """All splits (defined + undefined) behind ``metric`` of a wide-table record; 0 = no result."""
    return int(rec[f"{metric}_n"]) + int(rec.get(f"{metric}_n_undefined", 0))


def _best(values: list[float | None]) -> float | None:
    shown = [v for v in (rounded(x) for x in values) if v is not None]
    return max(shown) if shown else None


def _uniform(ns: list[int]) -> int | None:
    ns = [n for n in ns if n]
    return ns[0] if ns and all(n == ns[0] for n in ns) else None


#: no flags (the display builders' default; the report passes :func:`gmc.reporting.flags.build_flags`)
NO_FLAGS = Flags(splits=0)


def _finish(table: Table, datasets: dict[str, dict], used: set[str]) -> Table:
    undefined = _undefined_note(table)
    if undefined:
        table.notes.append(undefined)
    flagged = legend({f for row in table.rows for c in row for f in c.flags})
    if flagged:
        table.notes.append(flagged)
    table.synthetic = any(is_synthetic(datasets, d) for d in used)
    if table.synthetic:
        table.notes.append(f"\u2020 SYNTHETIC: {SYNTHETIC_NOTE}.")
    return table


def model_rows(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    """The (model, loss_role, loss) combinations of ``frame``, sorted: model, loss role (native, GCC, then
    the other loss types alphabetically; :func:`gmc.reporting.tables.role_key`), loss."""
    keys = frame[["model", "loss_role", "loss"]].drop_duplicates()
    keys = keys.assign(_r=keys["loss_role"].map(role_key)).sort_values(["model", "_r", "loss"])
    return [tuple(r) for r in keys[["model", "loss_role", "loss"]].itertuples(index=False)]


def intra_display(
    intra: pd.DataFrame, datasets: dict[str, dict], models: dict[str, dict], flags: Flags = NO_FLAGS
) -> Table:
    metrics = [m for m in ("SROCC", "PLCC") if f"{m.lower()}_median" in intra.columns]
    sets = sorted(intra["dataset"].unique()) if not intra.empty else []
    columns = [Column(Cell(text="Model"), numeric=False), Column(Cell(text="Loss"), numeric=False)]
    for ds in sets:
        columns += [Column(Cell(text=m), group=_dataset_cell(datasets, ds)) for m in metrics]
    table = Table(
        key="intra",
        title="Intra-dataset results",
        caption=(
            "Intra-dataset results: median " + " and ".join(metrics) + " over splits (\u00b1 standard "
            "deviation) on the test part of each training set's splits. Best per column in bold."
            + (f" {PLCC_NOTE}" if "PLCC" in metrics else "")
        ),
        columns=columns,
        empty_message="No intra-dataset results (no rows with test_set == train_set).",
    )
    index = intra.set_index(["model", "loss_role", "loss", "dataset"]) if not intra.empty else None
    best = {
        (ds, m): _best(intra.loc[intra["dataset"] == ds, f"{m.lower()}_median"].tolist())
        for ds in sets
        for m in metrics
    }
    ns: list[int] = []
    for model, role, loss in model_rows(intra) if not intra.empty else []:
        row = [Cell(text=title(models, model)), Cell(text=loss_label(role, loss))]
        for ds in sets:
            key = (model, role, loss, ds)
            for m in metrics:
                attrs = (("dataset", ds), ("metric", m))
                if key not in index.index or _splits(index.loc[key], m.lower()) == 0:
                    row.append(Cell(text="\u2014", attrs=attrs))
                    continue
                rec = index.loc[key]
                ns.append(_splits(rec, m.lower()))
                marks = flags.of(model, loss, ds, _splits(rec, m.lower()))
                row.append(_stat_cell(rec, m.lower(), best[(ds, m)], attrs, flags=marks))
        table.rows.append(row)
        table.row_attrs.append((("model", model), ("loss-role", role), ("loss", loss)))
    table.uniform_n = _uniform(ns)
    return _finish(table, datasets, set(sets))


def cross_display(
    cross: pd.DataFrame, datasets: dict[str, dict], models: dict[str, dict], flags: Flags = NO_FLAGS
) -> Table:
    tests = sorted(cross["test_set"].unique()) if not cross.empty else []
    trains = sorted(cross["train_set"].unique()) if not cross.empty else []
    columns = [
        Column(Cell(text="Train set"), numeric=False),
        Column(Cell(text="Model"), numeric=False),
        Column(Cell(text="Loss"), numeric=False),
    ]
    group = Cell(text="Test set (median SROCC)")
    columns += [Column(_dataset_cell(datasets, t), group=group) for t in tests]
    table = Table(
        key="cross",
        title="Cross-dataset results",
        caption=(
            "Cross-dataset results: median SROCC over splits of models trained on the row's training set "
            "and tested on the column's dataset. Best per training set and test set in bold; "
            "\u2014 marks the training set itself (see the intra-dataset table) or a missing result."
        ),
        columns=columns,
        empty_message="No cross-dataset results (no rows with test_set != train_set).",
    )
    index = cross.set_index(["model", "loss_role", "loss", "train_set", "test_set"]) if tests else None
    ns: list[int] = []
    for train in trains:
        block = cross[cross["train_set"] == train]
        best = {t: _best(block.loc[block["test_set"] == t, "srocc_median"].tolist()) for t in tests}
        table.group_starts.add(len(table.rows))
        for model, role, loss in model_rows(block):
            row = [
                _dataset_cell(datasets, train),
                Cell(text=title(models, model)),
                Cell(text=loss_label(role, loss)),
            ]
            for t in tests:
                key = (model, role, loss, train, t)
                attrs = (("test-set", t),)
                if key not in index.index or _splits(index.loc[key], "srocc") == 0:
                    row.append(Cell(text="\u2014", attrs=attrs))
                    continue
                n = _splits(index.loc[key], "srocc")
                ns.append(n)
                marks = flags.of(model, loss, train, n)
                row.append(_stat_cell(index.loc[key], "srocc", best[t], attrs, spread=False, flags=marks))
            table.rows.append(row)
            table.row_attrs.append(
                (("train-set", train), ("model", model), ("loss-role", role), ("loss", loss))
            )
    table.group_starts.discard(0)
    table.uniform_n = _uniform(ns)
    return _finish(table, datasets, set(tests) | set(trains))


def p_text(p: float | None) -> str:
    """A p-value for display: 3 decimals, ``<0.001`` below that, an em dash for no test."""
    if p is None or math.isnan(p):
        return "\u2014"
    return "<0.001" if p < 0.0005 else f"{p:.{DECIMALS}f}"


def gcc_display(
    gvn: pd.DataFrame, datasets: dict[str, dict], models: dict[str, dict], flags: Flags = NO_FLAGS
) -> Table:
    """Native vs GCC per (dataset, model): the two medians over splits, then the paired statistics of
    :func:`gmc.reporting.statistics.with_statistics` (median paired difference, its 95 % bootstrap CI,
    GCC wins k/n, Holm-adjusted Wilcoxon p). A row without the statistics columns shows dashes there."""
    metric = str(gvn["metric"].iloc[0]) if not gvn.empty else "SROCC"
    m = int(gvn["m_holm"].max()) if "m_holm" in gvn and not gvn.empty else 0
    columns = [
        Column(Cell(text="Dataset"), numeric=False),
        Column(Cell(text="Model"), numeric=False),
        Column(Cell(text="Native loss"), numeric=False),
        Column(Cell(text="Native")),
        Column(Cell(text="GCC")),
        Column(Cell(text="\u0394 (GCC \u2212 native)", latex=r"$\Delta$ (GCC $-$ native)")),
        Column(Cell(text="95% CI")),
        Column(Cell(text="GCC wins")),
        Column(Cell(text="p (Holm)", latex=r"$p$ (Holm)")),
    ]
    table = Table(
        key="gcc_vs_native",
        title="Native loss vs GCC loss",
        caption=(
            f"Native loss vs GCC loss (intra-dataset, {metric}{METRIC_NOTES.get(metric, '')}). Native and "
            "GCC: medians over splits. The paired columns use the splits run with both losses (with a "
            "defined correlation on both sides): \u0394 is the median of the per-split differences GCC "
            "\u2212 native; 95% CI its percentile-bootstrap interval (9999 resamples of splits, seeded; "
            "\u2014 with fewer than 3 paired splits); GCC wins counts the splits where GCC scored higher, "
            "out of the paired splits; p is the two-sided Wilcoxon signed-rank test (exact; zero "
            f"differences dropped; \u2014 when all are zero), Holm-adjusted over the m = {m} comparisons "
            "of this table. The better of native and GCC in bold."
        ),
        columns=columns,
        empty_message="No model has intra-dataset results with both its native loss and the GCC loss.",
    )
    ns: list[int] = []
    previous = None
    for rec in gvn.itertuples(index=False):
        if rec.dataset != previous and table.rows:
            table.group_starts.add(len(table.rows))
        previous = rec.dataset
        nat, gcc = _num(rec.native_median), _num(rec.gcc_median)
        best = _best([nat, gcc])
        n_nat, n_gcc = rec.n_native + rec.n_native_undefined, rec.n_gcc + rec.n_gcc_undefined
        ns += [n_nat, n_gcc]
        nat_flags = flags.of(rec.model, rec.native_loss, rec.dataset, n_nat)
        gcc_flags = flags.of(rec.model, rec.gcc_loss, rec.dataset, n_gcc)
        both = tuple(f for f in LEGEND if f in nat_flags + gcc_flags)
        gcc_label = "" if rec.gcc_loss.lower() == "gcc" else f" ({rec.gcc_loss})"
        ci = (_num(getattr(rec, "ci_low", None)), _num(getattr(rec, "ci_high", None)))
        table.rows.append(
            [
                _dataset_cell(datasets, rec.dataset),
                Cell(text=title(models, rec.model)),
                Cell(text=rec.native_loss + gcc_label),
                Cell(
                    value=nat,
                    n=rec.n_native,
                    n_undefined=rec.n_native_undefined,
                    bold=nat is not None and rounded(nat) == best,
                    attrs=(("role", "native"),),
                    flags=nat_flags,
                ),
                Cell(
                    value=gcc,
                    n=rec.n_gcc,
                    n_undefined=rec.n_gcc_undefined,
                    bold=gcc is not None and rounded(gcc) == best,
                    attrs=(("role", "gcc"),),
                    flags=gcc_flags,
                ),
                Cell(
                    value=_num(rec.median_paired_delta), signed=True, attrs=(("role", "delta"),), flags=both
                ),
                Cell(interval=ci if None not in ci else None, attrs=(("role", "ci"),)),
                Cell(text=f"{rec.gcc_wins}/{rec.n_paired}", attrs=(("role", "wins"),)),
                Cell(text=p_text(_num(getattr(rec, "p_holm", None))), attrs=(("role", "p-holm"),)),
            ]
        )
        table.row_attrs.append(
            (
                ("dataset", rec.dataset),
                ("model", rec.model),
                ("loss", rec.native_loss),
                ("gcc-loss", rec.gcc_loss),
            )
        )
    table.uniform_n = _uniform(ns)
    return _finish(table, datasets, set(gvn["dataset"]))


def table_slug(key: str) -> str:
    """``key`` with every character other than letters, digits, ``_``, ``.`` and ``-`` replaced by ``-``: safe
    in a file name, an HTML id and a LaTeX label."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", key)


def loss_comparison_display(
    frame: pd.DataFrame,
    model: str,
    datasets: dict[str, dict],
    models: dict[str, dict],
    flags: Flags = NO_FLAGS,
) -> Table:
    """Every loss ``model`` was trained with side by side (rows of
    :func:`gmc.reporting.tables.loss_comparison_table`): one row per evaluation (intra-dataset rows, then
    cross-dataset rows), one column group per loss (native, GCC, then the others alphabetically) with the
    median SROCC and PLCC over splits. Best displayed median per row and metric in bold."""
    part = frame[frame["model"] == model]
    metrics = [m for m in ("SROCC", "PLCC") if f"{m.lower()}_median" in part.columns]
    losses = [tuple(k) for k in part[["loss_role", "loss"]].drop_duplicates().itertuples(index=False)]
    losses.sort(key=lambda k: (role_key(k[0]), k[1]))
    columns = [
        Column(Cell(text="Evaluation"), numeric=False),
        Column(Cell(text="Train set"), numeric=False),
        Column(Cell(text="Test set"), numeric=False),
    ]
    for role, loss in losses:
        columns += [Column(Cell(text=m), group=Cell(text=loss_label(role, loss))) for m in metrics]
    name = title(models, model)
    table = Table(
        key=f"loss_comparison_{table_slug(model)}",
        title=f"Loss comparison: {name}",
        caption=(
            f"Loss comparison for {name}: every loss it was trained with, median "
            + " and ".join(metrics)
            + " over splits, intra-dataset (the test part of each training set's own splits) and "
            "cross-dataset (trained on one set, tested on another). Best loss per row and metric in bold."
            + (f" {PLCC_NOTE}" if "PLCC" in metrics else "")
            + " Paired statistics of every loss against the native one (median difference, bootstrap CI, "
            "wins, Wilcoxon p Holm-adjusted over this model's comparisons of a metric): "
            "tables/statistics.csv."
        ),
        columns=columns,
        empty_message=f"No results for {name}.",
    )
    index = part.set_index(["evaluation", "train_set", "test_set", "loss_role", "loss"])
    settings = part[["evaluation", "train_set", "test_set"]].drop_duplicates()
    ns: list[int] = []
    previous = None
    for evaluation, train, test in settings.itertuples(index=False):
        if table.rows and evaluation != previous:
            table.group_starts.add(len(table.rows))  # a rule between the intra and the cross rows
        previous = evaluation
        row = [Cell(text=evaluation), _dataset_cell(datasets, train), _dataset_cell(datasets, test)]
        keys = [(evaluation, train, test, *k) for k in losses]
        recs = {k[3:]: index.loc[k] for k in keys if k in index.index}
        best = {
            m: _best([_num(r[f"{m.lower()}_median"]) for r in recs.values() if _splits(r, m.lower())])
            for m in metrics
        }
        for role, loss in losses:
            rec = recs.get((role, loss))
            for m in metrics:
                attrs = (("loss", loss), ("metric", m))
                if rec is None or _splits(rec, m.lower()) == 0:
                    row.append(Cell(text="\u2014", attrs=attrs))
                    continue
                ns.append(_splits(rec, m.lower()))
                marks = flags.of(model, loss, train, _splits(rec, m.lower()))
                row.append(_stat_cell(rec, m.lower(), best[m], attrs, spread=False, flags=marks))
        table.rows.append(row)
        table.row_attrs.append((("evaluation", evaluation), ("train-set", train), ("test-set", test)))
    table.uniform_n = _uniform(ns)
    used = set(part["train_set"]) | set(part["test_set"])
    return _finish(table, datasets, used)


def loss_statistics_display(
    stats_frame: pd.DataFrame,
    model: str,
    datasets: dict[str, dict],
    models: dict[str, dict],
    metric: str = "SROCC",
) -> Table:
    """Each loss of ``model`` against its native loss, per evaluation (intra rows, then cross): the paired
    statistics of :func:`gmc.reporting.statistics.paired_statistics` for ``metric`` with Holm over the
    model's comparisons of that metric (``stats_frame`` = the report's ``statistics`` frame, which has
    ``p_holm`` and ``m_holm``): median difference, 95 % bootstrap CI, wins k/n, Holm-adjusted p."""
    part = stats_frame[(stats_frame["model"] == model) & (stats_frame["metric"] == metric)]
    part = part[part["baseline_role"] == NATIVE]
    part = part.assign(
        evaluation=np.where(part["train_set"] == part["test_set"], "intra", "cross"),
        _e=(part["train_set"] != part["test_set"]).astype(int),
        _r=part["loss_role"].map(role_key),
    ).sort_values(["_e", "train_set", "test_set", "_r", "loss"])
    m = int(part["m_holm"].max()) if not part.empty else 0
    name = title(models, model)
    native = (
        str(part["baseline_loss"].iloc[0]) if not part.empty else models.get(model, {}).get("native_loss")
    )
    columns = [
        Column(Cell(text="Evaluation"), numeric=False),
        Column(Cell(text="Train set"), numeric=False),
        Column(Cell(text="Test set"), numeric=False),
        Column(Cell(text="Loss"), numeric=False),
        Column(Cell(text="\u0394 (loss \u2212 native)", latex=r"$\Delta$ (loss $-$ native)")),
        Column(Cell(text="95% CI")),
        Column(Cell(text="Wins")),
        Column(Cell(text="p (Holm)", latex=r"$p$ (Holm)")),
    ]
    table = Table(
        key=f"loss_statistics_{table_slug(model)}",
        title=f"Loss comparison statistics: {name}",
        caption=(
            f"Every loss of {name} against its native loss ({native}), "
            f"{metric}{METRIC_NOTES.get(metric, '')}, "
            "over the splits run with both losses (a split with an undefined correlation on either side is "
            "left out): \u0394 is the median of the per-split differences loss \u2212 native; 95% CI its "
            "percentile-bootstrap interval (9999 resamples of splits, seeded; \u2014 with fewer than 3 "
            "paired splits); Wins counts the splits where the loss scored higher, out of the paired splits; "
            "p is the two-sided Wilcoxon signed-rank test (exact; zero differences dropped; \u2014 when all "
            f"are zero), Holm-adjusted over the m = {m} comparisons of {name} in this metric."
        ),
        columns=columns,
        empty_message=f"No loss of {name} was run on the same splits as its native loss.",
    )
    previous = None
    for rec in part.itertuples(index=False):
        setting = (rec.evaluation, rec.train_set, rec.test_set)
        if table.rows and setting != previous:
            table.group_starts.add(len(table.rows))
        previous = setting
        ci = (_num(rec.ci_low), _num(rec.ci_high))
        table.rows.append(
            [
                Cell(text=rec.evaluation),
                _dataset_cell(datasets, rec.train_set),
                _dataset_cell(datasets, rec.test_set),
                Cell(text=loss_label(rec.loss_role, rec.loss)),
                Cell(value=_num(rec.median_diff), signed=True, attrs=(("role", "delta"),)),
                Cell(interval=ci if None not in ci else None, attrs=(("role", "ci"),)),
                Cell(text=f"{rec.wins}/{rec.n}", attrs=(("role", "wins"),)),
                Cell(text=p_text(_num(rec.p_holm)), attrs=(("role", "p-holm"),)),
            ]
        )
        table.row_attrs.append(
            (("evaluation", rec.evaluation), ("train-set", rec.train_set), ("test-set", rec.test_set),
             ("loss", rec.loss))
        )  # fmt: skip
    return _finish(table, datasets, set(part["train_set"]) | set(part["test_set"]))


def fr_display(
    fr: pd.DataFrame,
    datasets: dict[str, dict],
    models: dict[str, dict],
    flags: Flags = NO_FLAGS,
    sorters: list[dict] = (),
    published: pd.DataFrame | None = None,
) -> Table:
    """The full-reference table (rows of :func:`gmc.reporting.tables.fr_table`): per training set and test
    set, one row per model and loss with the median PLCC, SROCC, KROCC and main score (PLCC + SROCC) over
    splits (\u00b1 standard deviation). Best main score per evaluation in bold. ``sorters``: the summaries
    of the pre-trained ASNA sorters (``results/sorters/*.json``: length, vectors, epochs, accuracy),
    stated in the caption. ``published``: published results on these datasets
    (:func:`gmc.reporting.tables.fr_published`), shown after our rows for context, each with its source."""
    metrics = [("PLCC", "plcc"), ("SROCC", "srocc"), ("KROCC", "krocc"), ("PLCC + SROCC", "main_score")]
    metrics = [(t, k) for t, k in metrics if f"{k}_median" in fr.columns]
    columns = [
        Column(Cell(text="Train set"), numeric=False),
        Column(Cell(text="Test set"), numeric=False),
        Column(Cell(text="Model"), numeric=False),
        Column(Cell(text="Loss"), numeric=False),
        *[Column(Cell(text=t)) for t, _ in metrics],
    ]
    sorter_text = "".join(
        f" The ASNA sorter of length {s['length']} (pre-trained on {s['vectors']:,} synthetic score vectors, "
        f"{s['epochs']} epochs) ranks with a mean |Spearman error| of {s['accuracy']:.3f} on held-out "
        "vectors (|\u03c1 exact \u2212 \u03c1 via the sorter|)."
        for s in sorters
    )
    table = Table(
        key="full_reference",
        title="Full-reference track",
        caption=(
            "Full-reference track: median PLCC (raw, no fitting), SROCC, KROCC and the NTIRE challenges' "
            "main score PLCC + SROCC (per split, then the median) over splits (\u00b1 standard deviation); "
            "intra-dataset rows on the test part of each training set's splits (split by reference image), "
            "cross-dataset rows on the whole test set. Best main score per evaluation in bold." + sorter_text
        ),
        columns=columns,
        empty_message="No full-reference results (no fr_benchmark in the configuration).",
    )
    if fr.empty:
        return _finish(table, datasets, set())  # no context rows without results of ours
    fr = fr.assign(_e=(fr["train_set"] != fr["test_set"]).astype(int))
    settings = (
        fr[["_e", "train_set", "test_set"]].drop_duplicates().sort_values(["_e", "train_set", "test_set"])
    )
    ns: list[int] = []
    for _, train, test in settings.itertuples(index=False):
        part = fr[(fr["train_set"] == train) & (fr["test_set"] == test)]
        index = part.set_index(["model", "loss_role", "loss"])
        best = {k: _best(part[f"{k}_median"].tolist()) for _, k in metrics}
        if table.rows:
            table.group_starts.add(len(table.rows))
        for model, role, loss in model_rows(part):
            rec = index.loc[(model, role, loss)]
            row = [
                _dataset_cell(datasets, train),
                _dataset_cell(datasets, test),
                Cell(text=title(models, model)),
                Cell(text=loss_label(role, loss)),
            ]
            for _, k in metrics:
                attrs = (("metric", k),)
                if _splits(rec, k) == 0:
                    row.append(Cell(text="\u2014", attrs=attrs))
                    continue
                ns.append(_splits(rec, k))
                cell = _stat_cell(rec, k, best[k] if k == "main_score" else None, attrs,
                                  flags=flags.of(model, loss, train, _splits(rec, k)))  # fmt: skip
                row.append(cell)
            table.rows.append(row)
            table.row_attrs.append(
                (
                    ("train-set", train),
                    ("test-set", test),
                    ("model", model),
                    ("loss-role", role),
                    ("loss", loss),
                )
            )
    _published_rows(table, published, datasets, [k for _, k in metrics])
    table.uniform_n = _uniform(ns)
    return _finish(table, datasets, set(fr["train_set"]) | set(fr["test_set"]))


def _published_rows(table: Table, published: pd.DataFrame | None, datasets: dict, keys: list[str]) -> None:
    """Append the published results (context rows: method, its protocol, PLCC, SROCC, their sum, linked
    to the source) to the full-reference table and say so in its caption."""
    if published is None or published.empty:
        return
    table.group_starts.add(len(table.rows))
    for rec in published.itertuples(index=False):
        values = {"plcc": rec.plcc, "srocc": rec.srocc, "main_score": rec.main_score}
        row = [
            Cell(text=f"published: {rec.train_set}"),
            _dataset_cell(datasets, rec.dataset),
            Cell(text=rec.method, href=rec.source_url or None),
            Cell(text=rec.protocol or "\u2014"),
        ]
        row += [
            Cell(value=_num(values[k]))
            if k in values and _num(values[k]) is not None
            else Cell(text="\u2014")
            for k in keys
        ]
        table.rows.append(row)
        table.row_attrs.append((("published", rec.method), ("test-set", rec.dataset)))
    table.caption += (
        " Rows marked published are other papers' numbers for context (linked to their sources; their "
        "splits and training data differ from ours, see each row's protocol); they are not ours and not "
        "ranked."
    )


def reported_display(
    rep: pd.DataFrame, datasets: dict[str, dict], models: dict[str, dict], flags: Flags = NO_FLAGS
) -> Table:
    group_s, group_p = Cell(text="SROCC"), Cell(text="PLCC")
    columns = [
        Column(Cell(text="Model"), numeric=False),
        Column(Cell(text="Loss"), numeric=False),
        Column(Cell(text="Train"), numeric=False),
        Column(Cell(text="Test"), numeric=False),
        Column(Cell(text="ours"), group=group_s),
        Column(Cell(text="reported"), group=group_s),
        Column(Cell(text="\u0394", latex=r"$\Delta$"), group=group_s),
        Column(Cell(text="ours"), group=group_p),
        Column(Cell(text="reported"), group=group_p),
        Column(Cell(text="\u0394", latex=r"$\Delta$"), group=group_p),
        Column(Cell(text="Reported by"), numeric=False),
    ]
    table = Table(
        key="reported",
        title="Reproduced vs reported",
        caption=(
            "Our median SROCC/PLCC over splits next to published numbers (\u0394 = ours \u2212 reported). "
            "Protocols often differ (split ratios, number of splits, model selection); read the source note. "
            + PLCC_NOTE
        ),
        columns=columns,
        empty_message=(
            "No result maps to a published number (models and datasets match reported rows through their "
            "'reported_as' names)."
        ),
    )
    ns: list[int] = []
    for rec in rep.itertuples(index=False):
        ns.append(rec.n + rec.n_undefined)
        marks = flags.of(rec.model, rec.loss, rec.train_set, rec.n + rec.n_undefined)
        source = f"{rec.method}: {rec.paper}" if rec.paper else rec.method
        if rec.protocol:
            source += f" [{rec.protocol}]"
        table.rows.append(
            [
                Cell(text=title(models, rec.model)),
                Cell(text=loss_label(rec.loss_role, rec.loss)),
                _dataset_cell(datasets, rec.train_set),
                _dataset_cell(datasets, rec.test_set),
                Cell(value=_num(rec.srocc_ours), n=rec.n, n_undefined=rec.n_undefined, flags=marks),
                Cell(value=_num(rec.srocc_reported)),
                Cell(value=_num(rec.srocc_delta), signed=True),
                Cell(value=_num(rec.plcc_ours), n=rec.n, n_undefined=rec.n_undefined, flags=marks),
                Cell(value=_num(rec.plcc_reported)),
                Cell(value=_num(rec.plcc_delta), signed=True),
                Cell(text=source, href=rec.source_url or None),
            ]
        )
        table.row_attrs.append((("model", rec.model), ("loss", rec.loss)))
    table.uniform_n = _uniform(ns)
    return _finish(table, datasets, set(rep["train_set"]) | set(rep["test_set"]))


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text.endswith((".", "!", "?")) else text + "."


def ablation_display(
    frame: pd.DataFrame, ablation: dict, datasets: dict[str, dict], flags: Flags = NO_FLAGS
) -> Table:
    """An ablation (normalised spec, :func:`gmc.reporting.tables.ablation_table` rows): one row per variant in
    its configured order (label, settings), then per training set the median SROCC and PLCC over splits
    (± standard deviation). Best displayed median per column in bold. Medians are over the defined splits; a
    cell that excludes undefined splits (constant predictions) is marked, see :class:`Cell`."""
    metrics = [m for m in ("SROCC", "PLCC") if f"{m.lower()}_median" in frame.columns]
    sets = list(ablation["train_sets"])
    columns = [Column(Cell(text="Variant"), numeric=False), Column(Cell(text="Setting"), numeric=False)]
    for ds in sets:
        columns += [Column(Cell(text=m), group=_dataset_cell(datasets, ds)) for m in metrics]
    description = _sentence(ablation.get("description", ""))
    table = Table(
        key=f"ablation_{ablation['name']}",
        title=ablation["title"],
        caption=(
            f"{_sentence(ablation['title'])} Median {' and '.join(metrics)} over splits (\u00b1 standard "
            "deviation) on the test part of each training set's splits, one row per variant."
            + (f" {description}" if description else "")
            + " Best per column in bold."
            + (f" {PLCC_NOTE}" if "PLCC" in metrics else "")
        ),
        columns=columns,
        empty_message="No variants.",
    )
    index = frame.set_index(["variant", "train_set"]) if not frame.empty else None
    best = {
        (ds, m): _best(frame.loc[frame["train_set"] == ds, f"{m.lower()}_median"].tolist())
        for ds in sets
        for m in metrics
    }
    ns: list[int] = []
    for variant in ablation["variants"]:
        row = [Cell(text=variant["label"]), Cell(text=variant["settings"])]
        for ds in sets:
            rec = index.loc[(variant["name"], ds)]
            for m in metrics:
                attrs = (("train-set", ds), ("metric", m))
                if _splits(rec, m.lower()) == 0:
                    row.append(Cell(text="\u2014", attrs=attrs))
                    continue
                ns.append(_splits(rec, m.lower()))
                marks = flags.of(variant["model"], variant["loss"], ds, _splits(rec, m.lower()))
                row.append(_stat_cell(rec, m.lower(), best[(ds, m)], attrs, flags=marks))
        table.rows.append(row)
        table.row_attrs.append(
            (("variant", variant["name"]), ("model", variant["model"]), ("loss", variant["loss"]))
        )
    table.uniform_n = _uniform(ns)
    return _finish(table, datasets, set(sets))
