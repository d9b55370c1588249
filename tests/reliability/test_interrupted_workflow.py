"""Snakemake interrupted in the middle of the DAG while a training job runs - first by Ctrl-C (SIGINT to
the whole process group, as a terminal sends it), then, in the rerun, by kill -9 of Snakemake and all its
jobs - and run again with ``--rerun-incomplete``: the run completes and its scores are byte-identical to
those of an uninterrupted run of the same config, made alongside.

Both interruptions come as soon as the training job's log exists, so they hit the job while it starts
(before its first checkpoint: the run is one short epoch); kills during checkpoint writes are the training
engine's tests. After kill -9 Snakemake cannot release its lock: the next run stops and says to run
``snakemake --unlock``, which the test does, as a user would.

The config is smaller than config/ci.yaml (one model, one loss, one split, one epoch, 24 demo images at
32 px for the model) so that the whole test takes about a minute on two CPU cores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_workflow, run_snakemake

pytestmark = pytest.mark.workflow

CONFIG = {
    "title": "interrupted workflow - SYNTHETIC data",
    "seed": 0,
    "device": "cpu",
    "datasets": {"demo_scenes": {"type": "demo", "preset": "demo_scenes", "n_images": 24, "image_size": 48}},
    "models": {"cnniqa": {"arch": "cnniqa", "input_size": 32}},
    "benchmark": {
        "models": ["cnniqa"],
        "losses": ["native"],
        "train_sets": ["demo_scenes"],
        "test_sets": ["demo_scenes"],
        "splits": 1,
        "test_fraction": 0.25,
        "val_fraction": 0.25,
    },
    "train": {"epochs": 1, "batch_size": 8, "lr": 1.0e-4, "eval_batch_size": 16},
}
CONFIGFILE = "tiny.yaml"
SCORES = Path("results") / "scores.csv"


def workdir(path: Path) -> Path:
    work = copy_workflow(path)
    (work / CONFIGFILE).write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    return work


def start(work: Path, log: Path, *args: str) -> subprocess.Popen:
    """Snakemake in its own process group with its jobs, as ``run_snakemake`` would run it; output to
    ``log``."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "snakemake", "--cores", "2", *args, "--configfile", CONFIGFILE],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def newest_train_log(work: Path) -> int:
    """The modification time (ns) of the newest training job log; 0 when there is none."""
    return max(
        (p.stat().st_mtime_ns for p in (work / "results" / "logs" / "train").glob("**/*.log")), default=0
    )


def wait_for_training(work: Path, snakemake: subprocess.Popen, after: int = 0, timeout: float = 120) -> None:
    """Until a training job has started (its log file was written after ``after``)."""
    deadline = time.monotonic() + timeout
    while newest_train_log(work) <= after:
        assert snakemake.poll() is None, "the workflow ended before a training job started"
        assert time.monotonic() < deadline, "no training job started"
        time.sleep(0.05)


def interrupt(work: Path, snakemake: subprocess.Popen, sig: signal.Signals) -> None:
    """Send ``sig`` to Snakemake and all its jobs; it must stop before the end of the DAG."""
    os.killpg(snakemake.pid, sig)
    assert snakemake.wait(timeout=120) != 0
    assert not (work / SCORES).exists()


def test_interrupted_workflow_resumes_to_identical_scores(tmp_path):
    reference = workdir(tmp_path / "reference")
    uninterrupted = start(reference, tmp_path / "reference.txt")  # alongside, on the other core
    work = workdir(tmp_path / "work")

    snakemake = start(work, tmp_path / "ctrl-c.txt")
    wait_for_training(work, snakemake)
    interrupt(work, snakemake, signal.SIGINT)  # Ctrl-C: a terminal signals the whole process group

    before = newest_train_log(work)
    snakemake = start(work, tmp_path / "kill-9.txt", "--rerun-incomplete")
    wait_for_training(work, snakemake, after=before)  # the training job runs again
    interrupt(work, snakemake, signal.SIGKILL)
    locked = run_snakemake(work, CONFIGFILE, "--rerun-incomplete")  # the killed Snakemake's lock stays
    assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr
    assert run_snakemake(work, CONFIGFILE, "--unlock").returncode == 0

    result = run_snakemake(work, CONFIGFILE, "--rerun-incomplete")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert uninterrupted.wait(timeout=300) == 0, (tmp_path / "reference.txt").read_text()[-4000:]
    assert (work / SCORES).read_bytes() == (reference / SCORES).read_bytes()
