"""One probe run (model x loss x training set x split) on cached features: fit, record, predict.
Light (numpy and pandas; torch only for the optional ``model.pt``), so a probe run costs seconds.

:func:`fit_probe_run` reads the training set's feature cache (checked against the run's backbone,
weights, input size, pooling and manifest: :func:`gmc.features.load_feature_cache`) and its split,
fits the probe on the **train part** only (:func:`gmc.probe.fit_probe`: alpha by group K-fold
cross-validation inside it, groups = the manifest's ``content``), scores the val part for the log, and
writes to the run folder, as ``gmc train`` does:

* ``probe.npz``: the fitted probe (:func:`gmc.probe.save_probe`; the run config and feature spec inside);
* ``log.jsonl``: one record (``epoch`` 0, ``train_loss`` = training MSE, ``alpha``, ``cv_mse``, the
  ``val_*`` metrics, ``selected`` true), so ``gmc aggregate --curves`` reads it like an epoch;
* ``summary.json``: the engine's fields (``config_hash``, ``best_epoch`` 0, ``selection`` ``train_cv``,
  ``epochs`` 1, ``device``, ``device_name``, ``n_train``, ``n_val``, ``nondeterministic_ops``) plus
  ``trainer``, ``probe`` (alpha, grid, CV errors...), ``features`` and ``val_metrics``;
* ``model.pt`` on request: the network of :mod:`gmc.models.linear_probe` with the probe's weights,
  which ``gmc predict`` loads like any run's.

The test part is never read while fitting: the split's part of every row is known, and only the train
rows go to the fit. :func:`predict_probe_run` then writes one CSV per test set, in the format and with
the identity columns of ``gmc predict`` (:mod:`gmc.inference`): the training set's split test part
(intra-dataset), every other set whole (cross-dataset), each from its own feature cache. ``selection`` is
``train_cv`` (no epoch is selected; alpha is chosen by cross-validation on the training part), ``tta``
``none``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gmc.config import config_hash
from gmc.data.manifest import read_manifest
from gmc.data.protocol import DataProtocol
from gmc.data.splits import checked_split
from gmc.errors import ConfigError
from gmc.features import FeatureSpec, load_feature_cache, model_feature_spec
from gmc.io import write_json, write_text
from gmc.models import get_model_card, resolved_options
from gmc.predictions import check_test_set_names, is_intra, write_prediction_file
from gmc.probe import DEFAULT_FOLDS, ProbeModel, fit_probe, load_probe, predict_probe, save_probe

log = logging.getLogger(__name__)

#: the ``selection`` of probe runs: alpha chosen by cross-validation on the training part
SELECTION = "train_cv"


@dataclass(frozen=True)
class FeatureTestSet:
    """A dataset to score: its key, its manifest and its feature cache (same spec as the run's)."""

    name: str
    manifest: Path
    features: Path


def probe_spec(run_config: dict) -> tuple[FeatureSpec, dict]:
    """The run's feature spec and resolved model options; :class:`ConfigError` when the model is not a
    probe or the run's loss is not the probe's (its ridge minimises the squared error, its native loss)."""
    card = get_model_card(run_config["arch"])
    if card.trainer != "probe":
        raise ConfigError(
            f"model {run_config['model']!r} (arch {card.name!r}) is trained by `gmc train`, not `gmc probe`"
        )
    if run_config["loss_type"] != card.native_loss:
        raise ConfigError(
            f"model {run_config['model']!r}: a linear probe is fitted in closed form (ridge, squared error); "
            f"it cannot be trained with loss {run_config['loss_type']!r}. Run it with its native loss only"
        )
    protocol = DataProtocol.from_dict(run_config.get("protocol"))
    if protocol.kind != "resize":
        raise ConfigError(
            f"model {run_config['model']!r}: the probe's features are computed from whole images resized to "
            f"input_size, not from crops; drop the protocol override ({protocol.kind})"
        )
    options = resolved_options(card, run_config["model_options"])
    return model_feature_spec(card.name, run_config["model_options"], run_config["input_size"]), options


def _parts(manifest: pd.DataFrame, split_csv, split: int, manifest_csv) -> np.ndarray:
    """The part (train/val/test) of every manifest row in split ``split``, manifest order."""
    rows = checked_split(split_csv, split, manifest, manifest_csv)
    part_of = dict(zip(rows["image"], rows["part"], strict=True))
    return manifest["image"].map(part_of).to_numpy()


def _groups(manifest: pd.DataFrame) -> np.ndarray:
    """Cross-validation groups: the ``content`` column (the reference of a synthetic set), else the image."""
    content = manifest["content"].astype(str)
    return content.where(content != "", manifest["image"]).to_numpy()


def training_targets(mos: np.ndarray, train_idx: np.ndarray, scaling: str) -> np.ndarray:
    """As :func:`gmc.training.engine.training_targets`: the normalised MOS (``dataset_range``) or min-max
    scaled over the training rows (``split_minmax``)."""
    if scaling == "split_minmax":
        lo, hi = mos[train_idx].min(), mos[train_idx].max()
        return (mos - lo) / max(hi - lo, 1e-12)
    return mos


def fit_probe_run(
    run_config: dict,
    *,
    features_npy: str | Path,
    manifest_csv: str | Path,
    split_csv: str | Path,
    out_dir: str | Path,
    checkpoint: bool = False,
) -> dict:
    """Fit one probe run and write its files (module docstring); return the summary."""
    from gmc.metrics import compute_metrics  # scipy: here, the module stays cheap to import

    run_config = json.loads(json.dumps(run_config))  # plain JSON data, as the engine keeps it
    spec, options = probe_spec(run_config)
    out_dir = Path(out_dir)
    manifest = read_manifest(manifest_csv)
    features = load_feature_cache(features_npy, spec, manifest_csv=manifest_csv)
    parts = _parts(manifest, split_csv, run_config["split"], manifest_csv)
    train_idx, val_idx = np.flatnonzero(parts == "train"), np.flatnonzero(parts == "val")
    mos = manifest["mos"].to_numpy(dtype=np.float64)
    scaling = run_config["train"].get("label_scaling", "dataset_range")
    targets = training_targets(mos, train_idx, scaling)
    probe = fit_probe(
        features,
        targets,
        train_idx,
        groups=_groups(manifest),
        alphas=options.get("alphas"),
        folds=int(options.get("cv_folds") or DEFAULT_FOLDS),
        seed=int(run_config["seed"]),
    )
    if probe.alpha_at_edge:
        log.warning(
            "alpha %g chosen at the edge of the grid %s: widen the grid (model option alphas)",
            probe.alpha,
            [float(a) for a in probe.alphas],
        )
    train_pred = predict_probe(probe, features[train_idx])
    val_metrics = {}
    if len(val_idx) >= 3:
        val_metrics = compute_metrics(predict_probe(probe, features[val_idx]), mos[val_idx])
    record = {
        "epoch": 0,
        "train_loss": float(np.mean((train_pred - targets[train_idx]) ** 2)),
        "alpha": probe.alpha,
        "cv_mse": probe.summary()["cv_mse_best"],
        "train_seconds": probe.meta["fit_seconds"],
        "train_images": len(train_idx),
        **{f"val_{k}": v for k, v in val_metrics.items()},
        "selected": True,
    }
    hash_ = config_hash(run_config)
    extra = {"run_config": run_config, "config_hash": hash_, "features": spec.as_dict()}
    save_probe(out_dir / "probe.npz", probe, extra)
    if checkpoint:
        _write_checkpoint(out_dir / "model.pt", run_config, hash_, probe, val_metrics)
    write_text(out_dir / "log.jsonl", json.dumps(record, sort_keys=True) + "\n")
    summary = {
        "config_hash": hash_,
        "best_epoch": 0,
        "selection": SELECTION,
        "epochs": 1,
        "device": "cpu",
        "device_name": "cpu",
        "n_train": len(train_idx),
        "n_val": len(val_idx),
        "nondeterministic_ops": [],
        "trainer": "probe",
        "probe": probe.summary(),
        "features": {**spec.as_dict(), "cache": Path(features_npy).as_posix(), "dim": probe.n_features},
        "val_metrics": val_metrics,
    }
    write_json(out_dir / "summary.json", summary)
    log.info(
        "probe %s: alpha %g (CV over %d folds), %d train rows, val %s",
        out_dir,
        probe.alpha,
        probe.folds,
        len(train_idx),
        {k: round(v, 4) for k, v in val_metrics.items()},
    )
    return summary


def _write_checkpoint(path: Path, run_config: dict, hash_: str, probe: ProbeModel, val_metrics: dict) -> None:
    """``model.pt``: the probe as a network (:mod:`gmc.models.linear_probe`), loadable by ``gmc predict``."""
    from gmc.models import build_model
    from gmc.models.linear_probe import probe_checkpoint
    from gmc.training.checkpoint import BEST_KEYS, save_checkpoint

    model = build_model(run_config["arch"], **run_config["model_options"]).set_probe(probe)
    selection = {"protocol": SELECTION, "score": -probe.summary()["cv_mse_best"] if probe.folds else None}
    selection["metrics"] = dict(val_metrics)
    save_checkpoint(path, probe_checkpoint(model, run_config, hash_, selection), BEST_KEYS - {"format"})


def predict_probe_run(
    probe_npz: str | Path,
    test_sets: list[FeatureTestSet],
    out_dir: str | Path,
    *,
    split_csv: str | Path | None = None,
) -> list[Path]:
    """Score every test set with a fitted probe run; write ``<out_dir>/<name>.csv`` per set in the format
    of ``gmc predict`` (module docstring); return the paths. ``split_csv``: the training set's split file,
    needed when the training set is among ``test_sets`` (its split's test part is scored)."""
    probe, extra = load_probe(probe_npz)
    cfg, hash_ = extra["run_config"], extra["config_hash"]
    spec = FeatureSpec(**extra["features"])
    check_test_set_names([t.name for t in test_sets])
    written = []
    for test in test_sets:
        manifest = read_manifest(test.manifest)
        features = load_feature_cache(test.features, spec, manifest_csv=test.manifest)
        rows = np.arange(len(manifest))
        if is_intra(test.name, cfg, split_csv):
            rows = np.flatnonzero(_parts(manifest, split_csv, cfg["split"], test.manifest) == "test")
        written.append(
            write_prediction_file(
                out_dir,
                test.name,
                manifest["image"].to_numpy()[rows],
                manifest["mos"].to_numpy(dtype=float)[rows],
                predict_probe(probe, features[rows]),
                cfg,
                selection=SELECTION,
                tta="none",
                config_hash=hash_,
            )  # fmt: skip
        )
    return written
