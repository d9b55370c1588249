"""Provenance of a result: code version (git SHA, dirty flag), package versions, platform, CPU model.

The CPU model is recorded because float results on CPU can depend on it (math libraries pick kernels per
instruction set): the same code, seeds, thread count and torch gave demo SROCCs that differ in the third
decimal on an Intel Xeon and an AMD EPYC VM (README, "Reproducibility"). The GPU name of a CUDA run
is in the run summary (``gmc.training.engine``).
"""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("torch", "torchvision", "timm", "pyiqa", "numpy", "scipy", "pandas", "snakemake", "gmc-iqa-bench")


def git_state(cwd: str | Path = ".") -> dict:
    """``{"git_sha": ..., "git_dirty": bool}``; "unknown" outside a git checkout."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return {"git_sha": sha, "git_dirty": bool(dirty)}
    except (OSError, subprocess.CalledProcessError):
        return {"git_sha": "unknown", "git_dirty": None}


def package_versions() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``), or "unknown"."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def provenance(cwd: str | Path = ".") -> dict:
    return {
        **git_state(cwd),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "packages": package_versions(),
    }
