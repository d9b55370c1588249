"""Data protocols: how a model sees a dataset's images in training and at test time.

Light (no torch): the config check, the DAG and the report read protocols; the crops themselves are cut
by :mod:`gmc.data.crops` in the training and prediction loops.

Two kinds (``kind``):

- ``resize`` (MoNet, GMC-IQA): every image is resized whole (bicubic, aspect not kept) to
  ``input_size`` x ``input_size`` once, in the decoded cache; training and prediction use it as is.
- ``crop`` (most published baselines): the cache keeps each dataset at its *stored resolution*
  (``datasets.<key>.stored_size``, width x height, e.g. KonIQ-10k at 512 x 384 as pyiqa does), and the
  model sees ``input_size`` x ``input_size`` crops of it: ``train_crops`` random crops per image per
  epoch (each a training sample with the image's MOS, e.g. HyperIQA's 25 patches), and at test time
  ``test_crops`` crops whose predictions are averaged, placed by ``test_crop_mode``: ``center`` (one
  centred crop, ``test_crops`` must be 1), ``grid`` (an evenly spaced grid of ``test_crops`` crops, a
  square number; non-overlapping 32 x 32 patches for CNNIQA are ``grid`` with the patch count), or
  ``random`` (seeded, the same crops for every model and run).

A model card declares its published protocol (``ModelCard.protocol``); a config's ``models.<key>.protocol``
overrides single fields. The resolved protocol is part of the run config (``run.json``) and the report.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from gmc.errors import ConfigError

KINDS = ("resize", "crop")
TEST_CROP_MODES = ("center", "grid", "random")


@dataclass(frozen=True)
class DataProtocol:
    """See the module docstring. ``kind="resize"`` ignores the crop fields (they must stay 1/center)."""

    kind: str = "resize"
    train_crops: int = 1
    test_crops: int = 1
    test_crop_mode: str = "center"

    @classmethod
    def from_dict(cls, options: dict | None, where: str = "protocol") -> DataProtocol:
        """Build and check a protocol; a bad field raises :class:`ConfigError` naming ``where``."""
        options = dict(options or {})
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ConfigError(
                f"{where}: unknown protocol field(s) {', '.join(map(repr, unknown))}; "
                f"valid: {', '.join(valid)}"
            )
        protocol = cls(**options)
        protocol.check(where)
        return protocol

    def check(self, where: str = "protocol") -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"{where}.kind: {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.test_crop_mode not in TEST_CROP_MODES:
            raise ConfigError(
                f"{where}.test_crop_mode: {self.test_crop_mode!r} is not one of {', '.join(TEST_CROP_MODES)}"
            )
        for name in ("train_crops", "test_crops"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{where}.{name}: {value!r} must be an integer >= 1")
        crops = (self.train_crops, self.test_crops, self.test_crop_mode)
        if self.kind == "resize" and crops != (1, 1, "center"):
            raise ConfigError(
                f"{where}: kind 'resize' feeds each whole image once; train_crops/test_crops/test_crop_mode "
                "apply to kind 'crop' only (set kind: crop, or remove them)"
            )
        if self.test_crop_mode == "center" and self.test_crops != 1:
            raise ConfigError(
                f"{where}: test_crop_mode 'center' takes one crop, not test_crops={self.test_crops}; "
                "use 'grid' or 'random' for several"
            )
        if self.test_crop_mode == "grid" and math.isqrt(self.test_crops) ** 2 != self.test_crops:
            raise ConfigError(
                f"{where}: test_crop_mode 'grid' needs a square number of test_crops (1, 4, 9, ...), "
                f"got {self.test_crops}"
            )

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self, input_size: int) -> str:
        """One line for the report, e.g. ``random 224 px crops (25 per image per epoch); test: 25 random
        crops averaged``."""
        if self.kind == "resize":
            return f"whole image resized to {input_size} px"
        train = f"random {input_size} px crops ({self.train_crops} per image per epoch)"
        if self.test_crop_mode == "center":
            test = "one centre crop"
        elif self.test_crops == 1:
            test = f"one {self.test_crop_mode} crop"
        else:
            test = f"{self.test_crops} {self.test_crop_mode} crops averaged"
        return f"{train}; test: {test}"


def resolve_protocol(card_protocol: dict | None, overrides: dict | None, where: str) -> DataProtocol:
    """The card's published protocol with the config's ``models.<key>.protocol`` fields on top."""
    return DataProtocol.from_dict({**(card_protocol or {}), **(overrides or {})}, where)
