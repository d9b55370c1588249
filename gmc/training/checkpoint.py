"""Checkpoints: one dict with fixed keys, written atomically (temporary file, then rename).

``last.pt`` (resume state): format, run_config, config_hash, epoch, model, optimizer, scheduler, loss
(e.g. the GCC queue), rng (torch CPU/CUDA and the data generator), history, best.
``best.pt`` and the run's ``model.pt`` (the selected model): format, run_config, config_hash, epoch,
selection, model.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gmc.io import atomic_path

FORMAT = "gmc-checkpoint/1"
LAST_KEYS = {
    "format",
    "run_config",
    "config_hash",
    "epoch",
    "model",
    "optimizer",
    "scheduler",
    "loss",
    "rng",
    "history",
    "best",
}
BEST_KEYS = {"format", "run_config", "config_hash", "epoch", "selection", "model"}


def save_checkpoint(path: str | Path, state: dict, keys: set[str]) -> None:
    if set(state) != keys:
        raise ValueError(f"checkpoint keys {sorted(state)} differ from the fixed set {sorted(keys)}")
    with atomic_path(path) as tmp:
        torch.save({**state, "format": FORMAT}, tmp)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    state = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} checkpoint (format: {state.get('format')!r})")
    return state
