"""Checkpoints: one dict with fixed keys, written atomically, read without running code from the file.

**Contents.** ``checkpoints/last.pt`` (resume state, written after every epoch): format, run_config,
config_hash, epoch, model, optimizer, scheduler, loss (e.g. the GCC queue), scaler (the AMP GradScaler:
loss scale and growth tracker; empty when AMP is off), rng (torch CPU/CUDA and the data generator),
history, selected, nondeterministic_ops (sorted names of the ops torch warned about so far).
``selected`` is the epoch selected so far, exactly as its ``model.pt`` will be written (without the
format tag; weights on the CPU). The run's ``model.pt`` (keys ``BEST_KEYS``): format, run_config,
config_hash, epoch, selection, model.

**Crash safety.** ``last.pt`` is self-sufficient: it carries the selected model, so no second file
has to agree with it (a separate ``best.pt``, written before ``last.pt``, used to disagree with it after
a kill, and was lost when Snakemake deleted ``model.pt`` before rerunning). ``gmc.training.engine.fit``
writes, each epoch, ``last.pt`` then ``log.jsonl``; to finish, ``model.pt`` (from ``selected``),
``log.jsonl`` and ``summary.json``, and only then removes ``last.pt``. Every write is atomic
(:mod:`gmc.io`), so a process killed at any instant leaves one of three states, each of which a rerun
completes without help:

* ``last.pt`` of an earlier epoch, or none: the rerun repeats the lost epochs (deterministically);
* ``last.pt`` of the final epoch, with any subset of the outputs: the rerun trains nothing and finishes
  again, rewriting the same bytes;
* no ``last.pt``, and ``model.pt``, ``log.jsonl`` and ``summary.json`` of this configuration: the run is
  complete and the rerun returns its summary.

A ``last.pt`` that cannot be read (truncated, damaged, refused) is moved aside to
``last.pt.corrupt-<time>`` with a warning naming it, and the run starts over.

**Byte-reproducible files.** ``torch.save`` writes into an open file: given a path, torch names the
archive inside the file after it, i.e. after the random temporary name, so equal checkpoints would
differ in bytes.

**Reading** uses ``torch.load(weights_only=True)``: tensors and plain data only (dict, list, tuple,
str, int, float including inf and NaN, bool, None, and the ``OrderedDict`` of state dicts with their
``_metadata``). That is all the engine saves: model, optimizer, scheduler, GradScaler and GCC-queue
states, Python floats in ``history`` and ``selection``, the generator states as uint8 tensors; so no
type is allow-listed. Any other object (a pickle crafted to run code on load) is refused. Every
failure is an :class:`~gmc.errors.InputFileError` naming the file and the fix.

**Versions.** ``FORMAT`` is ``gmc-checkpoint/1``. ``scaler``, ``nondeterministic_ops`` and ``selected``
(which replaced ``best``, the selected epoch and its score) were added to ``last.pt`` without a new
version (``ADDED_LAST_KEYS``): the version describes ``model.pt`` too, which did not change, and models
written before stay loadable. ``fit`` resumes from a ``last.pt`` that lacks ``scaler`` when the scaler
had no state to save (AMP off), and starts afresh when it lacks ``selected`` or (with AMP) ``scaler``;
a missing op record starts empty.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch

from gmc.errors import InputFileError
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
    "selected",
    "nondeterministic_ops",
}
#: keys added to ``last.pt`` after ``gmc-checkpoint/1`` was first written: an older file lacks them
ADDED_LAST_KEYS = {"scaler", "nondeterministic_ops", "selected"}
BEST_KEYS = {"format", "run_config", "config_hash", "epoch", "selection", "model"}

# torch's weights-only unpickler names the global a file asks for: "Unsupported global: GLOBAL
# builtins.open was not an allowed global by default" or "... GLOBAL posix.system whose module ..."
_REFUSED_GLOBAL = re.compile(r"GLOBAL (\S+)")


def save_checkpoint(path: str | Path, state: dict, keys: set[str]) -> None:
    """Write ``state`` plus the format tag to ``path`` atomically; its keys must be exactly ``keys``.
    Equal states give byte-identical files (module docstring)."""
    if set(state) != keys:
        raise ValueError(f"checkpoint keys {sorted(state)} differ from the fixed set {sorted(keys)}")
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save({**state, "format": FORMAT}, fh)


def load_checkpoint(path: str | Path, map_location="cpu", *, keys: set[str] = frozenset()) -> dict:
    """Read a checkpoint of this format (tensors onto ``map_location``) that holds at least ``keys``.

    Nothing in the file is executed (module docstring). A missing, truncated or damaged file, one that
    holds anything but tensors and plain data, anything but a dict, another format (version) or lacks
    one of ``keys`` raises :class:`InputFileError` naming the file and the fix."""
    path = Path(path)
    state = _torch_load(path, map_location)
    if not isinstance(state, dict):
        raise InputFileError(
            f"{path} is not a gmc checkpoint: it holds a {type(state).__name__}, not a dict with "
            f"format {FORMAT!r}; pass a run's model.pt"
        )
    found = state.get("format")
    if found != FORMAT:
        raise InputFileError(
            f"{path} has checkpoint format {found!r}; this version of gmc reads {FORMAT!r}. Use the gmc "
            "version that wrote it, or train the run again with this one"
        )
    missing = sorted(set(keys) - set(state))
    if missing:
        raise InputFileError(
            f"{path} lacks the checkpoint key(s) {missing}; it is damaged: train the run again"
        )
    return state


def _torch_load(path: Path, map_location):
    """``torch.load(path, weights_only=True)``; every failure becomes an :class:`InputFileError`."""
    if not path.is_file():
        raise InputFileError(f"checkpoint {path} does not exist; train the run first (or fix the path)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        refused = _REFUSED_GLOBAL.search(str(err))
        if refused is None:
            raise _damaged(path, err) from None
        raise InputFileError(
            f"refusing to load {path}: it asks for {refused[1]}, and a gmc checkpoint holds only tensors "
            "and plain data (a file like this can run code when loaded). Do not use it; train the run "
            "again to get a trustworthy checkpoint"
        ) from None
    except Exception as err:  # whatever torch's reader hits in a truncated or damaged file
        raise _damaged(path, err) from None


def _damaged(path: Path, err: Exception) -> InputFileError:
    """The error for a file torch cannot parse, with the first sentence of torch's message."""
    reason = str(err).strip().split("\n")[0].split(". ")[0][:200] or type(err).__name__
    return InputFileError(
        f"cannot read checkpoint {path} ({reason}): the file is truncated or damaged (an "
        "interrupted copy?); copy it again or train the run again"
    )
