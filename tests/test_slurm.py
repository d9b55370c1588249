"""The workflow through a real Slurm cluster (snakemake-executor-plugin-slurm): the one-node CPU cluster
of ``.ci/slurm-up`` and ``profiles/slurm-local`` (the rules' resources of ``profiles/slurm`` without GPUs).

* One train -> predict chain of ``config/ci.yaml`` (MoNet, GCC loss, split 0, with its data preparation)
  runs as Slurm jobs; the same train and predict jobs run locally on copies of the same prepared data,
  and the model and the prediction files (hence every score) are byte-identical.
* ``-m scancel``: a training job cancelled with ``scancel`` mid-run (as a preemption or a time limit
  does: SIGTERM, then SIGKILL) is run again by Snakemake through Slurm, resumes after its last completed
  epoch and ends byte-identical to an uninterrupted local run.

Without a cluster these tests skip with the reason, except with ``CI`` or ``GMC_SLURM`` set (``.ci/run``
sets both after ``.ci/slurm-up``): then they fail and say how to start one. Every wait is bounded."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_workflow, run_snakemake

pytestmark = pytest.mark.slurm

CONFIG = "config/ci.yaml"
PROFILE = ["--workflow-profile", "profiles/slurm-local"]
RUN = "monet_tiny/gcc/demo_scenes"
PREDICTIONS = ["demo_scenes.csv", "demo_textures.csv"]  # the run's test sets (config/ci.yaml)
PREPARED = ["resources", "results/manifests", "results/cache", "results/splits"]
SLURM_TIMEOUT_S = 600  # a Snakemake run through Slurm; the plugin may wait forever on a broken cluster
SCANCEL_EPOCHS = 12  # the cancelled run trains longer, so that the cancel falls inside training


def _is_set(name: str) -> bool:
    return os.environ.get(name, "").lower() not in ("", "0", "false", "no")


def _cluster_problem() -> str | None:
    """Why no Slurm cluster can take jobs here, or None when one can (a node idle, mixed or allocated)."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "Slurm's sinfo/sbatch are not installed"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 15 s (slurmctld not running?)"
    states = out.stdout.split()
    if out.returncode != 0 or not any(s.rstrip("*") in ("idle", "mixed", "allocated") for s in states):
        return f"no Slurm node can take jobs (sinfo: {(out.stdout + out.stderr).strip() or 'nothing'})"
    return None


@pytest.fixture(scope="module")
def cluster() -> None:
    problem = _cluster_problem()
    if problem is None:
        return
    if _is_set("CI") or _is_set("GMC_SLURM"):
        pytest.fail(
            f"CI or GMC_SLURM is set, so the Slurm tests may not be skipped, but {problem}. Start the local "
            "cluster with `.ci/slurm-up` (as .ci/run does; its output says what failed), or unset CI."
        )
    pytest.skip(f"{problem}: start a local one with `.ci/slurm-up` (as root) to run these tests")


def _cancel_jobs_in(workdir: Path) -> None:
    """Cancel this test's Slurm jobs (those whose working directory is ``workdir``), e.g. after a timeout."""
    out = subprocess.run(["squeue", "-h", "-o", "%i|%Z"], capture_output=True, text=True, timeout=15).stdout
    ids = [i for i, _, folder in (line.partition("|") for line in out.splitlines()) if folder == str(workdir)]
    if ids:
        subprocess.run(["scancel", *ids], timeout=15, check=False)


def _through_slurm(workdir: Path, configs: list[str], *targets: str) -> subprocess.CompletedProcess:
    try:
        return run_snakemake(workdir, configs, *PROFILE, *targets, timeout=SLURM_TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        _cancel_jobs_in(workdir)
        pytest.fail(f"the Slurm run did not finish within {SLURM_TIMEOUT_S} s:\n{str(err.stdout)[-3000:]}")


def _job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def _prediction_targets(split: int) -> list[str]:
    return [f"results/predictions/{RUN}/split{split}/{name}" for name in PREDICTIONS]


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory) -> tuple[Path, Path, float]:
    """The chain of split 0 through Slurm, from nothing; a local copy of the workflow with the same
    prepared data (datasets, manifests, caches, split files: mtimes kept, so only training and prediction
    are left to do there); the Slurm run's wall time."""
    base = tmp_path_factory.mktemp("slurm")
    work = copy_workflow(base / "slurm")
    start = time.monotonic()
    result = _through_slurm(work, [CONFIG], *_prediction_targets(0))
    seconds = time.monotonic() - start
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", result.stdout + result.stderr)
    counts = _job_counts(result.stdout + result.stderr)
    # split (a local rule) runs here, the other jobs on Slurm
    assert len(submitted) == counts["total"] - counts["split"], (submitted, counts)
    assert counts["train"] == 1 and counts["predict"] == 1 and counts["demo_data"] == 2, counts
    local = copy_workflow(base / "local")
    for folder in PREPARED:
        shutil.copytree(work / folder, local / folder, symlinks=True)
    return work, local, seconds


def _same_files(a: Path, b: Path, names: list[str]) -> None:
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs: {a} vs {b}"


