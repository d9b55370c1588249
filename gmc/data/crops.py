"""Crops of cached images, as a run's data protocol (:mod:`gmc.data.protocol`) asks for them.

:class:`Views` turns a batch of cached uint8 images into model inputs. ``resize`` protocols use the cached
image as it is (it was resized to the input size when the cache was built); ``crop`` protocols cut
``size`` x ``size`` crops out of the stored-resolution cache: in training, a random crop per sample, its
position drawn from the run's data generator (so a resumed run draws the same crops); at test time, the
same fixed boxes for every image of a set (:meth:`Views.test_boxes`), whose predictions are averaged.
Crops are cut from the uint8 cache before conversion to float, so no JPEG is decoded per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from gmc.data.protocol import DataProtocol
from gmc.errors import InputFileError

#: seed of the boxes of ``test_crop_mode: random``: fixed, so every model and run sees the same crops
TEST_CROP_SEED = 0


def _positions(extent: int, size: int, count: int) -> list[int]:
    """``count`` evenly spaced offsets of a ``size`` window in ``extent`` pixels, first and last flush with
    the edges (a single one is centred)."""
    if count == 1:
        return [(extent - size) // 2]
    return [round(v) for v in np.linspace(0, extent - size, count)]


@dataclass(frozen=True)
class Views:
    """Model inputs from cached images, for one protocol and input size."""

    protocol: DataProtocol
    size: int

    @classmethod
    def from_run_config(cls, run_config: dict) -> Views:
        """The views of a run config (``protocol`` absent in configs older than protocols: resize)."""
        return cls(DataProtocol.from_dict(run_config.get("protocol")), int(run_config["input_size"]))

    @property
    def crops(self) -> bool:
        return self.protocol.kind == "crop"

    def check_fits(self, images: torch.Tensor, what: str) -> None:
        """A crop protocol needs images at least ``size`` px on each side."""
        height, width = images.shape[-2:]
        if self.crops and (height < self.size or width < self.size):
            raise InputFileError(
                f"{what}: images are {width}x{height} px, smaller than the {self.size} px crops of this "
                f"model's protocol; give the dataset a larger stored_size or the model a smaller input_size"
            )

    def train_samples(self, n_images: int) -> int:
        """Training samples per epoch: every image ``train_crops`` times (once for ``resize``)."""
        return n_images * self.protocol.train_crops if self.crops else n_images

    def train_batch(
        self, images: torch.Tensor, references: torch.Tensor | None, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One random ``size`` crop per image (the same box for its reference, if any); for ``resize``,
        the images unchanged and no random number drawn."""
        if not self.crops:
            return images, references
        n, _, height, width = images.shape
        tops = torch.randint(0, height - self.size + 1, (n,), generator=generator).tolist()
        lefts = torch.randint(0, width - self.size + 1, (n,), generator=generator).tolist()
        return (
            self._cut(images, tops, lefts),
            None if references is None else self._cut(references, tops, lefts),
        )

    def _cut(self, images: torch.Tensor, tops: list[int], lefts: list[int]) -> torch.Tensor:
        s = self.size
        return torch.stack([img[:, t : t + s, lf : lf + s] for img, t, lf in zip(images, tops, lefts)])

    def test_boxes(self, height: int, width: int) -> list[tuple[int, int]]:
        """The (top, left) corners of the test crops of an image of ``height`` x ``width``: one centred
        box, a ``k`` x ``k`` grid (``test_crops`` = k^2, evenly spaced, edges included), or
        ``test_crops`` random boxes drawn with the fixed seed :data:`TEST_CROP_SEED`. ``resize``: the
        whole image, [(0, 0)]."""
        if not self.crops:
            return [(0, 0)]
        s, mode, count = self.size, self.protocol.test_crop_mode, self.protocol.test_crops
        if mode == "center":
            return [((height - s) // 2, (width - s) // 2)]
        if mode == "grid":
            k = math.isqrt(count)
            return [(t, lf) for t in _positions(height, s, k) for lf in _positions(width, s, k)]
        rng = np.random.default_rng(TEST_CROP_SEED)
        tops = rng.integers(0, height - s + 1, count)
        lefts = rng.integers(0, width - s + 1, count)
        return [(int(t), int(lf)) for t, lf in zip(tops, lefts)]

    def test_crops(self, images: torch.Tensor, box: tuple[int, int]) -> torch.Tensor:
        """The crop at ``box`` of every image of the batch (the batch itself for ``resize``)."""
        if not self.crops:
            return images
        top, left = box
        return images[:, :, top : top + self.size, left : left + self.size]
