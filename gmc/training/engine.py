"""The training engine: ``train_one_epoch``, ``predict``, ``evaluate`` and ``fit``.

``fit`` trains one run (model x loss x training set x split), checkpointing every epoch atomically
(``last.pt``) and resuming from it when rerun after an interruption. Model selection reads the
validation part only (``selection: val``, best validation SROCC); the GMC-IQA authors' protocol
(``selection: best_on_test``, best test SROCC + PLCC) exists only as that explicitly named option.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gmc.config import TrainSettings, config_hash
from gmc.data.loading import ImageSet
from gmc.io import write_json, write_text
from gmc.losses import build_loss
from gmc.metrics import compute_metrics
from gmc.models import build_model
from gmc.training.checkpoint import BEST_KEYS, LAST_KEYS, load_checkpoint, save_checkpoint
from gmc.training.seeding import seed_everything, select_device

log = logging.getLogger(__name__)

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": lambda params, lr, weight_decay: torch.optim.SGD(
        params, lr=lr, momentum=0.9, weight_decay=weight_decay
    ),
}


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or inf; the message gives the epoch and step."""


def build_optimizer(model: nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    """All parameters, one group (GMC-IQA fine-tunes end to end)."""
    return OPTIMIZERS[settings.optimizer](
        model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
    )


def build_scheduler(optimizer: torch.optim.Optimizer, settings: TrainSettings):
    """Cosine annealing stepped once per epoch (T_max = t_max or epochs), or a constant rate."""
    if settings.scheduler == "cosine":
        t_max = settings.t_max or settings.epochs
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t_max, eta_min=settings.eta_min)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def _forward(model: nn.Module, x: torch.Tensor, ref: torch.Tensor | None) -> torch.Tensor:
    out = model(x) if ref is None else model(ref, x)
    return out.reshape(-1)


def _to_input(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> float in [0, 1] on ``device``."""
    return images.to(device, non_blocking=True).float().div_(255.0)


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return nullcontext()


def train_one_epoch(
    model: nn.Module,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: ImageSet,
    targets: torch.Tensor,
    settings: TrainSettings,
    generator: torch.Generator,
    device: torch.device,
    scaler: torch.amp.GradScaler,
    epoch: int,
) -> dict:
    """One pass over ``data`` in a seeded random order (the last batch is dropped when smaller than
    the batch size, so batch statistics never see a batch of one). Returns loss and throughput."""
    model.train()
    loss_fn.train()
    n = len(data)
    order = torch.randperm(n, generator=generator)
    n_batches = max(1, n // settings.batch_size)
    total, seen, start = 0.0, 0, time.perf_counter()
    for step in range(n_batches):
        idx = order[step * settings.batch_size : (step + 1) * settings.batch_size]
        x = _to_input(data.images[idx], device)
        ref = None if data.references is None else _to_input(data.references[idx], device)
        if settings.hflip:
            flip = (torch.rand(len(idx), generator=generator) < 0.5).to(device)[:, None, None, None]
            x = torch.where(flip, x.flip(-1), x)
            ref = None if ref is None else torch.where(flip, ref.flip(-1), ref)
        y = targets[idx].to(device)
        with _autocast(device, settings.amp):
            pred = _forward(model, x, ref)
        loss = loss_fn(pred.float(), y)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"non-finite training loss ({loss.item()}) at epoch {epoch}, step {step}"
            )
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        total += loss.item() * len(idx)
        seen += len(idx)
    seconds = time.perf_counter() - start
    return {
        "train_loss": total / seen,
        "train_images": seen,
        "train_seconds": seconds,
        "images_per_s": seen / seconds if seconds > 0 else math.inf,
    }


@torch.no_grad()
def predict(
    model: nn.Module, data: ImageSet, device: torch.device, batch_size: int, amp: bool = True
) -> np.ndarray:
    """Scores for every image of ``data``, in order (eval mode, no augmentation)."""
    model.eval()
    out = []
    for start in range(0, len(data), batch_size):
        sl = slice(start, start + batch_size)
        x = _to_input(data.images[sl], device)
        ref = None if data.references is None else _to_input(data.references[sl], device)
        with _autocast(device, amp):
            out.append(_forward(model, x, ref).float().cpu())
    return torch.cat(out).numpy().astype(np.float64)


def evaluate(
    model: nn.Module, data: ImageSet, device: torch.device, batch_size: int, amp: bool = True
) -> dict:
    return compute_metrics(predict(model, data, device, batch_size, amp), data.mos.numpy())


def training_targets(train: ImageSet, scaling: str) -> torch.Tensor:
    """``dataset_range``: the manifest's normalised MOS. ``split_minmax`` (the authors' choice): min-max
    scaled over this split's training part."""
    if scaling == "split_minmax":
        lo, hi = train.mos.min(), train.mos.max()
        return (train.mos - lo) / (hi - lo).clamp_min(1e-12)
    return train.mos


def _selection_score(metrics: dict, selection: str) -> float:
    score = metrics["SROCC"] if selection == "val" else metrics["SROCC"] + metrics["PLCC"]
    return -math.inf if math.isnan(score) else score


