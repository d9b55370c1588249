"""Provenance records what a result depends on: code version, packages, platform and CPU model."""

import json
import re
from pathlib import Path

from gmc.provenance import PACKAGES, cpu_model, provenance

REPO = Path(__file__).resolve().parents[1]


def test_provenance_names_code_packages_platform_and_cpu():
    record = provenance(REPO)
    assert set(record) == {"git_sha", "git_dirty", "python", "platform", "cpu", "packages"}
    assert set(record["packages"]) == set(PACKAGES)
    assert record["cpu"] == cpu_model() and record["cpu"].strip()
    if (REPO / ".git").exists():
        assert re.fullmatch(r"[0-9a-f]{40}", record["git_sha"])
        assert isinstance(record["git_dirty"], bool)


def test_outside_a_git_checkout_the_code_version_is_unknown(tmp_path):
    record = provenance(tmp_path)
    assert record["git_sha"] == "unknown" and record["git_dirty"] is None


def _run_json(path: Path, summary_extra: dict, prov_extra: dict) -> Path:
    run = {
        "run_config": {
            "model": "m",
            "arch": "a",
            "loss": "gcc",
            "loss_role": "gcc",
            "train_set": "t",
            "split": 0,
            "seed": 1,
        },
        "summary": {
            "config_hash": "h",
            "selection": "val",
            "best_epoch": 0,
            "epochs": 1,
            "n_train": 2,
            "n_val": 1,
            "device": "cpu",
            **summary_extra,
        },
        "threads": 1,
        "provenance": {"git_sha": "s", "git_dirty": False, "packages": {"torch": "x"}, **prov_extra},
    }
    path.mkdir(parents=True)
    (path / "run.json").write_text(json.dumps(run))
    return path / "run.json"


def test_run_table_carries_device_name_and_cpu_and_marks_older_runs(tmp_path):
    from gmc.results import collect_runs

    new = _run_json(tmp_path / "new", {"device_name": "cpu"}, {"cpu": "Some CPU"})
    old = _run_json(tmp_path / "old", {}, {})
    rows = collect_runs([new, old]).set_index("run_dir")
    assert rows.loc[new.parent.as_posix(), ["device_name", "cpu"]].tolist() == ["cpu", "Some CPU"]
    assert rows.loc[old.parent.as_posix(), ["device_name", "cpu"]].tolist() == ["not recorded"] * 2


def test_run_table_records_precision_amp_only_on_cuda(tmp_path):
    from gmc.results import collect_runs

    cuda_amp = _run_json(tmp_path / "a", {"device": "cuda"}, {})
    cpu_amp = _run_json(tmp_path / "b", {}, {})
    for path in (cuda_amp, cpu_amp):  # both configured with AMP on
        run = json.loads(path.read_text())
        run["run_config"]["train"] = {"amp": True}
        path.write_text(json.dumps(run))
    fp32 = _run_json(tmp_path / "c", {"device": "cuda"}, {})
    rows = collect_runs([cuda_amp, cpu_amp, fp32]).set_index("run_dir")["precision"]
    assert rows.to_dict() == {
        cuda_amp.parent.as_posix(): "amp-float16",  # autocast runs on CUDA only
        cpu_amp.parent.as_posix(): "float32",
        fp32.parent.as_posix(): "float32",
    }
