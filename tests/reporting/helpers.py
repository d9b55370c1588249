"""Shared test helpers for the reporting tests."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import matplotlib as mpl
import pytest

needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")


def compile_tables(tex_files: list[Path], workdir: Path) -> subprocess.CompletedProcess:
    """``pdflatex`` a document that \\input's every file (article class, T1 fonts, booktabs)."""
    doc = workdir / "doc.tex"
    inputs = "\n".join(f"\\input{{{path}}}" for path in tex_files)
    doc.write_text(
        "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs}\n"
        f"\\begin{{document}}\n{inputs}\n\\end{{document}}\n"
    )
    return subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )


def capture_figure_svgs(monkeypatch) -> dict[str, str]:
    """Make :func:`gmc.reporting.figures.save` also draw every figure it saves as SVG with its text kept as
    text (``svg.fonttype: none``); return the dict those SVG documents are added to (key: the file
    stem). Text drawn as a formula (matplotlib mathtext) is broken into separate glyphs there, so a title
    that appears whole in the SVG was drawn literally."""
    from gmc.reporting import figures

    svgs: dict[str, str] = {}
    save = figures.save

    def save_and_capture(fig, stem):
        paths = save(fig, stem)
        buffer = io.StringIO()
        with mpl.rc_context({"svg.fonttype": "none"}):
            fig.savefig(buffer, format="svg")
        svgs[Path(stem).name] = buffer.getvalue()
        return paths

    monkeypatch.setattr(figures, "save", save_and_capture)
    return svgs
