"""Benchmark report: tables (HTML, LaTeX, CSV), figures and provenance rendered from ``results/scores.csv``.

Modules: ``scores`` (load + validate), ``tables`` (pandas summaries), ``display`` (what each table shows),
``latex`` / ``html`` (rendering), ``figures`` (matplotlib), ``report`` (``render_report``, the entry point),
``ablations`` (``render_ablation_report``, the ablation page), ``statistics`` (paired tests over splits:
Wilcoxon, bootstrap CI, wins, Holm), ``flags`` (protocol flags on table cells), ``browser`` (a page
in headless Chromium: console errors, broken images and links, empty tables, a screenshot).
"""

from gmc.reporting.ablations import render_ablation_report
from gmc.reporting.report import render_report

__all__ = ["render_ablation_report", "render_report"]
