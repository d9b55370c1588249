"""What the machine offers, asked without importing torch (the workflow asks at parse time).

``uses_gpu(device)`` says whether jobs with the config's ``device`` setting will run on a GPU, so that
they claim the ``gpu`` resource (one job per GPU at a time). ``device: auto`` uses CUDA when torch sees
a device, which needs a driver and a visible device: approximated here by the NVIDIA driver's device
list (``/proc/driver/nvidia/gpus/*``, or ``/dev/nvidia0``) or ROCm's ``/dev/kfd``, unless
``CUDA_VISIBLE_DEVICES`` hides every device. The training engine decides with torch itself; when the two
disagree the job runs all the same, only the resource claim differs.
"""

from __future__ import annotations

import os
from pathlib import Path

_HIDDEN = ("", "-1", "none", "NoDevFiles")
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")  # one folder per GPU the driver knows
NVIDIA_DEVICE = Path("/dev/nvidia0")
ROCM_DEVICE = Path("/dev/kfd")


def cuda_device_visible() -> bool:
    """Whether a GPU usable by torch's ``cuda`` device is visible to this process."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in _HIDDEN:
        return False
    if (NVIDIA_GPUS.is_dir() and any(NVIDIA_GPUS.iterdir())) or NVIDIA_DEVICE.exists():
        return True
    return ROCM_DEVICE.exists()


def uses_gpu(device: str) -> bool:
    """Whether a job run with ``device`` (auto, cpu, cuda) will use a GPU on this machine."""
    if device == "auto":
        return cuda_device_visible()
    return device == "cuda"
