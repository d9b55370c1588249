"""Shared test helpers for the reporting tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

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
