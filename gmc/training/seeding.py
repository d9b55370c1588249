"""One function seeds every generator; device selection with the CUDA flags in one place."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) from ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (seeds code that uses the global NumPy RNG)
    torch.manual_seed(seed)


def select_device(preference: str = "auto", *, deterministic: bool = True) -> torch.device:
    """``auto``: CUDA when available, else CPU. On CUDA, ``deterministic`` turns cudnn.benchmark off
    and cudnn.deterministic on; otherwise benchmark mode is on (faster, not bit-reproducible).
    On CPU, deterministic algorithms are always requested."""
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but CUDA is not available; set device: auto or cpu")
    use_cuda = preference == "cuda" or (preference == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cudnn.deterministic = deterministic
        torch.backends.cuda.matmul.allow_tf32 = not deterministic
        torch.backends.cudnn.allow_tf32 = not deterministic
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        return torch.device("cuda")
    torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.device("cpu")
