"""``python -m gmc pretrain-sorter``: the sorter checkpoint and its JSON record, at a tiny setting."""

from __future__ import annotations

import json

import pytest
import torch

from gmc.cli import main
from gmc.losses.sorter import load_sorter


@pytest.fixture(autouse=True)
def _restore_torch_flags():
    """The command sets the thread count and (through select_device) deterministic algorithms."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


TINY = ["--length", "8", "--vectors", "300", "--epochs", "1", "--batch-size", "64", "--heldout", "100"]


def test_pretrain_sorter_writes_the_checkpoint_and_its_record(tmp_path):
    out = tmp_path / "sorters" / "sorter8.pt"
    args = [*TINY, "--lr", "2e-3", "--lr-step", "5", "--lr-gamma", "0.5", "--seed", "3", "--threads", "1"]
    assert main(["pretrain-sorter", *args, "--out", str(out)]) == 0
    model, meta = load_sorter(out)
    record = json.loads((tmp_path / "sorters" / "sorter8.pt.json").read_text())
    assert model.length == 8 and record["length"] == 8 and meta["length"] == 8
    assert (record["vectors"], record["epochs"]) == (300, 1)  # read by the report's full-reference table
    assert record["settings"] == {
        "n_vectors": 300,
        "epochs": 1,
        "batch_size": 64,
        "lr": 2e-3,
        "lr_step": 5,
        "lr_gamma": 0.5,
        "n_heldout": 100,
        "seed": 3,
    }
    assert record["accuracy"] == meta["accuracy"] and 0 <= record["accuracy"] <= 2
    assert record["seconds"] >= record["train_seconds"] > 0 and len(record["train_l1"]) == 1
    assert record["checkpoint"] == out.as_posix() and record["device"] == "cpu" and record["threads"] == 1


def test_a_bad_setting_is_a_user_error(tmp_path, capsys):
    assert main(["pretrain-sorter", *TINY, "--length", "1", "--out", str(tmp_path / "s.pt")]) == 2
    assert "pretrain-sorter" in capsys.readouterr().err and not (tmp_path / "s.pt").exists()
