"""The workflow end to end, run once per test session, in a copy of the repository: config/ci.yaml (tiny,
synthetic, CPU) plus a real-dataset chain - a LIVEC archive in its official layout, given as a local
``source`` and used as a cross-dataset test set (fetch -> extract -> manifest -> cache -> split ->
predict -> score -> report) - with the default target and the ablation grids in one invocation.

The later tests reuse that run: the dry run has nothing to do, and forcing one train -> predict chain
to run again gives a byte-identical scores.csv (CPU determinism across processes)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gmc.metrics import SCORE_METRICS
from tests.conftest import copy_workflow, run_snakemake
from tests.data.layouts import build_livec, make_zip

pytestmark = pytest.mark.workflow

CONFIGS = ["config/ci.yaml", "local_livec.yaml"]
MAIN_RUNS = {("monet_tiny", "mse"), ("monet_tiny", "gcc"), ("cnniqa", "l1"), ("cnniqa", "gcc")}
HEAD_RUNS = {("monet_head", "gcc")}  # MoNet's head on its frozen backbone's cached maps: features + train
FR_RUNS = {("asna_tiny", "asna_surrogate"), ("asna_tiny", "gcc")}
PROBE_RUNS = {("probe", "mse")}  # the linear probe: rules features + probe, its native fit only
TEST_SETS = ["demo_scenes", "demo_textures", "livec"]
FORCED = "results/runs/monet_tiny/gcc/demo_scenes/split0/model.pt"


def _snakemake(workdir: Path, *args: str):
    return run_snakemake(workdir, CONFIGS, *args)


def _job_counts(stdout: str) -> dict[str, int]:
    """Snakemake's "Job stats" table (printed before the jobs run): rule -> number of jobs."""
    table = stdout.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory) -> tuple[Path, dict, subprocess.CompletedProcess]:
    base = tmp_path_factory.mktemp("workflow")
    src, livec = build_livec(base / "src", n=12)
    archive = make_zip(src, base / "ChallengeDB_release.zip", arcroot="ChallengeDB_release")
    work = copy_workflow(base / "work", with_packages=True)  # the style test edits the report's template
    local = {
        "datasets": {"livec": {"type": "livec", "source": str(archive), "expected_count": 12}},
        "benchmark": {"test_sets": TEST_SETS},
    }
    (work / "local_livec.yaml").write_text(yaml.safe_dump(local))
    result = _snakemake(work, "all", "ablations")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return work, livec, result


def test_report_has_a_row_for_every_model_loss_dataset(workflow_run):
    work, _, _ = workflow_run
    scores = pd.read_csv(work / "results" / "scores.csv")
    assert set(scores.columns) >= {"model", "loss", "loss_role", "train_set", "test_set", "split", "metric"}
    combos = set(scores[["model", "loss", "train_set"]].itertuples(index=False, name=None))
    assert combos == {(m, loss, "demo_scenes") for m, loss in MAIN_RUNS | HEAD_RUNS | PROBE_RUNS} | {
        (m, loss, "demo_fr") for m, loss in FR_RUNS
    }
    assert set(scores["test_set"]) == {*TEST_SETS, "demo_fr"}  # FR runs are tested on FR sets only
    assert set(scores.loc[scores["model"] == "asna_tiny", "test_set"]) == {"demo_fr"}
    assert set(scores["split"]) == {0, 1}
    # runs x splits x test sets x metrics
    assert len(scores) == (len(MAIN_RUNS | HEAD_RUNS | PROBE_RUNS) * 3 + len(FR_RUNS)) * 2 * len(
        SCORE_METRICS
    )
    assert set(scores["metric"]) == set(SCORE_METRICS)  # PLCC raw and PLCC_logistic both kept
    html = (work / "reports" / "index.html").read_text()
    assert "SYNTHETIC" in html.upper()
    intra = (work / "reports" / "tables" / "intra.tex").read_text()
    for model in ("monet", "cnniqa"):
        assert model.lower() in intra.lower()


