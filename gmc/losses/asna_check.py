"""Light checks for ASNA's surrogate ranking loss (no torch): the config validator can call them before
any job runs, and :class:`gmc.losses.asna_surrogate.ASNASurrogateLoss` raises the same message when a
batch reaches it with the wrong size."""

from __future__ import annotations

from gmc.errors import ConfigError


def check_sorter_batch_size(batch_size: int, sorter_length: int, where: str = "train.batch_size") -> None:
    """Raise :class:`ConfigError` (a ``ValueError``) unless ``batch_size == sorter_length``.

    The loss's ranking term feeds one whole batch of scores to the frozen sorter, which ranks vectors of
    exactly its own length (docs/asna.md, section 2), so every training batch must have that size.
    ``where`` names the setting in the message (the config key, or the loss call)."""
    if batch_size != sorter_length:
        raise ConfigError(
            f"{where}: batch size {batch_size} differs from the length of the ASNA sorter "
            f"({sorter_length}); the asna_surrogate loss ranks each training batch with a sorter of one "
            f"fixed length. Fix: set train.batch_size to {sorter_length}, or pre-train a sorter of length "
            f"{batch_size} (gmc.losses.sorter.pretrain_sorter) and point the loss option 'sorter' at it"
        )
