"""A real dataset in its official layout, given as a local archive (`source:`), runs the whole chain
with the existing rules: fetch -> extract -> manifest -> cache -> split -> train -> predict -> report."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from tests.conftest import copy_workflow, run_snakemake
from tests.data.layouts import build_livec, make_zip

pytestmark = pytest.mark.workflow


def test_livec_archive_in_official_layout_trains_end_to_end(tmp_path):
    src, want = build_livec(tmp_path / "src", n=40)
    archive = make_zip(src, tmp_path / "ChallengeDB_release.zip", arcroot="ChallengeDB_release")
    work = copy_workflow(tmp_path / "work")
    config = {
        "title": "local LIVEC-layout archive (tiny random images)",
        "device": "cpu",
        "datasets": {"livec": {"type": "livec", "source": str(archive), "expected_count": 40}},
        "models": {"cnniqa": {"arch": "cnniqa", "input_size": 32}},
        "benchmark": {
            "models": ["cnniqa"],
            "losses": ["native"],
            "train_sets": ["livec"],
            "splits": 1,
            "val_fraction": 0.25,
        },
        "train": {"epochs": 1, "batch_size": 8},
    }
    (work / "local.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(work, "local.yaml")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    manifest = pd.read_csv(work / "results" / "manifests" / "livec.csv")
    assert sorted(manifest["image"]) == sorted(want["images"])  # t1..t7 training images dropped
    lock = json.loads((work / "resources" / "datasets" / "lock.json").read_text())
    assert "livec/ChallengeDB_release.zip" in lock["archives"]
    scores = pd.read_csv(work / "results" / "scores.csv")
    assert set(scores["train_set"]) == {"livec"} and set(scores["loss"]) == {"l1"}
    assert (work / "reports" / "index.html").is_file()