def test_one_predict_job_per_run_writes_every_test_set(workflow_run):
    work, _, result = workflow_run
    counts = _job_counts(result.stdout + result.stderr)
    # 8 main + 2 head-only runs + 2 new ablation variants (the third variant is the main monet_tiny/gcc
    # run), 4 FR runs
    assert counts["train"] == 16 and counts["predict"] == 12 and counts["predict_fr"] == 4
    assert counts["pretrain_sorter"] == 1
    # the probe (2 splits) and the head-only MoNet read features computed once per dataset (demo_scenes,
    # demo_textures, livec) and per pooling (the probe's mean_std, the head's grid2 maps)
    assert counts["probe"] == 2 and counts["features"] == 6
    for model, loss in MAIN_RUNS | HEAD_RUNS | PROBE_RUNS:
        folder = work / "results" / "predictions" / model / loss / "demo_scenes" / "split1"
        assert sorted(p.name for p in folder.glob("*.csv")) == [
            "demo_scenes.csv",
            "demo_textures.csv",
            "livec.csv",
        ]
    intra = pd.read_csv(
        work / "results" / "predictions" / "cnniqa" / "l1" / "demo_scenes" / "split1" / "demo_scenes.csv"
    )
    splits = pd.read_csv(work / "results" / "splits" / "demo_scenes" / "random.csv")
    test_part = splits[(splits["split"] == 1) & (splits["part"] == "test")]["image"]
    assert sorted(intra["image"]) == sorted(test_part)  # intra-dataset: the split's test part only


def test_local_archive_in_official_layout_reaches_the_report(workflow_run):
    work, livec, _ = workflow_run
    manifest = pd.read_csv(work / "results" / "manifests" / "livec.csv")
    assert sorted(manifest["image"]) == sorted(livec["images"])  # t1..t7 training images dropped
    lock = json.loads((work / "resources" / "datasets" / "lock.json").read_text())
    assert "livec/ChallengeDB_release.zip" in lock["archives"]
    scores = pd.read_csv(work / "results" / "scores.csv")
    assert set(scores.loc[scores["test_set"] == "livec", "n_images"]) == {12}
    assert (work / "results" / "splits" / "livec" / "random.csv").is_file()


def test_ablation_grid_trains_only_new_variants_and_renders_the_table(workflow_run):
    work, _, _ = workflow_run
    for new in ("monet_tiny/gcc-tiny-batch_only", "monet_tiny-tiny-M1/gcc"):
        assert (work / "results" / "runs" / new / "demo_scenes" / "split0" / "model.pt").exists()
    scores = pd.read_csv(work / "results" / "ablations" / "scores.csv")
    assert set(zip(scores["model"], scores["loss"], strict=True)) == {
        ("monet_tiny", "gcc-tiny-batch_only"),
        ("monet_tiny", "gcc"),
        ("monet_tiny-tiny-M1", "gcc"),
    }
    assert set(scores["test_set"]) == {"demo_scenes"} and set(scores["split"]) == {0}
    table = pd.read_csv(work / "reports" / "tables" / "ablation_tiny.csv")
    assert list(table["variant"]) == ["batch_only", "base", "M1"]
    assert "CI ablation" in (work / "reports" / "ablations.html").read_text()
    assert (work / "reports" / "tables" / "ablation_tiny.tex").exists()


#: CI runs scored through pyiqa: a ``resize`` protocol (MoNet, EfficientNet-Lite0) and a ``crop`` one (CNNIQA,
#: 4 test crops cut from the cache at demo_textures' stored size, which is its images' own 48 px)
PYIQA_RUNS = ["monet_tiny/gcc/demo_scenes/split1", "cnniqa/l1/demo_scenes/split1"]


@pytest.mark.parametrize("run", PYIQA_RUNS)
def test_pyiqa_scores_a_ci_checkpoint_as_gmc_predict_did(workflow_run, run):
    """Issue #14: pyiqa builds a CI run's model.pt as the arch ``GMCRun`` (gmc/integrations/pyiqa_plugin.py)
    and gives, for every image file of demo_textures (a cross-dataset test set, scored whole), the score in
    that run's prediction CSV. Tolerance: tests/test_pyiqa_plugin.py. The entry point is registered by hand:
    its discovery through package metadata is tested there."""
    import torch
    from pyiqa.archs import build_network
    from pyiqa.utils.img_util import imread2tensor

    from gmc.integrations.pyiqa_plugin import ARCH_NAME, register

    work, _, _ = workflow_run
    register()
    predictions = pd.read_csv(work / "results" / "predictions" / run / "demo_textures.csv")
    manifest = pd.read_csv(work / "results" / "manifests" / "demo_textures.csv").set_index("image")
    files = [work / manifest.loc[name, "path"] for name in predictions["image"]]  # relative to the workdir
    net = build_network(
        {"type": ARCH_NAME, "pretrained_model_path": work / "results" / "runs" / run / "model.pt"}
    )
    scores = net(torch.stack([imread2tensor(str(f), rgb=True) for f in files]))
    assert len(files) == 40
    np.testing.assert_allclose(scores.numpy(), predictions["prediction"].to_numpy(), rtol=1e-5, atol=1e-7)


