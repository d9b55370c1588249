"""The memory allocator of the workflow's jobs (a shell prefix), chosen for CPU training speed.

glibc's allocator returns large freed blocks (a training step's activations) to the OS and maps them
again on the next step; on CPU that page-fault churn costs time at every step. Two remedies, measured in
docs/benchmarks.md ("Allocator") on the demo and on 96 and 224 px MoNet training steps:

* ``glibc-tunables`` (the default): glibc with raised mmap and trim thresholds (``GLIBC_TUNABLES``), so
  large blocks come from the heap and stay there. Fastest on the demo (8 min 55 s against 9 min 26 s
  with jemalloc and 9 min 41 s with glibc as it is), as fast as jemalloc on 224 px steps; needs nothing.
* ``jemalloc``: Debian's ``libjemalloc2`` preloaded with ``MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1``
  (freed pages are kept for reuse, never purged); for machines where it measures faster.

``GMC_ALLOCATOR`` selects one: ``glibc-tunables`` (default), ``jemalloc`` or ``glibc`` (the system
default, no change). A value the user already set wins: an ``LD_PRELOAD``/``MALLOC_CONF`` keeps jemalloc
out, a ``GLIBC_TUNABLES`` is kept as it is. The allocator changes speed and memory use only, never a
number: the demo's scores.csv was byte-identical under all three (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

JEMALLOC_SONAME = "libjemalloc.so.2"
JEMALLOC_CONF = "dirty_decay_ms:-1,muzzy_decay_ms:-1"
GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296"
CHOICES = ("glibc-tunables", "jemalloc", "glibc")
DEFAULT = "glibc-tunables"
_LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64")


def find_jemalloc() -> str | None:
    """Path of ``libjemalloc.so.2`` (from ``ldconfig -p``, else the usual library folders), or None."""
    try:
        listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        listing = ""
    for line in listing.splitlines():
        if JEMALLOC_SONAME in line and "=>" in line:
            path = line.split("=>", 1)[1].strip()
            if Path(path).is_file():
                return path
    for folder in _LIB_DIRS:
        if (Path(folder) / JEMALLOC_SONAME).is_file():
            return str(Path(folder) / JEMALLOC_SONAME)
    return None


def _jemalloc_prefix(path: str) -> str:
    # checked again when the job starts: a cluster node may lack the library the submit host has
    return (
        f'if [ -z "${{LD_PRELOAD:-}}" ] && [ -z "${{MALLOC_CONF:-}}" ] && [ -r {path} ]; then '
        f'export LD_PRELOAD={path} MALLOC_CONF="{JEMALLOC_CONF}"; fi; '
    )


def _tunables_prefix() -> str:
    return f'export GLIBC_TUNABLES="${{GLIBC_TUNABLES:-{GLIBC_TUNABLES}}}"; '


def shell_prefix(choice: str | None = None) -> str:
    """The shell prefix that sets up the allocator ``choice`` (default: ``$GMC_ALLOCATOR`` or
    :data:`DEFAULT`)."""
    choice = choice or os.environ.get("GMC_ALLOCATOR") or DEFAULT
    if choice not in CHOICES:
        raise ValueError(f"GMC_ALLOCATOR={choice!r} is not one of {', '.join(CHOICES)}")
    if choice == "glibc":
        return ""
    if choice == "glibc-tunables":
        return _tunables_prefix()
    path = find_jemalloc()
    if path is None:
        raise ValueError(
            "GMC_ALLOCATOR=jemalloc but libjemalloc.so.2 is not installed "
            "(Debian/Ubuntu: apt-get install libjemalloc2); unset GMC_ALLOCATOR for the default"
        )
    return _jemalloc_prefix(path)
