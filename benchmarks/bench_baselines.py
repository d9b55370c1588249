"""CPU throughput of every registered baseline at its paper input size (random initialisation: no
hub weights here), as a Markdown table for docs/benchmarks.md.

Per model and thread count: training images/s (forward + backward + Adam step, batch ``--batch``),
inference images/s (eval mode, no grad) and the parameter count, with the card's data protocol. Each
measurement is ``--steps`` timed steps after one warm-up step (short: orders of magnitude, not a
tight benchmark). Default options = the paper architecture with ``pretrained: null`` (and no SCNN /
MUSIQ pretraining file).

    python benchmarks/bench_baselines.py --threads 1 2 --batch 8 --steps 2
"""

from __future__ import annotations

import argparse
import time

import torch

from gmc.data.protocol import DataProtocol
from gmc.models import build_model, get_model_card, model_names

#: options making a model's default (paper) architecture build without weight files
RANDOM_INIT = {
    "dbcnn": {"pretrained": None, "scnn_weights": None},
    "musiq": {"pretrained": None},
}


def _options(name: str) -> dict:
    if name in RANDOM_INIT:
        return RANDOM_INIT[name]
    return {"pretrained": None} if "pretrained" in (get_model_card(name).options() or ()) else {}


def measure(name: str, threads: int, batch: int, steps: int) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    card = get_model_card(name)
    model = build_model(name, **_options(name))
    size = card.default_input_size
    x = torch.rand(batch, 3, size, size)
    y = torch.rand(batch)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    model.train()
    times = []
    for step in range(steps + 1):
        start = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        if step:
            times.append(time.perf_counter() - start)
    train = batch * len(times) / sum(times)
    model.eval()
    times = []
    with torch.no_grad():
        for step in range(steps + 1):
            start = time.perf_counter()
            model(x)
            if step:
                times.append(time.perf_counter() - start)
    infer = batch * len(times) / sum(times)
    params = sum(p.numel() for p in model.parameters())
    protocol = DataProtocol.from_dict(card.protocol).describe(size)
    return {"train": train, "infer": infer, "params": params, "size": size, "protocol": protocol}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--models", nargs="*", help="default: every baseline (all registered but monet)")
    args = ap.parse_args()
    names = args.models or [n for n in model_names() if n != "monet"]
    head = " | ".join(f"train img/s ({t} thr) | infer img/s ({t} thr)" for t in args.threads)
    print(f"| model | params (M) | input | {head} | protocol |")
    print("|---|---|---|" + "---|---|" * len(args.threads) + "---|")
    for name in names:
        rows = [measure(name, t, args.batch, args.steps) for t in args.threads]
        cells = " | ".join(f"{r['train']:.2f} | {r['infer']:.2f}" for r in rows)
        r = rows[0]
        print(f"| {name} | {r['params'] / 1e6:.2f} | {r['size']} | {cells} | {r['protocol']} |", flush=True)


if __name__ == "__main__":
    main()
