"""Provenance of a result: code version (git SHA, dirty flag), package versions, platform, device."""

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


def provenance(cwd: str | Path = ".") -> dict:
    return {
        **git_state(cwd),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
    }
