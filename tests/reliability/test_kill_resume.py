"""A training job killed at any instant - during an optimisation step, during any file write, between
the writes of its last steps - is completed by rerunning the same command, with no manual step, and
ends byte-identical to an uninterrupted run: model.pt, predictions, log and summary.

Jobs are killed with SIGKILL at exact points by the ``GMC_TEST_KILL_AT`` hook of gmc.io: every point
in forked children of the test process (fast, see helpers_ckpt), and a chain of them in real
``python -m gmc train`` processes. The in-process test reproduces the state that used to leave a run
stuck.
"""

from __future__ import annotations

import json
import random
import signal
from pathlib import Path

import pytest

from gmc.training.engine import fit
from tests.conftest import tiny_run_config
from tests.reliability.helpers_ckpt import (
    gmc,
    gmc_forked,
    make_dataset,
    plugin_env,
    predict_args,
    temp_files,
    train_args,
)

# the tiny run: 24 training images in batches of 8 for 3 epochs, i.e. 9 steps
STEPS = 9
# "<point>:<n>": kill at the n-th time the process reaches the point. Steps drawn once, reproducibly.
RANDOM_STEPS = random.Random(7).sample(range(1, STEPS + 1), 2)
POINTS = [
    *(f"step:{n}" for n in RANDOM_STEPS),
    "last.pt:1",  # the first epoch's resume state: temporary file complete, not yet renamed
    "last.pt:3",  # the last epoch's
    "log.jsonl:1",  # the first epoch's log, after its last.pt
    "log.jsonl:4",  # finishing: the log written after model.pt
    "model.pt:1",
    "summary.json:1",
    "remove-last.pt:1",  # outputs written, resume state not yet removed
    "run.json:1",  # written by the CLI after training
]
ATOMIC_WRITES = {"last.pt", "log.jsonl", "model.pt", "summary.json", "run.json"}
# Snakemake deletes a job's outputs before it reruns the job (rerun-incomplete): train.smk's outputs
SNAKEMAKE_OUTPUTS = ("model.pt", "log.jsonl", "run.json")


def _log(run_dir: Path) -> list[dict]:
    records = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("train_seconds", "images_per_s")} for r in records]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The tiny dataset on disk, an uninterrupted run of it and the run's predictions."""
    root = tmp_path_factory.mktemp("kill_resume")
    data = make_dataset(root / "data")
    reference = root / "uninterrupted"
    assert gmc_forked(*train_args(data, reference)) == 0
    assert gmc_forked(*predict_args(data, reference / "model.pt", reference / "predictions")) == 0
    return data, reference


def _assert_same_as_uninterrupted(run: Path, world) -> None:
    """``run`` is complete and byte-identical to the uninterrupted run, its predictions too."""
    data, reference = world
    assert (run / "model.pt").read_bytes() == (reference / "model.pt").read_bytes()
    assert _log(run) == _log(reference)
    assert (run / "summary.json").read_bytes() == (reference / "summary.json").read_bytes()
    assert json.loads((run / "run.json").read_text())["summary"] == json.loads(
        (run / "summary.json").read_text()
    )
    assert not (run / "checkpoints" / "last.pt").exists()
    assert temp_files(run) == [], "temporary files of killed writes must be cleaned up"
    assert gmc_forked(*predict_args(data, run / "model.pt", run / "predictions")) == 0
    predictions = (run / "predictions" / "rand.csv").read_bytes()
    assert predictions == (reference / "predictions" / "rand.csv").read_bytes()


@pytest.mark.parametrize("outputs_deleted", [False, True], ids=["rerun", "snakemake-rerun"])
@pytest.mark.parametrize("point", POINTS)
def test_a_job_killed_at_any_point_is_completed_by_rerunning_it(world, tmp_path, point, outputs_deleted):
    data, _ = world
    run = tmp_path / "run"
    assert gmc_forked(*train_args(data, run), kill_at=point) == -signal.SIGKILL, f"not killed at {point}"
    name = point.split(":")[0]
    if name in ATOMIC_WRITES:
        assert list(run.rglob(f".{name}.*.tmp")), f"the kill at {point} did not interrupt that write"
    if outputs_deleted:
        for output in SNAKEMAKE_OUTPUTS:
            (run / output).unlink(missing_ok=True)
    complete = point == "run.json:1" and not outputs_deleted  # all but run.json was written
    model_before = (run / "model.pt").stat().st_ino if complete else None
    assert gmc_forked(*train_args(data, run)) == 0
    _assert_same_as_uninterrupted(run, world)
    if complete:
        assert (run / "model.pt").stat().st_ino == model_before, "a complete run must not be trained again"


def test_python_m_gmc_train_killed_twice_is_completed_by_rerunning_it(world, tmp_path_factory):
    """The same with real ``python -m gmc train`` processes: killed during a random step of the first
    two epochs, then (resumed) before removing last.pt; the third run completes the job."""
    data, _ = world
    folder = tmp_path_factory.mktemp("python_m_gmc")
    env, run = plugin_env(folder / "plugin"), folder / "run"
    first_step = random.Random(8).randint(1, 2 * STEPS // 3)
    for point in (f"step:{first_step}", "remove-last.pt:1"):
        killed = gmc(env, *train_args(data, run), kill_at=point)
        assert killed.returncode == -signal.SIGKILL, f"not killed at {point}:\n{killed.stderr[-3000:]}"
    rerun = gmc(env, *train_args(data, run))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    _assert_same_as_uninterrupted(run, world)


class Killed(BaseException):
    """Stands in for a kill: nothing after it runs."""


@pytest.mark.parametrize("outputs_deleted", [False, True], ids=["rerun", "snakemake-rerun"])
def test_a_run_killed_before_removing_last_pt_is_not_stuck(
    tmp_path, image_sets, monkeypatch, outputs_deleted
):
    """Killed after writing model.pt but before removing last.pt, a run used to be stuck: every rerun
    failed with FileNotFoundError for best.pt. A Snakemake rerun also deletes model.pt and log.jsonl
    first: the rerun must rebuild them from last.pt alone."""
    train, val = image_sets
    config = tiny_run_config()
    fit(config, train, val, tmp_path / "full")
    unlink = Path.unlink

    def killed_removing_last_pt(self, *args, **kwargs):
        if self.name == "last.pt":
            raise Killed
        return unlink(self, *args, **kwargs)

    cut = tmp_path / "cut"
    with monkeypatch.context() as patch:
        patch.setattr(Path, "unlink", killed_removing_last_pt)
        with pytest.raises(Killed):
            fit(config, train, val, cut)
    assert (cut / "checkpoints" / "last.pt").is_file() and (cut / "model.pt").is_file()
    if outputs_deleted:
        (cut / "model.pt").unlink()
        (cut / "log.jsonl").unlink()
    fit(config, train, val, cut)
    assert (cut / "model.pt").read_bytes() == (tmp_path / "full" / "model.pt").read_bytes()
    assert _log(cut) == _log(tmp_path / "full")
    assert not (cut / "checkpoints" / "last.pt").exists()
