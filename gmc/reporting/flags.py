"""Protocol flags: marks on a table cell whose number departs from the paper protocol in a way a reader
must see, with the legend each caption carries.

A cell's flags come from the runs behind it (``results/runs.csv``, :func:`gmc.results.collect_runs`:
``selection``, ``precision``), the model metadata (``paper_backbone``: False for a backbone other than
its card's published one) and the number of splits behind the cell. Synthetic data is marked separately
(the dataset's ``\u2020``, :mod:`gmc.reporting.display`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

#: the paper protocol's number of random splits (GMC-IQA and most NR-IQA papers: 10 x 80/20)
PAPER_SPLITS = 10
#: flag symbol -> legend, in display order
LEGEND = {
    "t": "model selection on test data (best epoch on the test part; optimistic)",
    "a": "mixed precision (AMP, float16)",
    "b": "backbone other than the paper's",
    "s": f"fewer splits than the paper protocol ({PAPER_SPLITS})",
}
#: run-table column -> value that raises a flag -> flag symbol
RUN_FLAGS = {"selection": {"best_on_test": "t"}, "precision": {"amp-float16": "a"}}


@dataclass(frozen=True)
class Flags:
    """The flags of every run group (model, loss, train_set) and the models off their paper backbone."""

    runs: dict[tuple[str, str, str], frozenset[str]] = field(default_factory=dict)
    backbone: frozenset[str] = frozenset()
    splits: int = PAPER_SPLITS

    def of(self, model: str, loss: str, train_set: str, n_splits: int | None = None) -> tuple[str, ...]:
        """The flags of a number from ``model`` trained with ``loss`` on ``train_set`` over ``n_splits``
        splits (all splits, defined or not), in ``LEGEND`` order."""
        found = set(self.runs.get((model, loss, train_set), ()))
        if model in self.backbone:
            found.add("b")
        if n_splits is not None and 0 < n_splits < self.splits:
            found.add("s")
        return tuple(f for f in LEGEND if f in found)


def build_flags(runs: pd.DataFrame | None, models: dict[str, dict], splits: int = PAPER_SPLITS) -> Flags:
    """:class:`Flags` from the run table (``None``: no run flags) and the model metadata (a model whose
    ``paper_backbone`` is False is flagged ``b``; absent = unknown, not flagged)."""
    groups: dict[tuple[str, str, str], set[str]] = {}
    if runs is not None:
        for column, values in RUN_FLAGS.items():
            if column not in runs:
                continue
            hit = runs[runs[column].astype(str).isin(list(values))]
            for model, loss, train_set, value in hit[["model", "loss", "train_set", column]].itertuples(
                index=False
            ):
                groups.setdefault((str(model), str(loss), str(train_set)), set()).add(values[str(value)])
    backbone = frozenset(m for m, meta in models.items() if meta.get("paper_backbone") is False)
    return Flags({k: frozenset(v) for k, v in groups.items()}, backbone, splits)


def legend(used: set[str]) -> str | None:
    """The caption note explaining the flags in ``used``, or None."""
    shown = [f"{flag} = {text}" for flag, text in LEGEND.items() if flag in used]
    return ("Protocol flags: " + "; ".join(shown) + ".") if shown else None
