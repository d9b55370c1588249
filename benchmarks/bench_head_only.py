"""A head-only training epoch on cached features versus an end-to-end epoch of the same MoNet at the same
input size (issue #15: "at least 20x faster").

For a MoNet entry of a config, times ``gmc.training.engine.train_one_epoch`` (the harness's own step:
indexing, conversion, forward, loss, backward, optimizer step) on random in-memory data:

  end to end : the model as configured but with ``freeze_backbone: false``, on uint8 images at its input
               size (random flips off, as for the head-only run);
  head only  : ``freeze_backbone: true``, on float32 feature rows of the width its cached maps have
               (``sum_s C_s S^2``); with ``finetune_last_blocks`` N in the entry, the head and the
               backbone's last N blocks on rows that end with those blocks' input (partial fine-tuning);
  extraction : the one-time cost a head-only run adds per image: the frozen backbone's forward and the
               ``grid<S>`` (``grid<S>-tail<N>``) pooling (``gmc.features.extract.extract_features``).

Prints images/s (median over repeats) and the ratio, which is the ratio of epoch times at any dataset
size. Run it with nothing else on the machine:

    python benchmarks/bench_head_only.py --config config/cpu-real.yaml --model monet_head --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import yaml

from gmc.config import Benchmark
from gmc.data.loading import ImageSet
from gmc.losses import build_loss
from gmc.models import build_model
from gmc.training.engine import build_optimizer, train_one_epoch


def _epoch_rate(model, data, settings, loss_fn, repeats: int) -> float:
    """Median images/s of ``train_one_epoch`` over ``repeats`` epochs (after one warm-up epoch)."""
    optimizer = build_optimizer(model, settings)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    generator = torch.Generator().manual_seed(0)
    rates = []
    for epoch in range(repeats + 1):
        start = time.perf_counter()
        stats = train_one_epoch(
            model, loss_fn, optimizer, data, data.mos, settings, generator, torch.device("cpu"), scaler, epoch
        )
        if epoch:  # the first epoch warms up the allocator and the kernels
            rates.append(stats["train_images"] / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="config/cpu-real.yaml")
    ap.add_argument("--model", default="monet_head", help="a MoNet entry (freeze_backbone true or false)")
    ap.add_argument("--loss", default="mse")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--images", type=int, default=64, help="images per timed epoch (end to end)")
    ap.add_argument("--head-images", type=int, default=1024, help="images per timed epoch (head only)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with open(args.config) as fh:
        bench = Benchmark.from_dict(yaml.safe_load(fh))
    entry = bench.raw["models"][args.model]
    cached_options = {**entry.get("options", {}), "freeze_backbone": True}
    options = {k: v for k, v in cached_options.items() if k != "finetune_last_blocks"}
    options["freeze_backbone"] = False
    tail = cached_options.get("finetune_last_blocks") or 0
    size = bench.input_size(args.model)
    settings = bench.train_settings(args.model)
    loss_fn = build_loss(
        bench.loss_type(args.loss), n_train=args.head_images, **bench.loss_options(args.loss)
    )
    g = torch.Generator().manual_seed(0)

    torch.manual_seed(0)
    full = build_model(entry["arch"], **options)
    images = torch.randint(0, 256, (args.images, 3, size, size), dtype=torch.uint8, generator=g)
    data = ImageSet(images=images, mos=torch.rand(args.images, generator=g), names=[""] * args.images)
    e2e = _epoch_rate(full, data, settings, loss_fn, args.repeats)

    torch.manual_seed(0)
    head = build_model(entry["arch"], **cached_options)
    n = args.head_images
    feats = torch.randn(n, head.backbone.dim, generator=g)
    data = ImageSet(images=feats, mos=torch.rand(n, generator=g), names=[""] * n)
    head_rate = _epoch_rate(head, data, settings, loss_fn, args.repeats)

    from gmc.features import grid_pooling
    from gmc.features.extract import extract_features

    spec = bench.feature_spec(args.model) if entry["options"].get("freeze_backbone") else None
    pooling = spec.pooling if spec else grid_pooling(options["feature_size"], tail)
    sample = np.asarray(images[: min(32, args.images)])
    start = time.perf_counter()
    extract_features(sample, options["backbone"], size, pooling, pretrained=options.get("pretrained"))
    extract_rate = len(sample) / (time.perf_counter() - start)

    print(f"model {args.model}: MoNet on {options['backbone']} at {size} px, S = {options['feature_size']}, "
          f"batch {settings.batch_size}, {args.threads} thread(s), loss {args.loss}")  # fmt: skip
    print(f"end to end : {e2e:8.1f} images/s")
    what = f"last {tail} blocks + head" if tail else "head only"
    print(f"{what:<11}: {head_rate:8.1f} images/s  ({head_rate / e2e:.1f}x the end-to-end epoch)")
    print(
        f"extraction : {extract_rate:8.1f} images/s  (once per dataset: {pooling} features, frozen backbone)"
    )


if __name__ == "__main__":
    main()