def fit(
    run_config: dict,
    train: ImageSet,
    val: ImageSet,
    run_dir: str | Path,
    *,
    test: ImageSet | None = None,
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> dict:
    """Train one run; write ``run_dir/model.pt`` (the selected epoch), ``log.jsonl`` and
    ``summary.json``; return the summary. While it runs, ``run_dir/checkpoints/`` holds ``last.pt``
    (resume state, every epoch) and ``best.pt`` (selected so far); both are gone at the end.

    Rerunning with the same ``run_config`` resumes after the last completed epoch (model, optimizer,
    scheduler, loss queue and every random generator restored), so an interrupted run finishes with
    the same result as an uninterrupted one. A different config starts afresh.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = TrainSettings.from_dict(run_config["train"])
    if settings.selection == "best_on_test" and test is None:
        raise ValueError("selection 'best_on_test' needs the test part; pass test=...")
    chash = config_hash(run_config)
    device = select_device(run_config.get("device", "auto"), deterministic=settings.deterministic)
    seed_everything(run_config["seed"])
    model = build_model(run_config["arch"], **run_config["model_options"]).to(device)
    loss_fn = build_loss(run_config["loss_type"], n_train=len(train), **run_config["loss_options"]).to(device)
    optimizer = build_optimizer(model, settings)
    scheduler = build_scheduler(optimizer, settings)
    scaler = torch.amp.GradScaler("cuda", enabled=settings.amp and device.type == "cuda")
    generator = torch.Generator().manual_seed(run_config["seed"])
    targets = training_targets(train, settings.label_scaling)
    history: list[dict] = []
    best = {"epoch": None, "score": -math.inf}
    last_path, best_path = run_dir / "checkpoints" / "last.pt", run_dir / "checkpoints" / "best.pt"

    if last_path.exists():
        state = load_checkpoint(last_path, map_location=device)
        if state["config_hash"] == chash:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            loss_fn.load_state_dict(state["loss"])
            torch.set_rng_state(state["rng"]["torch"])
            generator.set_state(state["rng"]["data"])
            if device.type == "cuda" and state["rng"].get("cuda") is not None:
                torch.cuda.set_rng_state(state["rng"]["cuda"])
            history, best = state["history"], state["best"]
            log.info("resuming %s after epoch %d", run_dir, state["epoch"])
        else:
            log.warning("%s belongs to another configuration; starting afresh", last_path)

    for epoch in range(len(history), settings.epochs):
        try:
            record = train_one_epoch(
                model, loss_fn, optimizer, train, targets, settings, generator, device, scaler, epoch
            )
        except NonFiniteLossError as err:
            raise NonFiniteLossError(
                f"{err} in {run_dir}; the last good state is {last_path} "
                f"(epoch {len(history) - 1}); lower the learning rate or check the labels"
            ) from None
        record = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], **record}
        scheduler.step()
        val_metrics = evaluate(model, val, device, settings.eval_batch_size, settings.amp)
        record.update({f"val_{k}": v for k, v in val_metrics.items()})
        selected_on = val_metrics
        if settings.selection == "best_on_test":
            test_metrics = evaluate(model, test, device, settings.eval_batch_size, settings.amp)
            record.update({f"test_{k}": v for k, v in test_metrics.items()})
            selected_on = test_metrics
        score = _selection_score(selected_on, settings.selection)
        if best["epoch"] is None or score > best["score"]:
            best = {"epoch": epoch, "score": score}
            save_checkpoint(
                best_path,
                {
                    "run_config": run_config,
                    "config_hash": chash,
                    "epoch": epoch,
                    "selection": {"protocol": settings.selection, "score": score, "metrics": selected_on},
                    "model": model.state_dict(),
                },
                BEST_KEYS - {"format"},
            )
        record["selected"] = best["epoch"] == epoch
        history.append(record)
        save_checkpoint(
            last_path,
            {
                "run_config": run_config,
                "config_hash": chash,
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "loss": loss_fn.state_dict(),
                "rng": {
                    "torch": torch.get_rng_state(),
                    "data": generator.get_state(),
                    "cuda": torch.cuda.get_rng_state() if device.type == "cuda" else None,
                },
                "history": history,
                "best": best,
            },
            LAST_KEYS - {"format"},
        )
        write_text(run_dir / "log.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in history))
        log.info("epoch %d: %s", epoch, {k: round(v, 4) for k, v in record.items() if isinstance(v, float)})
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)

    # the selected model becomes the run's output; the resume state is no longer needed
    os.replace(best_path, run_dir / "model.pt")
    last_path.unlink(missing_ok=True)
    summary = {
        "config_hash": chash,
        "best_epoch": best["epoch"],
        "selection": settings.selection,
        "epochs": settings.epochs,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "n_train": len(train),
        "n_val": len(val),
    }
    write_json(run_dir / "summary.json", summary)
    return summary


def load_trained_model(checkpoint: str | Path, device: torch.device) -> tuple[nn.Module, dict]:
    """Rebuild the model of a ``model.pt`` (a best.pt checkpoint) and load its weights.

    Returns ``(model, checkpoint)``."""
    state = load_checkpoint(checkpoint, map_location=device)
    cfg = state["run_config"]
    model = build_model(cfg["arch"], **cfg["model_options"]).to(device)
    model.load_state_dict(state["model"])
    model.eval()
    return model, state
