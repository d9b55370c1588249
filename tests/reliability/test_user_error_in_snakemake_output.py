"""A job that fails on a user error shows its one-line message in Snakemake's own output: the rules
redirect each command's output to its log, and profiles/default (the workflow profile) prints the log of
a failed job (``show-failed-logs``). The case: the user's own dataset has a single image, which only the
split job can find out (the config check cannot count images)."""

from __future__ import annotations

import pytest
import yaml
from PIL import Image

from tests.conftest import copy_workflow, run_snakemake

pytestmark = pytest.mark.workflow


def one_image_dataset(folder) -> None:
    folder.mkdir()
    Image.new("RGB", (40, 40), (90, 120, 150)).save(folder / "only.png")
    (folder / "labels.csv").write_text("image,mos\nonly.png,3.0\n")


def test_the_message_of_a_failed_job_is_in_snakemakes_output(tmp_path):
    work = copy_workflow(tmp_path / "work")
    one_image_dataset(tmp_path / "mine")
    config = {
        "title": "user error in a job",
        "device": "cpu",
        "datasets": {
            "mine": {
                "type": "csv",
                "source": str(tmp_path / "mine"),
                "score_range": [1, 5],
                "stored_size": [40, 40],  # cnniqa crops 32 px patches
            }
        },
        "models": {"cnniqa": {"arch": "cnniqa", "input_size": 32}},
        "benchmark": {
            "models": ["cnniqa"],
            "losses": ["native"],
            "train_sets": ["mine"],
            "test_sets": ["mine"],
            "splits": 1,
        },
    }
    (work / "mine.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(work, "mine.yaml", "results/splits/mine/random.csv")
    assert result.returncode != 0
    log = (work / "results" / "logs" / "split" / "mine_random.log").read_text()
    assert "Traceback" not in log, log
    (message,) = [line for line in log.splitlines() if line.startswith("error: ")]
    assert "'mine'" in message and "benchmark.splits" in message
    assert message in result.stdout + result.stderr
