"""Fixtures for the training tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def torch_global_flags(monkeypatch):
    """Put torch's process-wide determinism and cudnn/TF32 flags (and CUBLAS_WORKSPACE_CONFIG) back after
    the test, so a test that turns determinism off does not change later tests."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = torch.backends.cudnn
    saved = (cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    yield
    torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
    cudnn.benchmark, cudnn.deterministic, cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
