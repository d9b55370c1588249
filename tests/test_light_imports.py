"""Light DAG: parsing the Snakefile and the commands that build no model import no torch, timm or pyiqa
(design.md, "light index, heavy builders"). Each check runs in a fresh interpreter, on small real inputs,
and reads which heavy packages the process ended up importing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from tests.conftest import REPO, copy_workflow

HEAVY = ("torch", "timm", "pyiqa")

#: runs ``gmc.cli.main(argv)`` and reports the heavy packages loaded, in a fresh interpreter
_RUNNER = textwrap.dedent(
    """
    import json, sys
    from gmc.cli import main
    main(json.loads(sys.argv[1]))
    print("HEAVY=" + ",".join(m for m in {heavy!r} if m in sys.modules))
    """
).format(heavy=HEAVY)


def run_cli(args: list[str], cwd: Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _RUNNER, json.dumps([str(a) for a in args])],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = [x for x in result.stdout.splitlines() if x.startswith("HEAVY=")][-1]
    return [m for m in line.removeprefix("HEAVY=").split(",") if m]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A tiny csv dataset (8 PNGs), and the prediction and run files of two runs on the CI config."""
    root = tmp_path_factory.mktemp("light")
    rng = np.random.default_rng(0)
    images = root / "data"
    images.mkdir()
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(images / f"im{i}.png")
    pd.DataFrame({"image": [f"im{i}.png" for i in range(8)], "mos": np.linspace(1, 5, 8)}).to_csv(
        images / "labels.csv", index=False
    )
    (root / "dataset.json").write_text(json.dumps({"root": images.as_posix()}))
    config = yaml.safe_load((REPO / "config" / "ci.yaml").read_text())
    config.pop("ablations")
    (root / "config.json").write_text(json.dumps(config))
    predictions, run_jsons = [], []
    for loss, role in (("l1", "native"), ("gcc", "gcc")):
        for split in (0, 1):
            for test in ("demo_scenes", "demo_textures"):
                mos = rng.random(12)
                frame = pd.DataFrame({"image": [f"x{i}.png" for i in range(12)], "mos": mos})
                frame["prediction"] = mos + 0.1 * rng.standard_normal(12)
                ident = {"model": "cnniqa", "loss": loss, "loss_role": role, "train_set": "demo_scenes"}
                frame = frame.assign(**ident, split=split, test_set=test, selection="val", config_hash="h")
                path = root / "pred" / loss / f"split{split}" / f"{test}.csv"
                path.parent.mkdir(parents=True, exist_ok=True)
                frame.to_csv(path, index=False)
                predictions.append(path)
            run = {
                "run_config": {**ident, "arch": "cnniqa", "split": split, "seed": split},
                "summary": {
                    "config_hash": "h",
                    "selection": "val",
                    "best_epoch": 1,
                    "epochs": 2,
                    "n_train": 20,
                    "n_val": 5,
                    "device": "cpu",
                },
                "threads": 1,
                "provenance": {"git_sha": "abc", "git_dirty": False, "packages": {"torch": "x"}, "cpu": "c"},
            }
            path = root / "runs" / loss / f"split{split}" / "run.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(run))
            run_jsons.append(path)
    (root / "predictions.txt").write_text("\n".join(map(str, predictions)))
    (root / "run_jsons.txt").write_text("\n".join(map(str, run_jsons)))
    return root


def test_manifest_and_split_import_no_model_code(inputs):
    options = json.dumps({"type": "csv", "score_range": [1, 5]})
    manifest = inputs / "manifest.csv"
    heavy = run_cli(
        ["manifest", "--dataset", "mine", "--options", options, "--dataset-json", inputs / "dataset.json"]
        + ["--out", manifest],
        inputs,
    )
    assert heavy == [] and len(pd.read_csv(manifest)) == 8
    out = inputs / "split.csv"
    heavy = run_cli(
        ["split", "--manifest", manifest, "--out", out, "--dataset", "mine", "--options", options]
        + ["--n-splits", "2", "--test-fraction", "0.25", "--val-fraction", "0.25"],
        inputs,
    )
    assert heavy == [] and len(pd.read_csv(out)) == 16


def test_score_aggregate_and_reports_import_no_model_code(inputs):
    predictions = (inputs / "predictions.txt").read_text().split()
    heavy = run_cli(["score", *predictions, "--out", inputs / "scores.csv"], inputs)
    assert heavy == [] and len(pd.read_csv(inputs / "scores.csv")) == len(predictions) * 5
    runs = (inputs / "run_jsons.txt").read_text().split()
    assert run_cli(["aggregate", *runs, "--out", inputs / "runs.csv"], inputs) == []
    config = (inputs / "config.json").read_text()
    common = ["--scores", inputs / "scores.csv", "--runs", inputs / "runs.csv", "--config", config]
    assert run_cli(["report", *common, "--out-dir", inputs / "reports"], inputs) == []
    assert (inputs / "reports" / "index.html").is_file()
    assert run_cli(["ablation-report", "--config", config, "--out-dir", inputs / "reports"], inputs) == []
    assert (inputs / "reports" / "ablations.html").is_file()


@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/paper.yaml"])
def test_snakefile_parse_imports_no_model_code(tmp_path, configfile):
    """``python -X importtime`` lists every module the dry run imported (Snakemake parses the Snakefile
    in its own process)."""
    work = copy_workflow(tmp_path / "work")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "snakemake", "-n", "--cores", "1"]
        + ["--configfile", configfile],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "import time:" in line}
    assert "gmc.config" in imported  # the Snakefile did parse our config code
    assert not {m for m in imported if m.split(".")[0] in HEAVY}
