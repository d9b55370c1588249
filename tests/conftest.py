"""Shared fixtures: offline, CPU, small. A tiny registered model keeps engine tests fast."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


class TinyIQA(nn.Module):
    """Conv -> global average -> linear; has BatchNorm and Dropout so train/eval modes matter."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(0.1),
            nn.Linear(width, 1),
        )

    def forward(self, x):
        return self.body(x).reshape(-1)


def _register_tiny():
    from gmc.models import MODELS, register_model

    if "tiny_test" not in MODELS:
        register_model("tiny_test", native_loss="mse", default_input_size=16)(lambda width=8: TinyIQA(width))


_register_tiny()


@pytest.fixture
def image_sets():
    """Random train/val ImageSets whose MOS depends on image brightness (learnable)."""
    from gmc.data.loading import ImageSet

    g = torch.Generator().manual_seed(0)

    def make(n):
        images = torch.randint(0, 256, (n, 3, 16, 16), generator=g, dtype=torch.uint8)
        mos = images.float().mean(dim=(1, 2, 3)) / 255.0
        return ImageSet(images=images, mos=mos, names=[f"img{i:03d}.png" for i in range(n)])

    return make(48), make(16)


def tiny_run_config(**train_overrides) -> dict:
    train = {
        "epochs": 3,
        "batch_size": 8,
        "optimizer": "adam",
        "lr": 1e-2,
        "weight_decay": 0.0,
        "scheduler": "cosine",
        "t_max": None,
        "eta_min": 0.0,
        "hflip": True,
        "amp": False,
        "selection": "val",
        "label_scaling": "dataset_range",
        "deterministic": True,
        "eval_batch_size": 32,
    }
    train.update(train_overrides)
    return {
        "model": "tiny",
        "arch": "tiny_test",
        "model_options": {},
        "input_size": 16,
        "loss": "gcc",
        "loss_type": "gcc",
        "loss_role": "gcc",
        "loss_options": {"queue_size": 32},
        "train_set": "rand",
        "split": 0,
        "seed": 0,
        "device": "cpu",
        "train": train,
    }


def copy_workflow(dst: Path, with_packages: bool = False) -> Path:
    """Copy what a workflow run needs (Snakefile, workflow/, config/, profiles/, environment.yml).
    ``with_packages``: also copy ``gmc/`` and ``baselines/``; Snakemake and the jobs (``python -m gmc``,
    run in ``dst``) then import the copies, so a test may edit them."""
    dst.mkdir(parents=True, exist_ok=True)
    items = ["Snakefile", "workflow", "config", "profiles", "environment.yml"]
    for item in items + (["gmc", "baselines"] if with_packages else []):
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst / item)
    return dst


def run_snakemake(
    workdir: Path, configfiles: str | list[str], *args: str, timeout: float = 1800
) -> subprocess.CompletedProcess:
    """``snakemake --cores 2 <args> --configfile <configfiles>`` in ``workdir`` with this interpreter
    (targets go before ``--configfile``, which takes every following word as a file), killed after
    ``timeout`` seconds (subprocess.TimeoutExpired)."""
    files = [configfiles] if isinstance(configfiles, str) else list(configfiles)
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args, "--configfile", *files]
    # the rules call `python -m gmc`: make it this interpreter even when its venv is not activated
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium binary; none skips the test, or fails it when ``CI`` is set (not to 0 or false)."""
    from gmc.reporting.browser import ChromiumNotFound, find_chromium

    try:
        return find_chromium()
    except ChromiumNotFound as err:
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(f"CI is set, so the browser check may not be skipped: {err}")
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a test module (CPU-heavy model tests; the suite runs one worker per core),
    restored afterwards. Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
