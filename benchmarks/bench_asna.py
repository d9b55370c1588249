"""ASNA training throughput on CPU: (reference, distorted) pairs per second for one optimisation step.

For each input size, one step is: ``loss = asna_surrogate(model(ref, dist), y)`` (w_mse 1.0, w_sp 0.01,
a frozen sorter of length ``--batch``; its weights do not matter for the cost, so a randomly initialised
one is used and no pre-training is timed), ``loss.backward()``, Adam step, on random float tensors already
in memory (no data loading), model in training mode. Reported: images/s = batch / median step time over
``--repeats`` timings of ``--steps`` steps each, after one warm-up timing; an "image" is one
(reference, distorted) pair. The step's share spent in the loss is shown too (the loss alone,
forward + backward, on the same batch of predictions).

    python benchmarks/bench_asna.py [--sizes 64 288] [--batch 16] [--threads 1] [--steps 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import time

import torch

from gmc.losses.asna_surrogate import ASNASurrogateLoss
from gmc.losses.sorter import Sorter
from gmc.models.asna import ASNA, count_parameters


def seconds_per_step(step, steps: int, repeats: int) -> float:
    step()  # warm-up
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        timings.append((time.perf_counter() - start) / steps)
    return statistics.median(timings)


def measure(size: int, batch: int, loss_fn, steps: int, repeats: int) -> tuple[float, float, int]:
    """Seconds per training step and per loss-only step at ``size``, and the model's parameter count."""
    model = ASNA(size).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    ref, dist = torch.rand(batch, 3, size, size), torch.rand(batch, 3, size, size)
    y = torch.randn(batch)

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(ref, dist), y).backward()
        optimizer.step()

    def loss_step() -> None:
        p = y.clone().requires_grad_(True)
        loss_fn(p, y + 0.1).backward()

    return (
        seconds_per_step(train_step, steps, repeats),
        seconds_per_step(loss_step, steps, repeats),
        count_parameters(model),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 288])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch threads; 0 = torch's default")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    loss_fn = ASNASurrogateLoss(w_mse=1.0, w_sp=0.01, sorter=Sorter(args.batch)).train()

    print(f"date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"threads={torch.get_num_threads()}, batch={args.batch}, float32, CPU")  # fmt: skip
    print()
    print("| input px | parameters | step ms | images/s | loss share |")
    print("|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        step, loss, n_params = measure(size, args.batch, loss_fn, args.steps, args.repeats)
        print(f"| {size} | {n_params:,} | {1e3 * step:.1f} | {args.batch / step:.1f} | {loss / step:.1%} |")
    print()
    print(f"median of {args.repeats} timings of {args.steps} steps after one warm-up step")


if __name__ == "__main__":
    main()