def test_second_run_has_nothing_to_do(workflow_run):
    work, _, _ = workflow_run
    result = _snakemake(work, "all", "ablations", "--dry-run")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_report_draws_every_figure_from_curves_and_predictions(workflow_run):
    work, _, _ = workflow_run
    curves = pd.read_csv(work / "results" / "curves.csv")
    # runs x splits x epochs (2 epochs; the probe's fit is one record)
    assert len(curves) == (len(MAIN_RUNS | HEAD_RUNS) + len(FR_RUNS)) * 2 * 2 + len(PROBE_RUNS) * 2
    assert curves["val_SROCC"].notna().all()
    figures = {p.stem for p in (work / "reports" / "figures").glob("*.png")} - {"ablation_tiny"}
    assert figures == {
        "intra_srocc", "gcc_vs_native", "gcc_differences", "cross_srocc", "validation_srocc",
        "scatter_monet_tiny", "scatter_cnniqa", "scatter_asna_tiny", "scatter_probe", "scatter_monet_head",
    }  # fmt: skip
    html = (work / "reports" / "index.html").read_text()
    for name in figures:
        assert f'src="figures/{name}.png"' in html


def test_full_reference_track_reaches_its_table_with_the_sorter(workflow_run):
    work, _, _ = workflow_run
    sorter = json.loads((work / "results" / "sorters" / "sorter8.pt.json").read_text())
    assert sorter["length"] == 8 and 0 <= sorter["accuracy"] <= 2
    table = pd.read_csv(work / "reports" / "tables" / "full_reference.csv")
    assert set(zip(table["model"], table["loss"], strict=True)) == FR_RUNS
    assert (table["main_score_n"] == 2).all()
    html = (work / "reports" / "index.html").read_text()
    section = html.split('id="table-full_reference"')[1].split("</table>")[0]
    assert "ASNA sorter of length 8" in html.split('id="table-full_reference"')[1]
    assert section.count('data-model="asna_tiny"') == 2
    assert "demo_fr" not in (work / "reports" / "tables" / "intra.csv").read_text()
    # FR splits keep every reference image in one part (train, val or test) of each split
    manifest = pd.read_csv(work / "results" / "manifests" / "demo_fr.csv")
    splits = pd.read_csv(work / "results" / "splits" / "demo_fr" / "random.csv")
    parts = splits.merge(manifest[["image", "reference_path"]], on="image", validate="many_to_one")
    assert parts.groupby(["split", "reference_path"])["part"].nunique().max() == 1
    assert parts["reference_path"].nunique() == 6 and set(parts["part"]) == {"train", "val", "test"}


def test_snakemakes_own_report_has_the_figures_and_tables(workflow_run):
    work, _, _ = workflow_run
    result = _snakemake(work, "--report", "snakemake-report.html")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    page = (work / "snakemake-report.html").read_text()
    for name in ("intra_srocc.png", "scatter_cnniqa.png", "gcc_vs_native.csv", "statistics.csv"):
        assert name in page, name


def test_the_report_page_renders_in_chromium(workflow_run, chromium):
    """`snakemake check_report`: the real report of this run in headless Chromium, with a screenshot."""
    work, _, _ = workflow_run
    result = _snakemake(work, "check_report")
    log = (work / "results" / "logs" / "check_report.log").read_text()
    assert result.returncode == 0, log + result.stderr[-3000:]
    assert (work / "reports" / "index.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_editing_a_table_style_rebuilds_only_the_report(workflow_run):
    """Runs after the no-op dry run: the report's template is an input of the report rule alone."""
    work, _, _ = workflow_run
    template = work / "gmc" / "reporting" / "templates" / "_macros.j2"
    template.write_text(template.read_text().replace("figcaption {", "figcaption { letter-spacing: .01em;"))
    result = _snakemake(work, "all")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert _job_counts(result.stdout + result.stderr) == {"report": 1, "all": 1, "total": 2}
    assert "letter-spacing: .01em" in (work / "reports" / "index.html").read_text()


def test_workflow_lints_clean(workflow_run):
    work, _, _ = workflow_run
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--configfile", *CONFIGS],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_forced_rerun_of_a_train_predict_chain_gives_identical_scores(workflow_run):
    """Runs last in this module: it rewrites one run and everything downstream of it."""
    work, _, _ = workflow_run
    scores = work / "results" / "scores.csv"
    before, stamp = scores.read_bytes(), (work / FORCED).stat().st_mtime_ns
    result = _snakemake(work, "--forcerun", FORCED)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    counts = _job_counts(result.stdout + result.stderr)
    assert counts["train"] == 1 and counts["predict"] == 1
    assert (work / FORCED).stat().st_mtime_ns != stamp  # the run was really trained again
    assert scores.read_bytes() == before
