"""The workflow end to end on config/ci.yaml (tiny, synthetic, CPU), in a copy of the repository."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import copy_workflow, run_snakemake

pytestmark = pytest.mark.workflow


def _snakemake(workdir: Path, *args: str):
    return run_snakemake(workdir, "config/ci.yaml", *args)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    work = copy_workflow(tmp_path_factory.mktemp("workflow"))
    result = _snakemake(work)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return work


def test_report_has_a_row_for_every_model_loss_dataset(workdir):
    scores = pd.read_csv(workdir / "results" / "scores.csv")
    assert set(scores.columns) >= {
        "model",
        "loss",
        "loss_role",
        "train_set",
        "test_set",
        "split",
        "metric",
        "value",
    }
    combos = set(scores[["model", "loss", "train_set"]].itertuples(index=False, name=None))
    assert combos == {
        (m, loss, "demo_scenes")
        for m, loss in [("monet_tiny", "mse"), ("monet_tiny", "gcc"), ("cnniqa", "l1"), ("cnniqa", "gcc")]
    }
    assert set(scores["test_set"]) == {"demo_scenes", "demo_textures"}
    assert set(scores["split"]) == {0, 1}
    html = (workdir / "reports" / "index.html").read_text()
    assert "SYNTHETIC" in html.upper()
    intra = (workdir / "reports" / "tables" / "intra.tex").read_text()
    for model in ("monet", "cnniqa"):
        assert model.lower() in intra.lower()


def test_second_run_has_nothing_to_do(workdir):
    result = _snakemake(workdir, "--dry-run")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_ablation_target_trains_only_new_variants_and_renders_the_table(workdir):
    shared = workdir / "results" / "runs" / "monet_tiny" / "gcc" / "demo_scenes" / "split0" / "model.pt"
    stamp = shared.stat().st_mtime_ns
    result = _snakemake(workdir, "ablations")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert shared.stat().st_mtime_ns == stamp  # the "base" variant reused the main run
    for new in ("monet_tiny/gcc-tiny-batch_only", "monet_tiny-tiny-M1/gcc"):
        assert (workdir / "results" / "runs" / new / "demo_scenes" / "split0" / "model.pt").exists()
    scores = pd.read_csv(workdir / "results" / "ablations" / "scores.csv")
    assert set(zip(scores["model"], scores["loss"], strict=True)) == {
        ("monet_tiny", "gcc-tiny-batch_only"),
        ("monet_tiny", "gcc"),
        ("monet_tiny-tiny-M1", "gcc"),
    }
    assert set(scores["test_set"]) == {"demo_scenes"} and set(scores["split"]) == {0}
    table = pd.read_csv(workdir / "reports" / "tables" / "ablation_tiny.csv")
    assert list(table["variant"]) == ["batch_only", "base", "M1"]
    assert "CI ablation" in (workdir / "reports" / "ablations.html").read_text()
    assert (workdir / "reports" / "tables" / "ablation_tiny.tex").exists()
    again = _snakemake(workdir, "ablations", "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_scores_are_identical_after_deleting_results(workdir):
    before = (workdir / "results" / "scores.csv").read_bytes()
    shutil.rmtree(workdir / "results")
    result = _snakemake(workdir)
    assert result.returncode == 0, result.stderr[-4000:]
    assert (workdir / "results" / "scores.csv").read_bytes() == before
