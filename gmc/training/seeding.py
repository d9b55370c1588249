"""One function seeds every generator; device selection with the determinism flags in one place; the
ops that torch cannot run deterministically are recorded while training."""

from __future__ import annotations

import logging
import os
import random
import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

log = logging.getLogger(__name__)

# torch's warn-only alert (torch/_prims_common alert_not_deterministic and ATen's alertNotDeterministic):
# "<caller> does not have a deterministic implementation, but you set 'torch.use_deterministic_...".
# The caller may contain spaces ("median CUDA with indices output").
NONDETERMINISTIC_WARNING = re.compile(r"(?P<op>.+?) does not have a deterministic implementation")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) from ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (seeds code that uses the global NumPy RNG)
    torch.manual_seed(seed)


def select_device(preference: str = "auto", *, deterministic: bool = True) -> torch.device:
    """``auto``: CUDA when available, else CPU.

    ``deterministic`` requests deterministic algorithms on every device in warn-only mode: an op without
    a deterministic implementation still runs, and torch warns (see ``record_nondeterministic_ops``).
    On CUDA it also turns cudnn.benchmark and TF32 off, cudnn.deterministic on, and sets
    ``CUBLAS_WORKSPACE_CONFIG`` (unless already set) before the first cuBLAS call. ``deterministic=False``
    turns deterministic algorithms off and, on CUDA, benchmark mode and TF32 on (faster, not
    bit-reproducible)."""
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
    set_deterministic_algorithms(deterministic)
    return torch.device("cuda" if use_cuda else "cpu")


def set_deterministic_algorithms(mode: bool) -> None:
    """``torch.use_deterministic_algorithms(mode, warn_only=True)`` without its import of torch._inductor.

    torch's function imports ``torch._inductor.config`` only to set inductor's own ``deterministic``
    flag; that import (inductor, dynamo, sympy) costs 1.2-1.7 s after a bare ``import torch`` on the
    project's CPU machine (docs/benchmarks.md), in every training and prediction job. The harness never
    compiles with inductor, so the ATen flag is set directly; inductor's flag is set too when inductor is
    already loaded.
    """
    inductor_config = sys.modules.get("torch._inductor.config")
    if inductor_config is not None:
        inductor_config.deterministic = mode
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:  # another torch version: the public function
        torch.use_deterministic_algorithms(mode, warn_only=True)
    else:
        setter(mode, warn_only=True)


@contextmanager
def record_nondeterministic_ops(ops: set[str]) -> Iterator[set[str]]:
    """Inside the block, torch's warn-only determinism warnings are not shown: the op each one names is
    added to ``ops`` and logged once, when it first enters ``ops``. Every other warning is shown as
    before. The warning filters and ``warnings.showwarning`` are restored on exit."""
    with warnings.catch_warnings():
        # "always": the default filter would show a message only once per code location and process
        warnings.filterwarnings("always", message=NONDETERMINISTIC_WARNING.pattern)
        show = warnings.showwarning

        def intercept(message, category, filename, lineno, file=None, line=None):
            match = NONDETERMINISTIC_WARNING.match(str(message))
            if match is None:
                show(message, category, filename, lineno, file, line)
            elif match["op"] not in ops:
                ops.add(match["op"])
                log.warning(
                    "%s has no deterministic implementation; results may not be bit-reproducible", match["op"]
                )

        warnings.showwarning = intercept
        yield ops
