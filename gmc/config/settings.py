"""Small config types shared by the workflow and the training engine: the ``train`` section as a frozen
dataclass, the ``native`` loss alias and the hash that identifies a resolved config."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from gmc.errors import ConfigError

#: the name in ``benchmark.losses`` that stands for each model's own (native) loss
NATIVE = "native"
#: the loss role of GMC-IQA's GCC loss: the other side of the report's GCC plug-in table (native vs GCC)
GCC = "gcc"


def valid_loss_roles() -> tuple[str, ...]:
    """Every ``loss_role`` a run (and so a scores row) may have: ``native`` (the model's own loss), then
    each registered loss type in name order. A run's role is ``native`` for its model's own loss, else its
    registered loss type (:meth:`gmc.config.Benchmark.loss_role`). Looked up when called, so a loss
    registered later (by a plug-in) counts; the registry is light (no torch)."""
    from gmc.losses import LOSSES

    return (NATIVE, *LOSSES.names())


def config_hash(obj: Any) -> str:
    """sha256 (first 12 hex digits) of the canonical JSON of ``obj``: identifies a resolved config."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


#: defaults of the ``train`` keys added after the first release (the schema's defaults): a run config
#: written before a key existed loads with it (and so trains and predicts as it did)
ADDED_TRAIN_DEFAULTS = {
    "lr_multipliers": {},
    "lr_step": 10,
    "lr_gamma": 0.1,
    "augment": "none",
    "tta": "none",
}


@dataclass(frozen=True)
class TrainSettings:
    """The ``train`` section (see the schema, gmc/config/schema.yaml, for meanings and defaults)."""

    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    lr_multipliers: dict
    weight_decay: float
    scheduler: str
    t_max: int | None
    eta_min: float
    lr_step: int
    lr_gamma: float
    hflip: bool
    augment: str
    amp: bool
    selection: str
    label_scaling: str
    deterministic: bool
    eval_batch_size: int
    tta: str

    @classmethod
    def from_dict(cls, d: dict) -> TrainSettings:
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(
                f"unknown train setting(s) {sorted(unknown)}; valid: {sorted(cls.__dataclass_fields__)}"
            )
        # a key added after the first release keeps its default, so older run configs still load
        return cls(**{**ADDED_TRAIN_DEFAULTS, **d})


def feature_run_conflicts(train: dict, protocol: dict) -> list[str]:
    """For a gradient-trained run on cached frozen-backbone features: the settings that cannot apply to
    features computed once per whole image (a flip, an augmentation, test-time augmentation, crops), each
    as the fix (``train.hflip: false``...); empty when there is none."""
    fixes = []
    if train.get("hflip"):
        fixes.append("train.hflip: false")
    if train.get("augment", "none") != "none":
        fixes.append("train.augment: none")
    if train.get("tta", "none") != "none":
        fixes.append("train.tta: none")
    if (protocol or {}).get("kind") == "crop":
        fixes.append("protocol: {kind: resize}")
    return fixes


def feature_run_message(where: str, fixes: list[str]) -> str:
    """The error for :func:`feature_run_conflicts`."""
    return (
        f"{where}: its runs train on cached backbone features (computed once per whole image), which "
        f"cannot be flipped, augmented or cropped; set {', '.join(fixes)} in the model's entry"
    )
