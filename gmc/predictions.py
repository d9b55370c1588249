"""The prediction files every run writes, one per test set (``gmc predict`` for trained networks,
``gmc probe`` for linear probes; read back by :func:`gmc.evaluation.read_predictions`). Light: pandas.

A file is ``<out_dir>/<test_set>.csv`` with columns ``image, mos, prediction`` and the run's identity
(``model, loss, loss_role, train_set, split``), ``test_set``, ``selection``, ``tta`` and ``config_hash``,
so that each file describes itself. The run's own training set is scored on the test part of its split
(intra-dataset), every other set whole (cross-dataset)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from gmc.io import write_csv

IDENTITY = ("model", "loss", "loss_role", "train_set", "split")


def check_test_set_names(names: Sequence[str]) -> None:
    """A ``ValueError`` naming every test set given more than once (its file would be written twice)."""
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"test set(s) given twice: {duplicates}")


def is_intra(test_set: str, run_config: dict, split_csv) -> bool:
    """Whether ``test_set`` is the run's training set (then only its split's test part is scored); a
    ``ValueError`` naming the fix when it is and no split file was given."""
    intra = test_set == run_config["train_set"]
    if intra and split_csv is None:
        raise ValueError(
            f"{test_set!r} is the run's training set: pass its split file (--splits) so that only "
            f"the test part of split {run_config['split']} is scored"
        )
    return intra


def write_prediction_file(
    out_dir: str | Path,
    test_set: str,
    images,
    mos,
    prediction,
    run_config: dict,
    *,
    selection: str,
    tta: str,
    config_hash: str,
) -> Path:
    """Write ``<out_dir>/<test_set>.csv`` (module docstring) atomically; return its path."""
    frame = pd.DataFrame({"image": images, "mos": mos, "prediction": prediction})
    for column in IDENTITY:
        frame[column] = run_config[column]
    frame["test_set"] = test_set
    frame["selection"] = selection
    frame["tta"] = tta
    frame["config_hash"] = config_hash
    out = Path(out_dir) / f"{test_set}.csv"
    write_csv(out, frame)
    return out
