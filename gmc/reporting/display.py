"""Turn the summary DataFrames into display tables (rows of cells with raw numbers, bold marks, labels,
synthetic-data marks) that :mod:`gmc.reporting.latex` and :mod:`gmc.reporting.html` render.

Deciding *what* is shown (which rows, which cell is best, which dataset is synthetic) happens once here;
the renderers only decide *how* (3 decimals, escaping, markup).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from gmc.reporting.tables import ROLE_ORDER

SYNTHETIC_NOTE = "synthetic demo data (not human-rated; numbers are not comparable with published results)"
DECIMALS = 3


@dataclass(frozen=True)
class Cell:
    """One table cell: a label (``text``) or a number (``value``, optional ``spread`` shown as ± and the
    number ``n`` of splits behind it). ``latex`` overrides ``text`` verbatim in LaTeX output."""

    text: str | None = None
    value: float | None = None
    spread: float | None = None
    n: int | None = None
    bold: bool = False
    signed: bool = False
    dagger: bool = False
    href: str | None = None
    latex: str | None = None
    attrs: tuple[tuple[str, str], ...] = ()


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


def loss_label(role: str, loss: str) -> str:
    return f"{loss} (native)" if role == "native" else (loss if loss.lower() == "gcc" else f"{loss} (GCC)")


def _dataset_cell(datasets: dict[str, dict], key: str, **kw) -> Cell:
    return Cell(text=title(datasets, key), dagger=is_synthetic(datasets, key), **kw)


def _best(values: list[float | None]) -> float | None:
    shown = [v for v in (rounded(x) for x in values) if v is not None]
    return max(shown) if shown else None


def _uniform(ns: list[int]) -> int | None:
    ns = [n for n in ns if n]
    return ns[0] if ns and all(n == ns[0] for n in ns) else None


def _finish(table: Table, datasets: dict[str, dict], used: set[str]) -> Table:
    table.synthetic = any(is_synthetic(datasets, d) for d in used)
    if table.synthetic:
        table.notes.append(f"\u2020 SYNTHETIC: {SYNTHETIC_NOTE}.")
    return table


def model_rows(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    """The (model, loss_role, loss) combinations of ``frame``, sorted: model, native before GCC, loss."""
    keys = frame[["model", "loss_role", "loss"]].drop_duplicates()
    keys = keys.assign(_r=keys["loss_role"].map(ROLE_ORDER)).sort_values(["model", "_r", "loss"])
    return [tuple(r) for r in keys[["model", "loss_role", "loss"]].itertuples(index=False)]


def intra_display(intra: pd.DataFrame, datasets: dict[str, dict], models: dict[str, dict]) -> Table:
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
                if key not in index.index or index.loc[key, f"{m.lower()}_n"] == 0:
                    row.append(Cell(text="\u2014", attrs=attrs))
                    continue
                rec = index.loc[key]
                value = _num(rec[f"{m.lower()}_median"])
                n = int(rec[f"{m.lower()}_n"])
                ns.append(n)
                row.append(
                    Cell(
                        value=value,
                        spread=_num(rec[f"{m.lower()}_std"]),
                        n=n,
                        bold=rounded(value) == best[(ds, m)],
                        attrs=attrs,
                    )
                )
        table.rows.append(row)
        table.row_attrs.append((("model", model), ("loss-role", role), ("loss", loss)))
    table.uniform_n = _uniform(ns)
    return _finish(table, datasets, set(sets))


def cross_display(cross: pd.DataFrame, datasets: dict[str, dict], models: dict[str, dict]) -> Table:
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
                if key not in index.index or index.loc[key, "srocc_n"] == 0:
                    row.append(Cell(text="\u2014", attrs=attrs))
                    continue
                value = _num(index.loc[key, "srocc_median"])
                n = int(index.loc[key, "srocc_n"])
                ns.append(n)
                row.append(Cell(value=value, n=n, bold=rounded(value) == best[t], attrs=attrs))
            table.rows.append(row)
            table.row_attrs.append(
                (("train-set", train), ("model", model), ("loss-role", role), ("loss", loss))
            )
    table.group_starts.discard(0)
    table.uniform_n = _uniform(ns)
    return _finish(table, datasets, set(tests) | set(trains))


def gcc_display(gvn: pd.DataFrame, datasets: dict[str, dict], models: dict[str, dict]) -> Table:
    metric = str(gvn["metric"].iloc[0]) if not gvn.empty else "SROCC"
    columns = [
        Column(Cell(text="Dataset"), numeric=False),
        Column(Cell(text="Model"), numeric=False),
        Column(Cell(text="Native loss"), numeric=False),
        Column(Cell(text="Native")),
        Column(Cell(text="GCC")),
        Column(Cell(text="\u0394 (GCC \u2212 native)", latex=r"$\Delta$ (GCC $-$ native)")),
        Column(Cell(text="GCC wins")),
    ]
    table = Table(
        key="gcc_vs_native",
        title="Native loss vs GCC loss",
        caption=(
            f"Native loss vs GCC loss (intra-dataset, median {metric} over splits). \u0394 is the GCC median "
            "minus the native median; GCC wins counts the splits where GCC scored higher, out of the splits "
            "run with both losses. The better of native and GCC in bold."
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
        nat, gcc = rounded(rec.native_median), rounded(rec.gcc_median)
        ns += [rec.n_native, rec.n_gcc]
        gcc_label = "" if rec.gcc_loss.lower() == "gcc" else f" ({rec.gcc_loss})"
        table.rows.append(
            [
                _dataset_cell(datasets, rec.dataset),
                Cell(text=title(models, rec.model)),
                Cell(text=rec.native_loss + gcc_label),
                Cell(value=rec.native_median, n=rec.n_native, bold=nat >= gcc, attrs=(("role", "native"),)),
                Cell(value=rec.gcc_median, n=rec.n_gcc, bold=gcc >= nat, attrs=(("role", "gcc"),)),
                Cell(value=rec.delta, signed=True, attrs=(("role", "delta"),)),
                Cell(text=f"{rec.gcc_wins}/{rec.n_paired}", attrs=(("role", "wins"),)),
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


def reported_display(rep: pd.DataFrame, datasets: dict[str, dict], models: dict[str, dict]) -> Table:
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
            "Protocols often differ (split ratios, number of splits, model selection); read the source note."
        ),
        columns=columns,
        empty_message=(
            "No result maps to a published number (models and datasets match reported rows through their "
            "'reported_as' names)."
        ),
    )
    ns: list[int] = []
    for rec in rep.itertuples(index=False):
        ns.append(rec.n)
        source = f"{rec.method}: {rec.paper}" if rec.paper else rec.method
        if rec.protocol:
            source += f" [{rec.protocol}]"
        table.rows.append(
            [
                Cell(text=title(models, rec.model)),
                Cell(text=loss_label(rec.loss_role, rec.loss)),
                _dataset_cell(datasets, rec.train_set),
                _dataset_cell(datasets, rec.test_set),
                Cell(value=_num(rec.srocc_ours), n=rec.n),
                Cell(value=_num(rec.srocc_reported)),
                Cell(value=_num(rec.srocc_delta), signed=True),
                Cell(value=_num(rec.plcc_ours), n=rec.n),
                Cell(value=_num(rec.plcc_reported)),
                Cell(value=_num(rec.plcc_delta), signed=True),
                Cell(text=source, href=rec.source_url or None),
            ]
        )
        table.row_attrs.append((("model", rec.model), ("loss", rec.loss)))
    table.uniform_n = _uniform(ns)
    return _finish(table, datasets, set(rep["train_set"]) | set(rep["test_set"]))
