"""Jobs that will run on a GPU claim the `gpu` resource, also under `device: auto` (found without torch)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from gmc import hardware
from tests.conftest import REPO, copy_workflow


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A fake /proc and /dev: ``machine(gpus=n)`` makes the NVIDIA driver list n GPUs."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(hardware, "NVIDIA_DEVICE", tmp_path / "dev" / "nvidia0")
    monkeypatch.setattr(hardware, "ROCM_DEVICE", tmp_path / "dev" / "kfd")
    monkeypatch.setattr(hardware, "NVIDIA_GPUS", tmp_path / "proc" / "gpus")

    def make(gpus: int) -> None:
        for i in range(gpus):
            (tmp_path / "proc" / "gpus" / f"0000:0{i}:00.0").mkdir(parents=True)

    return make


def test_auto_uses_the_gpu_only_when_the_driver_lists_one(machine, monkeypatch):
    machine(gpus=0)
    assert not hardware.uses_gpu("auto")
    machine(gpus=1)
    assert hardware.uses_gpu("auto")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # every device hidden from this process
    assert not hardware.uses_gpu("auto")


def test_explicit_devices(machine):
    machine(gpus=0)
    assert hardware.uses_gpu("cuda") and not hardware.uses_gpu("cpu")
    machine(gpus=2)
    assert not hardware.uses_gpu("cpu")


def test_model_jobs_claim_the_gpu_resource_on_a_gpu_config(tmp_path):
    work = copy_workflow(tmp_path / "work")
    raw = yaml.safe_load((REPO / "config" / "ci.yaml").read_text())
    raw["device"] = "cuda"
    (work / "gpu.yaml").write_text(yaml.safe_dump(raw))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", "gpu.yaml"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = re.findall(r"rule (\w+):.*?resources: ([^\n]*)", result.stdout, re.DOTALL)
    claims = {rule: "gpu=1" in res for rule, res in jobs}
    assert claims["train"] and claims["predict"] and not claims["manifest"]
