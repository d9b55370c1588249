"""User errors end without a traceback: a bad or missing input of the commands after training (score,
aggregate, report, ablation-report) and of split exits with status 2 and one message that names the file
(or the config key) and the fix. A few cases run ``python -m gmc`` as the workflow does; the others call
``gmc.cli.main`` in this process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from gmc.cli import main
from gmc.evaluation import score_predictions
from gmc.results import collect_runs
from tests.conftest import REPO

TEST_SETS = ("demo_scenes", "demo_textures")
LOSSES = (("l1", "native"), ("gcc", "gcc"))


def gmc(*args, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m gmc <args>`` with this tree's package, as a Snakemake job runs it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "gmc", *map(str, args)], cwd=cwd, capture_output=True, text=True, env=env
    )


def assert_user_error(code: int, stderr: str, *parts: str) -> None:
    """Exit status 2 and a one-message stderr: "error: ...", naming each of ``parts``, no traceback."""
    assert code == 2, stderr
    assert stderr.startswith("error: "), stderr
    assert "Traceback" not in stderr, stderr
    for part in parts:
        assert str(part) in stderr, f"{part!r} not in {stderr!r}"


def config() -> dict:
    raw = yaml.safe_load((REPO / "config" / "ci.yaml").read_text())
    raw.pop("ablations")
    return raw


def prediction(rng, loss: str, role: str, test_set: str, n: int = 12) -> pd.DataFrame:
    """A prediction file of cnniqa (CI config) trained on demo_scenes, split 0, as ``gmc predict`` writes."""
    mos = rng.random(n)
    frame = pd.DataFrame({"image": [f"x{i}.png" for i in range(n)], "mos": mos, "prediction": mos + 0.1})
    ident = {"model": "cnniqa", "loss": loss, "loss_role": role, "train_set": "demo_scenes", "split": 0}
    return frame.assign(**ident, test_set=test_set, selection="val", config_hash="h")


def run_record(loss: str, role: str) -> dict:
    ident = {"model": "cnniqa", "loss": loss, "loss_role": role, "train_set": "demo_scenes"}
    return {
        "run_config": {**ident, "arch": "cnniqa", "split": 0, "seed": 0},
        "summary": {
            "config_hash": "h",
            "selection": "val",
            "best_epoch": 1,
            "epochs": 1,
            "n_train": 8,
            "n_val": 2,
            "device": "cpu",
        },
        "threads": 1,
        "provenance": {"git_sha": "abc", "git_dirty": False, "packages": {"torch": "x"}, "cpu": "c"},
    }


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """Good prediction files, run records, scores.csv and runs.csv of two cnniqa runs on the CI config."""
    root = tmp_path_factory.mktemp("results")
    rng = np.random.default_rng(0)
    predictions, records = [], []
    for loss, role in LOSSES:
        for test_set in TEST_SETS:
            path = root / "predictions" / loss / f"{test_set}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            prediction(rng, loss, role, test_set).to_csv(path, index=False)
            predictions.append(path)
        path = root / "runs" / loss / "run.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(run_record(loss, role)))
        records.append(path)
    score_predictions(predictions).to_csv(root / "scores.csv", index=False)
    collect_runs(records).to_csv(root / "runs.csv", index=False)
    (root / "config.json").write_text(json.dumps(config()))
    return root


def report_args(results: Path, scores: Path, runs: Path, cfg: dict | None = None) -> list:
    cfg_json = json.dumps(cfg) if cfg is not None else (results / "config.json").read_text()
    return ["report", "--scores", scores, "--runs", runs, "--config", cfg_json, "--out-dir", results / "out"]


# --- python -m gmc, as the workflow's jobs run it


def test_report_on_a_non_numeric_score_names_the_file_and_line(results, tmp_path):
    scores = pd.read_csv(results / "scores.csv").astype({"value": object})
    scores.loc[1, "value"] = "0.8x"
    scores.to_csv(tmp_path / "scores.csv", index=False)
    done = gmc(*report_args(results, tmp_path / "scores.csv", results / "runs.csv"), cwd=tmp_path)
    assert_user_error(done.returncode, done.stderr, tmp_path / "scores.csv", "CSV line(s) 3", "'0.8x'")


def test_report_on_scores_of_a_model_the_config_lacks_names_the_model_and_the_fix(results, tmp_path):
    cfg = config()
    cfg["models"].pop("cnniqa")
    cfg["benchmark"]["models"] = ["monet_tiny"]
    done = gmc(*report_args(results, results / "scores.csv", results / "runs.csv", cfg), cwd=tmp_path)
    assert_user_error(done.returncode, done.stderr, results / "scores.csv", "'cnniqa'", "rerun `snakemake`")


def test_score_on_an_empty_prediction_file_names_it(results, tmp_path):
    empty = tmp_path / "demo_scenes.csv"
    empty.write_text("")
    done = gmc("score", empty, "--out", tmp_path / "scores.csv", cwd=tmp_path)
    assert_user_error(done.returncode, done.stderr, empty, "is empty", "snakemake --forcerun")
    assert not (tmp_path / "scores.csv").exists()


def test_aggregate_on_a_truncated_run_record_names_it(results, tmp_path):
    record = tmp_path / "split0" / "run.json"
    record.parent.mkdir()
    record.write_text((results / "runs" / "gcc" / "run.json").read_text()[:40])
    done = gmc("aggregate", record, "--out", tmp_path / "runs.csv", cwd=tmp_path)
    assert_user_error(done.returncode, done.stderr, record, "not valid JSON", record.parent / "model.pt")


def test_split_of_a_dataset_too_small_for_the_fractions_names_the_dataset_and_the_keys(tmp_path):
    images = tmp_path / "data"
    images.mkdir()
    Image.new("RGB", (8, 8)).save(images / "only.png")
    pd.DataFrame({"image": ["only.png"], "mos": [3.0]}).to_csv(images / "labels.csv", index=False)
    (tmp_path / "dataset.json").write_text(json.dumps({"root": images.as_posix()}))
    options = json.dumps({"type": "csv", "score_range": [1, 5]})
    common = ["--dataset", "mine", "--options", options]
    manifest = tmp_path / "mine.csv"
    argv = ["manifest", *common, "--dataset-json", tmp_path / "dataset.json", "--out", manifest]
    assert main([str(a) for a in argv]) == 0
    done = gmc("split", *common, "--manifest", manifest, "--out", tmp_path / "split.csv", cwd=tmp_path)
    assert_user_error(done.returncode, done.stderr, "'mine'", manifest, "1 group(s)", "benchmark.splits")


# --- the same checks, in this process


def check(capsys, argv: list, *parts) -> None:
    assert_user_error(main([str(a) for a in argv]), capsys.readouterr().err, *parts)


def test_report_on_a_missing_runs_table_names_it(results, tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    check(capsys, report_args(results, results / "scores.csv", runs), runs, "does not exist", "aggregate")


def test_report_on_a_runs_table_without_a_column_names_it(results, tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    pd.read_csv(results / "runs.csv").drop(columns="git_sha").to_csv(runs, index=False)
    check(capsys, report_args(results, results / "scores.csv", runs), runs, "missing column(s) git_sha")


def test_report_on_a_missing_scores_file_names_it(results, tmp_path, capsys):
    scores = tmp_path / "scores.csv"
    check(capsys, report_args(results, scores, results / "runs.csv"), scores, "does not exist", "gmc score")


def test_report_without_a_title_in_the_config_uses_the_default(results, tmp_path):
    cfg = config()
    cfg.pop("title")
    argv = report_args(results, results / "scores.csv", results / "runs.csv", cfg)
    assert main([str(a) for a in argv]) == 0
    assert "GMC-IQA benchmark" in (results / "out" / "index.html").read_text()


@pytest.mark.parametrize(
    ("mutate", "parts"),
    [
        (lambda f: f.iloc[:0], ["has a header but no rows"]),
        (lambda f: f.drop(columns="prediction"), ["missing column(s) prediction"]),
        (lambda f: f.assign(mos=f.mos.astype(object).where(f.index != 4, "n/a")), ["line(s) 6", "'n/a'"]),
        (lambda f: f.assign(prediction=f.prediction.where(f.index != 0)), ["prediction value", "line(s) 2"]),
        (lambda f: f.assign(split=f.split.where(f.index != 3, 1)), ["column(s) split must hold one"]),
        (lambda f: f.iloc[:2], ["need at least 3 images"]),
    ],
)
def test_score_on_a_bad_prediction_file_names_it(results, tmp_path, capsys, mutate, parts):
    path = tmp_path / "demo_scenes.csv"
    mutate(pd.read_csv(results / "predictions" / "l1" / "demo_scenes.csv")).to_csv(path, index=False)
    check(capsys, ["score", path, "--out", tmp_path / "scores.csv"], path, *parts)
    assert not (tmp_path / "scores.csv").exists()


def test_score_on_two_files_of_one_run_and_test_set_names_both(results, tmp_path, capsys):
    first = results / "predictions" / "l1" / "demo_scenes.csv"
    second = tmp_path / "copy.csv"
    second.write_bytes(first.read_bytes())
    argv = ["score", first, second, "--out", tmp_path / "scores.csv"]
    check(capsys, argv, first, second, "one file per run")


def test_aggregate_on_a_run_record_without_a_field_names_it(results, tmp_path, capsys):
    record = tmp_path / "run.json"
    run = run_record("l1", "native")
    del run["summary"]["best_epoch"]
    record.write_text(json.dumps(run))
    check(capsys, ["aggregate", record, "--out", tmp_path / "runs.csv"], record, "'best_epoch'")


def test_ablation_report_without_the_grid_runs_names_the_scores_and_the_fix(results, tmp_path, capsys):
    cfg = json.dumps(yaml.safe_load((REPO / "config" / "ci.yaml").read_text()))
    scores = results / "scores.csv"  # the main runs' scores: no ablation variant in them
    argv = ["ablation-report", "--scores", scores, "--runs", results / "runs.csv", "--config", cfg]
    check(capsys, [*argv, "--out-dir", tmp_path], scores, "'tiny'", "snakemake ablations")


def test_split_without_its_manifest_names_it(tmp_path, capsys):
    options = json.dumps({"type": "csv", "score_range": [1, 5]})
    manifest = tmp_path / "absent.csv"
    argv = ["split", "--manifest", manifest, "--out", tmp_path / "s.csv", "--dataset", "mine"]
    argv += ["--options", options]
    check(capsys, argv, manifest, "does not exist", "gmc manifest")


def test_manifest_without_a_dataset_record_is_a_user_error(tmp_path, capsys):
    from gmc.cli import main

    args = ["manifest", "--dataset", "d", "--options", '{"type": "csv", "score_range": [1, 5]}']
    code = main([*args, "--dataset-json", str(tmp_path / "missing.json"), "--out", str(tmp_path / "m.csv")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and "missing.json" in err and "Traceback" not in err


def test_fetch_from_a_missing_local_source_is_a_user_error(tmp_path, capsys):
    from gmc.cli import main

    options = '{"type": "livec", "source": "%s"}' % (tmp_path / "nowhere.zip")
    out, lock = str(tmp_path / "out"), str(tmp_path / "lock.json")
    code = main(["fetch", "--dataset", "livec", "--options", options, "--out", out, "--lock", lock])
    err = capsys.readouterr().err
    assert code == 2 and "nowhere.zip" in err and "does not exist" in err
