"""Training-step speed under the three allocators the workflow can use (gmc/allocator.py): glibc as it
is, glibc with raised mmap/trim thresholds (GLIBC_TUNABLES), and jemalloc preloaded with page purging
off (MALLOC_CONF). Each case runs ``benchmarks/bench_train_step.py`` in a fresh process with that
environment and prints its table row, prefixed with the allocator.

    python benchmarks/bench_allocators.py -- --model monet_small --threads 1
    python benchmarks/bench_allocators.py -- --model monet_small --input-size 224 --feature-size 7 \\
        --steps 5 --repeats 3
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gmc.allocator import GLIBC_TUNABLES, JEMALLOC_CONF, find_jemalloc

STEP = Path(__file__).resolve().parent / "bench_train_step.py"


def environments() -> dict[str, dict[str, str]]:
    """allocator name -> environment, starting from this one without any allocator setting."""
    base = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "LD_PRELOAD", "MALLOC_CONF")}
    envs = {"glibc": base, "glibc-tunables": {**base, "GLIBC_TUNABLES": GLIBC_TUNABLES}}
    jemalloc = find_jemalloc()
    if jemalloc:
        envs["jemalloc"] = {**base, "LD_PRELOAD": jemalloc, "MALLOC_CONF": JEMALLOC_CONF}
    else:
        print("libjemalloc.so.2 not found (apt-get install libjemalloc2): jemalloc skipped", file=sys.stderr)
    return envs


def main() -> None:
    args = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    print("| allocator | model | loss | input | batch | threads | pure img/s | harness img/s | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, env in environments().items():
        out = subprocess.run(
            [sys.executable, str(STEP), *args], env=env, capture_output=True, text=True, check=True
        ).stdout
        row = [line for line in out.splitlines() if line.startswith("|")][-1]
        print(f"| {name} {row}", flush=True)


if __name__ == "__main__":
    main()
