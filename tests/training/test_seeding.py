import logging
import os
import warnings

import torch

from gmc.training.seeding import record_nondeterministic_ops, select_device

# the text after the op name in torch's warn-only alert (torch/_prims_common/__init__.py)
TORCH_ALERT = (
    " does not have a deterministic implementation, but you set "
    "'torch.use_deterministic_algorithms(True, warn_only=True)'. You can file an issue at "
    "https://github.com/pytorch/pytorch/issues to help us prioritize adding deterministic support for "
    "this operation."
)


def test_deterministic_switches_deterministic_algorithms_on_cpu(torch_global_flags):
    assert select_device("cpu", deterministic=True) == torch.device("cpu")
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.is_deterministic_algorithms_warn_only_enabled()
    select_device("cpu", deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()


def test_deterministic_switches_deterministic_algorithms_on_cuda(torch_global_flags, monkeypatch):
    """The CUDA branch (flags only; no kernel runs, so no GPU is needed)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert select_device("cuda", deterministic=True) == torch.device("cuda")
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.is_deterministic_algorithms_warn_only_enabled()
    assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    select_device("cuda", deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic


def test_record_nondeterministic_ops_collects_names_and_shows_other_warnings(caplog):
    ops = {"earlier_op"}
    with warnings.catch_warnings(record=True) as shown, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        with record_nondeterministic_ops(ops):
            for _ in range(3):
                warnings.warn("median CUDA with indices output" + TORCH_ALERT, UserWarning, stacklevel=1)
            warnings.warn("earlier_op" + TORCH_ALERT, UserWarning, stacklevel=1)
            warnings.warn("something else", UserWarning, stacklevel=1)
    assert ops == {"earlier_op", "median CUDA with indices output"}
    assert [str(w.message) for w in shown] == ["something else"]
    logged = [r.getMessage() for r in caplog.records]
    assert logged == [
        "median CUDA with indices output has no deterministic implementation; "
        "results may not be bit-reproducible"
    ]


def test_record_nondeterministic_ops_catches_torch_alerts(torch_global_flags):
    """A real op: ``Tensor.put_`` has no deterministic implementation, and torch's C++ warning reaches
    Python in the format parsed here."""
    select_device("cpu", deterministic=True)
    ops: set[str] = set()
    with record_nondeterministic_ops(ops):
        torch.zeros(2).put_(torch.tensor([0]), torch.ones(1))
    assert ops == {"put_"}


def test_setting_determinism_does_not_import_inductor(torch_global_flags):
    """The flags are set without torch's own helper, which imports torch._inductor (1-2 s per job)."""
    import subprocess
    import sys

    code = (
        "import sys, torch\n"
        "from gmc.training.seeding import select_device\n"
        "select_device('cpu', deterministic=True)\n"
        "assert torch.are_deterministic_algorithms_enabled()\n"
        "assert torch.is_deterministic_algorithms_warn_only_enabled()\n"
        "print('inductor' if 'torch._inductor' in sys.modules else 'light')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "light"
