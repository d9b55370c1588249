"""Full MoNet (timm vit_base_patch8_224, M = 3, 224 x 224) forward + backward on CPU (or CUDA).

Random initialisation (the timing does not depend on the weights). Reports the median step time of
``--repeats`` forward + backward passes after one warm-up, and the peak memory: the process's peak
resident set size (``resource.getrusage``) on CPU, ``torch.cuda.max_memory_allocated`` on CUDA.

    python benchmarks/bench_monet_full.py --batch 11 --threads 2 --repeats 2
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

from gmc.models import build_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=11)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", action="store_true", help="float16 autocast (CUDA only)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model("monet").to(device).train()
    n_params = sum(p.numel() for p in model.parameters())
    x = torch.rand(args.batch, 3, 224, 224, device=device)

    def step() -> float:
        model.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.float16, enabled=args.amp and device.type == "cuda"):
            out = model(x)
        out.float().sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    step()
    times = [step() for _ in range(args.repeats)]
    if device.type == "cuda":
        peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB (cuda max_memory_allocated)"
    else:
        peak = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (peak RSS)"
    precision = "fp16" if args.amp and device.type == "cuda" else "fp32"
    cells = [f"{n_params / 1e6:.1f} M", device.type, args.threads, args.batch, precision]
    print(
        "| MoNet ViT-B/8 | " + " | ".join(map(str, cells)) + f" | {statistics.median(times):.2f} s | {peak} |"
    )


if __name__ == "__main__":
    main()