def test_a_train_predict_chain_through_slurm_equals_the_local_run(slurm_run):
    work, local, seconds = slurm_run
    print(f"Slurm chain (data preparation, train, predict) from nothing: {seconds:.0f} s")
    result = run_snakemake(local, CONFIG, *_prediction_targets(0), timeout=SLURM_TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    counts = _job_counts(result.stdout + result.stderr)
    assert counts == {"train": 1, "predict": 1, "total": 2}, f"the local run must reuse the data: {counts}"
    for folder, names in (
        (f"results/runs/{RUN}/split0", ["model.pt"]),
        (f"results/predictions/{RUN}/split0", PREDICTIONS),
    ):
        _same_files(work / folder, local / folder, names)


def _running_train_job(workdir: Path) -> str | None:
    out = subprocess.run(
        ["squeue", "-h", "-t", "RUNNING", "-o", "%i|%Z|%k"], capture_output=True, text=True, timeout=15
    ).stdout
    for line in out.splitlines():
        job, folder, comment = line.split("|", 2)
        if folder == str(workdir) and comment.startswith("rule_train"):
            return job
    return None


@pytest.mark.scancel
def test_a_training_job_cancelled_mid_run_resumes_through_slurm_with_identical_scores(slurm_run, request):
    """scancel sends the job SIGTERM (then SIGKILL after KillWait), as a preemption or time limit does;
    profiles/slurm-local's `retries: 1` makes Snakemake submit it again, and it resumes from last.pt.
    About 100 s more (docs/benchmarks.md, "Slurm"), so it runs only when asked for: ``-m scancel`` or
    GMC_SLURM_SCANCEL=1."""
    if not (re.search(r"(?<!not )\bscancel\b", request.config.getoption("markexpr") or "")) and not _is_set(
        "GMC_SLURM_SCANCEL"
    ):
        pytest.skip("the scancel test runs with -m scancel or GMC_SLURM_SCANCEL=1 (about 100 s more)")
    work, local, _ = slurm_run
    longer = {"train": {"epochs": SCANCEL_EPOCHS}}
    for folder in (work, local):
        (folder / "longer.yaml").write_text(yaml.safe_dump(longer))
    configs = [CONFIG, "longer.yaml"]
    run_dir = work / "results" / "runs" / RUN / "split1"
    cmd = [sys.executable, "-m", "snakemake", *PROFILE, *_prediction_targets(1), "--configfile", *configs]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    log = work / "scancel-run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=work, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            cancelled, deadline = None, time.monotonic() + SLURM_TIMEOUT_S
            while cancelled is None and proc.poll() is None and time.monotonic() < deadline:
                # an epoch is complete (its resume state written): cancel the job during the next ones
                if (run_dir / "checkpoints" / "last.pt").exists():
                    cancelled = _running_train_job(work)
                    if cancelled:
                        subprocess.run(["scancel", cancelled], timeout=15, check=True)
                time.sleep(0.2)
            returncode = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            _cancel_jobs_in(work)
            pytest.fail(f"the Slurm run did not end within {SLURM_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
    output = log.read_text()
    assert cancelled, f"the training job ended before it could be cancelled:\n{output[-3000:]}"
    assert returncode == 0, output[-4000:]
    assert f"SLURM-job '{cancelled}' failed, SLURM status is: 'CANCELLED'" in output, output[-4000:]
    train_log = (work / "results" / "logs" / "train" / RUN / "split1.log").read_text()
    resumed = re.search(r"resuming \S+ after epoch (\d+)", train_log)
    assert resumed, f"the rerun did not resume from last.pt:\n{train_log[-3000:]}"
    # epochs count from 0: "after epoch k" with k below the last one is a resume in the middle of the run
    assert 0 <= int(resumed.group(1)) < SCANCEL_EPOCHS - 1, resumed.group(0)
    print(f"cancelled Slurm job {cancelled}; the retry {resumed.group(0)}")

    result = run_snakemake(local, configs, *_prediction_targets(1), timeout=SLURM_TIMEOUT_S)  # uninterrupted
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    _same_files(run_dir, local / "results" / "runs" / RUN / "split1", ["model.pt"])
    predictions = f"results/predictions/{RUN}/split1"
    _same_files(work / predictions, local / predictions, PREDICTIONS)
    assert not (run_dir / "checkpoints" / "last.pt").exists()


def test_the_cluster_profile_stops_on_its_placeholders_and_plans_once_they_are_set(tmp_path):
    """No cluster needed: a dry run with profiles/slurm names every CHANGE_ME value left; with them
    replaced it plans the GPU and retry resources of the training jobs."""
    work = copy_workflow(tmp_path)
    profile = ["--workflow-profile", "profiles/slurm", "--dry-run"]
    result = run_snakemake(work, CONFIG, *profile, timeout=300)
    assert result.returncode != 0
    for left in (
        "default-resources: slurm_account: CHANGE_ME_account",
        "train: slurm_partition: CHANGE_ME_gpu",
    ):
        assert left in result.stdout + result.stderr, result.stdout[-3000:] + result.stderr[-3000:]
    config = work / "profiles" / "slurm" / "config.yaml"
    config.write_text(config.read_text().replace("CHANGE_ME_", "my_"))
    result = run_snakemake(work, CONFIG, *profile, "-p", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    train = (result.stdout + result.stderr).split("rule train:", 1)[1].split("rule ", 1)[0]
    for resource in (
        "slurm_partition=my_gpu_partition",
        "gres=gpu:1",
        "gpu=0",
        "cpus_per_gpu=8",
        "runtime=1440",
    ):
        assert resource in train, train
