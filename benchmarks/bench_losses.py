"""GCC loss cost versus MSE on CPU: forward + backward time and peak tensor memory per training step.

For each pool size n the GCC loss sees a batch of ``--batch`` predictions (a leaf tensor with gradients,
no model) and a full queue of n - batch earlier entries, in training mode, so every call also does the
FIFO queue update, exactly as in training. MSE sees the same batch (it has no pool).

Time: median over ``--repeats`` calls (fewer for the largest pools) after 2 warm-up calls, with
``torch.set_num_threads(--threads)``.

Memory: the peak of live tensor memory allocated during one forward + backward call, from the PyTorch
profiler's memory timeline (``torch.profiler.profile(profile_memory=True, record_shapes=True,
with_stack=True)`` and its ``_memory_profile().timeline``: CREATE adds, DESTROY subtracts; tensors that
existed before the call are not counted). tracemalloc is not used: it does not see tensor storage.

Usage: ``python benchmarks/bench_losses.py [--sizes 16 64 256 1024 4096] [--batch 16] [--threads 1]``
(the table goes to stdout; the profiler logs a few lines to stderr).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import time
import warnings

import torch
from torch.profiler import ProfilerActivity, profile

from gmc.losses import build_loss
from gmc.losses.gcc import GCCLoss


def make_gcc(n: int, batch: int, generator: torch.Generator) -> GCCLoss:
    loss = GCCLoss(queue_size=n - batch)
    q = torch.rand(n - batch, generator=generator)
    noisy = q + 0.1 * torch.randn(n - batch, generator=generator)
    loss.set_extra_state({"queue_pred": noisy, "queue_target": q})
    loss.train()
    return loss


def step(loss_fn: torch.nn.Module, p: torch.Tensor, y: torch.Tensor) -> None:
    p.grad = None
    loss_fn(p, y).backward()


def median_ms(loss_fn, p, y, repeats: int) -> float:
    for _ in range(2):
        step(loss_fn, p, y)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step(loss_fn, p, y)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def peak_mib(loss_fn, p, y) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with profile(
            activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True
        ) as prof:
            step(loss_fn, p, y)
        timeline = prof._memory_profile().timeline
    live = peak = 0
    for _, action, _, size in timeline:
        if action.name == "CREATE":
            live += size
        elif action.name == "DESTROY":
            live -= size
        peak = max(peak, live)
    return peak / 2**20


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256, 1024, 4096])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)

    print(f"date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, threads={args.threads}, "
          f"batch={args.batch}, float32, CPU")  # fmt: skip
    print()
    columns = ["pool n", "batch", "queue", "GCC fwd+bwd ms", "MSE fwd+bwd ms", "GCC / MSE", "GCC peak MiB"]
    print("| " + " | ".join([*columns, "MSE peak MiB"]) + " |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    mse = build_loss("mse")
    for n in args.sizes:
        if n < args.batch:
            raise SystemExit(f"pool size {n} is smaller than the batch {args.batch}")
        y = torch.rand(args.batch, generator=generator)
        p = (y + 0.1 * torch.randn(args.batch, generator=generator)).requires_grad_(True)
        gcc = make_gcc(n, args.batch, generator)
        repeats = args.repeats if n <= 1024 else max(5, args.repeats // 3)
        t_gcc = median_ms(gcc, p, y, repeats)
        t_mse = median_ms(mse, p, y, args.repeats)
        m_gcc, m_mse = peak_mib(gcc, p, y), peak_mib(mse, p, y)
        assert gcc.queue_len == n - args.batch
        print(f"| {n} | {args.batch} | {n - args.batch} | {t_gcc:.3f} | {t_mse:.3f} | {t_gcc / t_mse:.0f}x "
              f"| {m_gcc:.2f} | {m_mse:.4f} |")  # fmt: skip
    print()
    print(
        f"time: median of {args.repeats} calls ({max(5, args.repeats // 3)} for n > 1024) after 2 warm-ups; "
        "memory: peak live tensor bytes in one call, torch profiler memory timeline"
    )


if __name__ == "__main__":
    main()
