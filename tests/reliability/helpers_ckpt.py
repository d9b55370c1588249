"""Helpers for the checkpoint, kill-resume and atomic-write tests: a tiny dataset on disk, and jobs
(the command line, ``gmc.cli.main``) run in processes of their own that can be killed.

* :func:`gmc` runs a real ``python -m gmc`` subprocess. It finds the ``tiny_test`` model the way any
  plugin is found (design.md): through the entry-point group ``gmc.models``. :func:`plugin_env` writes
  a minimal distribution (``*.dist-info`` with ``entry_points.txt``) whose entry point imports
  ``tests.conftest``, which registers ``tiny_test``; that folder and the repository go on the
  subprocess's ``PYTHONPATH``. A fresh interpreter spends several seconds importing torch, pandas and
  scipy on the project's 2-core machine.
* :func:`gmc_forked` runs ``gmc.cli.main`` in a forked child of the test process, which has imported
  all that already (a fraction of a second). The child is a real process: SIGKILL ends it without any
  cleanup, exactly as it ends ``python -m gmc``. It uses one torch thread (the CLI's default
  ``--threads 1``), so the thread pool of the parent is never used in the child. What the ``train``
  and ``predict`` commands import is imported here, once, so that no child imports it again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch._inductor.config  # noqa: F401  (imported by torch.use_deterministic_algorithms: ~2 s)
from PIL import Image

import gmc.inference  # noqa: F401  (the predict command's imports)
import gmc.provenance  # noqa: F401  (the train command's, with gmc.training.engine)
import gmc.training.engine  # noqa: F401
from gmc.cli import main
from gmc.data.cache import build_cache
from gmc.data.manifest import MANIFEST_COLUMNS
from tests.conftest import REPO, tiny_run_config

PARTS = {"train": 24, "val": 8, "test": 8}
SIZE = 16


@dataclass(frozen=True)
class TinyData:
    """A tiny dataset ``rand`` on disk: manifest, 16 px cache and split file (24/8/8 images)."""

    manifest: Path
    cache: Path
    splits: Path


def write_dataset(
    root: Path, *, width: int = SIZE, height: int = SIZE, seed: int = 0
) -> tuple[Path, Path, list[Path]]:
    """Random PNGs (24/8/8 for train/val/test) whose normalised MOS is their brightness, their manifest
    and split 0; returns the manifest, the split file and the test images' paths."""
    rng = np.random.default_rng(seed)
    rows, parts, test_files = [], [], []
    names = [(part, f"{part}{n:02d}.png") for part, count in PARTS.items() for n in range(count)]
    for i, (part, name) in enumerate(names):
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        path = root / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
        mos = float(pixels.mean() / 255.0)
        rows.append([name, path.as_posix(), "", f"c{i}", mos, "", mos])
        parts.append(part)
        if part == "test":
            test_files.append(path)
    manifest = root / "manifest.csv"
    table = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    table.to_csv(manifest, index=False)
    splits = root / "splits.csv"
    pd.DataFrame({"image": table["image"], "split": 0, "part": parts}).to_csv(splits, index=False)
    return manifest, splits, test_files


def make_dataset(root: Path) -> TinyData:
    """:func:`write_dataset` at 16 px, with its 16 px cache."""
    manifest, splits, _ = write_dataset(root)
    cache = root / "cache" / f"{SIZE}.npy"
    build_cache(manifest, SIZE, cache)
    return TinyData(manifest, cache, splits)


def run_config() -> dict:
    """The tests' tiny run (``tiny_test`` model, GCC loss, 3 epochs) on the dataset ``rand``."""
    return tiny_run_config()


def plugin_env(folder: Path) -> dict[str, str]:
    """The environment for a ``python -m gmc`` subprocess that registers ``tiny_test`` (module docstring);
    offline, and without a kill point unless :func:`gmc` is given one."""
    dist = folder / "gmc_test_tiny_model-0.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gmc-test-tiny-model\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[gmc.models]\ntiny_test = tests.conftest\n")
    env = {k: v for k, v in os.environ.items() if k != "GMC_TEST_KILL_AT"}
    return {**env, "PYTHONPATH": os.pathsep.join([str(folder), str(REPO)]), "HF_HUB_OFFLINE": "1"}


def gmc(env: dict[str, str], *args: str, kill_at: str | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m gmc <args>``; ``kill_at`` sets ``GMC_TEST_KILL_AT`` (gmc.io) for this run."""
    if kill_at is not None:
        env = {**env, "GMC_TEST_KILL_AT": kill_at}
    cmd = [sys.executable, "-m", "gmc", *args]
    return subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)


def gmc_forked(*args: str, kill_at: str | None = None) -> int:
    """Run ``gmc.cli.main(args)`` in a forked child (module docstring) with ``GMC_TEST_KILL_AT`` set to
    ``kill_at``; return its exit status as :mod:`subprocess` gives it (``-SIGKILL`` when killed)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into the test process
        status = 1
        try:
            if kill_at is not None:
                os.environ["GMC_TEST_KILL_AT"] = kill_at
            status = main(list(args))
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(status)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def train_args(data: TinyData, out_dir: Path, config: dict | None = None) -> list[str]:
    """The arguments of ``python -m gmc train`` for ``config`` (default :func:`run_config`)."""
    return [
        "train",
        "--run-config",
        json.dumps(config or run_config()),
        "--manifest",
        str(data.manifest),
        "--cache",
        str(data.cache),
        "--splits",
        str(data.splits),
        "--out-dir",
        str(out_dir),
    ]


def predict_args(data: TinyData, checkpoint: Path, out_dir: Path) -> list[str]:
    """The arguments of ``python -m gmc predict`` scoring the test part of ``rand`` with ``checkpoint``."""
    return [
        "predict",
        "--checkpoint",
        str(checkpoint),
        "--test-set",
        "rand",
        str(data.manifest),
        str(data.cache),
        "--splits",
        str(data.splits),
        "--out-dir",
        str(out_dir),
    ]


def temp_files(folder: Path) -> list[Path]:
    """Every temporary file of ``gmc.io.atomic_path`` (``.<name>.<random>.tmp``) under ``folder``."""
    return sorted(folder.rglob(".*.tmp"))
