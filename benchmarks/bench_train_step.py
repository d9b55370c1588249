"""Harness overhead of a training step versus the pure model forward + backward.

For a model of a config (default: the demo's monet_small), measures on random in-memory data:
  pure    : loss(model(x), y).backward() on a float tensor already in memory (no optimizer step);
  harness : gmc.training.engine.train_one_epoch per step (indexing the uint8 cache, conversion,
            random flip, forward, loss, backward, optimizer step, bookkeeping).
Prints images/s for both and the ratio harness/pure (the overhead). Median over repeats.

    python benchmarks/bench_train_step.py --config config/config.yaml --model monet_small --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import yaml

from gmc.config import Benchmark, TrainSettings
from gmc.data.loading import ImageSet
from gmc.losses import build_loss
from gmc.models import build_model
from gmc.training.engine import build_optimizer, train_one_epoch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="config/config.yaml")
    ap.add_argument("--model", default="monet_small")
    ap.add_argument("--loss", default="gcc")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--input-size", type=int, help="override the model's input size (MoNet: also its option)")
    ap.add_argument("--feature-size", type=int, help="override MoNet's feature_size S")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with open(args.config) as fh:
        bench = Benchmark.from_dict(yaml.safe_load(fh))
    settings: TrainSettings = bench.train_settings(args.model)
    size, bs = args.input_size or bench.input_size(args.model), settings.batch_size
    entry = bench.raw["models"][args.model]
    options = dict(entry.get("options", {}))
    if args.input_size and "input_size" in options:
        options["input_size"] = args.input_size
    if args.feature_size:
        options["feature_size"] = args.feature_size
    torch.manual_seed(0)
    model = build_model(entry["arch"], **options)
    n = bs * args.steps
    data = ImageSet(
        images=torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8),
        mos=torch.rand(n),
        names=[str(i) for i in range(n)],
    )
    loss_fn = build_loss(bench.loss_type(args.loss), n_train=n, **bench.loss_options(args.loss))
    optimizer = build_optimizer(model, settings)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    device = torch.device("cpu")
    x = torch.rand(bs, 3, size, size)
    y = torch.rand(bs)

    def pure() -> float:
        model.train()
        loss_fn.train()
        start = time.perf_counter()
        for _ in range(args.steps):
            model.zero_grad(set_to_none=True)
            loss_fn(model(x).reshape(-1), y).backward()
        return (time.perf_counter() - start) / args.steps

    def harness() -> float:
        gen = torch.Generator().manual_seed(0)
        rec = train_one_epoch(model, loss_fn, optimizer, data, data.mos, settings, gen, device, scaler, 0)
        return rec["train_seconds"] / args.steps

    pure(), harness()  # warm-up
    p = statistics.median(pure() for _ in range(args.repeats))
    h = statistics.median(harness() for _ in range(args.repeats))
    print(
        f"| {args.model} | {args.loss} | {size} | {bs} | {args.threads} | {bs / p:.1f} | {bs / h:.1f} | "
        f"{h / p:.3f} |"
    )


if __name__ == "__main__":
    main()
