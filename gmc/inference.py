"""Predictions of a trained run on its test sets (heavy: imports torch and the model code).

:func:`predict_run` loads a run's ``model.pt`` once and writes one CSV per test set,
``<out_dir>/<test_set>.csv`` with columns ``image, mos, prediction`` plus the run's identity columns, its
selection protocol and its test-time augmentation (``tta``: the run config's ``train.tta``, which
:func:`gmc.training.engine.predict` applies), so that each file describes itself. The run's own training
set is scored on the test part of its split (intra-dataset); every other set is scored whole
(cross-dataset). Loading the model once per run rather than once per test set saves a process start-up
(torch, timm, pyiqa imports) per test set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gmc.data.crops import Views
from gmc.data.loading import ImageSet, load_run_part
from gmc.predictions import check_test_set_names, is_intra, write_prediction_file
from gmc.training.engine import load_trained_model, predict
from gmc.training.seeding import select_device


@dataclass(frozen=True)
class ScoringProtocol:
    """How a run's model scores images at test time, read from its run config: the views (whole image
    for ``resize`` protocols, the test crops for ``crop`` ones), the test-time augmentation and mixed
    precision. ``gmc predict`` and the pyiqa plug-in (:mod:`gmc.integrations.pyiqa_arch`) both score
    through :meth:`score`, so they feed the model the same inputs."""

    views: Views
    tta: str
    amp: bool

    @classmethod
    def from_run_config(cls, cfg: dict) -> ScoringProtocol:
        # ``tta`` is absent from run configs written before the option existed
        return cls(
            Views.from_run_config(cfg), cfg["train"].get("tta", "none"), bool(cfg["train"].get("amp", False))
        )

    def score(self, model: nn.Module, data: ImageSet, device: torch.device, batch_size: int) -> np.ndarray:
        """Scores of every image of ``data`` (uint8 images at the model's cache size), in order."""
        with torch.inference_mode():
            return predict(model, data, device, batch_size, self.amp, self.views, self.tta)


@dataclass(frozen=True)
class TestSet:
    """A dataset to score: its key, its manifest and its image cache at the model's input size (its
    feature cache for a model that reads frozen-backbone features)."""

    name: str
    manifest: Path
    cache: Path


def predict_run(
    checkpoint: str | Path,
    test_sets: list[TestSet],
    out_dir: str | Path,
    *,
    split_csv: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 64,
) -> list[Path]:
    """Score every test set with the model of ``checkpoint``; return the CSV paths written.

    ``split_csv`` is the training set's split file, needed when the training set is among
    ``test_sets`` (its split's test part is scored)."""
    dev = select_device(device)
    model, state = load_trained_model(checkpoint, dev)
    cfg = state["run_config"]
    protocol = ScoringProtocol.from_run_config(cfg)
    check_test_set_names([t.name for t in test_sets])
    written = []
    for test in test_sets:
        intra = is_intra(test.name, cfg, split_csv)
        data = load_run_part(
            cfg,
            test.manifest,
            test.cache,
            split_csv=split_csv if intra else None,
            split=cfg["split"] if intra else None,
            part="test" if intra else None,
        )
        protocol.views.check_fits(data.images, f"test set {test.name} ({test.cache})")
        scores = protocol.score(model, data, dev, batch_size)
        written.append(
            write_prediction_file(
                out_dir,
                test.name,
                data.names,
                data.mos.numpy().astype(float),
                scores,
                cfg,
                selection=cfg["train"]["selection"],
                tta=protocol.tta,
                config_hash=state["config_hash"],
            )  # fmt: skip
        )
    return written
