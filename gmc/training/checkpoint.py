"""Checkpoints: one dict with fixed keys, written atomically (temporary file, then rename).

``last.pt`` (resume state): format, run_config, config_hash, epoch, model, optimizer, scheduler, loss
(e.g. the GCC queue), scaler (the AMP GradScaler: loss scale and growth tracker; empty when AMP is off),
rng (torch CPU/CUDA and the data generator), history, best, nondeterministic_ops (sorted names of the ops
torch warned about so far).
``best.pt`` and the run's ``model.pt`` (the selected model): format, run_config, config_hash, epoch,
selection, model.

``scaler`` and ``nondeterministic_ops`` were added to ``last.pt`` without a new format version: the
version describes ``model.pt`` too, which did not change, and models written before stay loadable. A
``last.pt`` written before lacks the two keys: ``gmc.training.engine.fit`` resumes from it when the
scaler had no state to save (AMP off) and otherwise starts afresh; the op record then starts empty.
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
    "scaler",
    "rng",
    "history",
    "best",
    "nondeterministic_ops",
}
BEST_KEYS = {"format", "run_config", "config_hash", "epoch", "selection", "model"}


def save_checkpoint(path: str | Path, state: dict, keys: set[str]) -> None:
    """Write ``state`` plus the format tag to ``path`` atomically; its keys must be exactly ``keys``."""
    if set(state) != keys:
        raise ValueError(f"checkpoint keys {sorted(state)} differ from the fixed set {sorted(keys)}")
    with atomic_path(path) as tmp:
        torch.save({**state, "format": FORMAT}, tmp)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint of this format (tensors onto ``map_location``); anything else is a ValueError."""
    state = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a {FORMAT} checkpoint (format: {state.get('format')!r})")
    return state
