"""Loss registry: every training loss is a registered :class:`LossCard`; build one with :func:`build_loss`.

Light index, heavy builders (design.md): a card names the loss class as ``"module:Class"`` and lists the
options its constructor takes, so that the config check validates loss options without importing torch;
:func:`build_loss` imports the class. ``tests/losses/test_registry.py`` checks every card's options
against its class's signature.

A loss is an ``nn.Module`` called as ``loss_fn(pred, target)`` with ``pred`` of shape (B,) or (B, 1) and
``target`` of shape (B,), returning a scalar tensor. The training engine passes ``n_train`` (the
training-set size) to :func:`build_loss`; it reaches only losses whose card says ``takes_n_train``
(GCC, for ``queue_ratio``).

Registered (formulas and sources in each class's docstring):

- ``mse``, ``l1``, ``plcc`` (:mod:`gmc.losses.basic`): distance losses and 1 - PLCC;
- ``gcc`` (:mod:`gmc.losses.gcc`): GMC-IQA's global correlation consistency loss;
- ``nin`` (:mod:`gmc.losses.norm_in_norm`): norm-in-norm (Li et al., ACM MM 2020);
- ``rank_hinge``, ``fidelity`` (:mod:`gmc.losses.pairwise`): pairwise margin ranking (RankIQA) and
  Thurstone fidelity (UNIQUE / LIQE) losses over all pairs of the batch;
- ``soft_spearman`` (:mod:`gmc.losses.spearman`): 1 - PLCC of soft prediction ranks and label ranks;
- ``asna_surrogate`` (:mod:`gmc.losses.asna_surrogate`): ASNA's surrogate ranking loss (docs asna.md),
  MSE + (1 - r^2) + the squared distance of the ranks a frozen pre-trained sorter network
  (:mod:`gmc.losses.sorter`) gives labels and predictions; the batch size must equal the sorter's length
  (:func:`gmc.losses.asna_check.check_sorter_batch_size`, light, for the config check).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from gmc.registry import Registry


@dataclass(frozen=True)
class LossCard:
    """A registered loss: ``target`` ("module:Class"), the ``options`` its constructor accepts, and
    whether the constructor also takes ``n_train``."""

    name: str
    target: str
    options: tuple[str, ...] = ()
    takes_n_train: bool = False
    description: str = ""

    def load(self) -> type:
        """Import and return the loss class (imports torch)."""
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def unknown_options(self, options: dict) -> list[str]:
        return sorted(set(options) - set(self.options))


LOSSES: Registry[LossCard] = Registry("loss")


def register_loss(
    name: str,
    target: str,
    *,
    options: tuple[str, ...] = (),
    takes_n_train: bool = False,
    description: str = "",
) -> LossCard:
    """Register the loss class ``target`` ("module:Class") under ``name``."""
    card = LossCard(name, target, tuple(options), takes_n_train, description)
    LOSSES.register(name, card)
    return card


def build_loss(name: str, *, n_train: int | None = None, **options):
    """Build the loss registered as ``name`` with ``options`` (its constructor's keyword arguments).

    ``n_train`` is forwarded only to losses that take it. An unknown name raises the registry's
    ``UnknownNameError`` (a ``KeyError`` listing the valid names); an unknown option raises ``TypeError``
    listing the options the loss accepts."""
    card = LOSSES.get(name)
    unknown = card.unknown_options(options)
    if unknown:
        raise TypeError(
            f"loss {name!r} got unknown option(s) {', '.join(unknown)}; "
            f"valid options: {', '.join(card.options) or '(none)'}"
        )
    if card.takes_n_train:
        options["n_train"] = n_train
    return card.load()(**options)


register_loss("mse", "gmc.losses.basic:MSELoss", description="mean squared error")
register_loss("l1", "gmc.losses.basic:L1Loss", description="mean absolute error")
register_loss("plcc", "gmc.losses.basic:PLCCLoss", options=("eps",), description="1 - PLCC over the batch")
register_loss(
    "gcc",
    "gmc.losses.gcc:GCCLoss",
    options=(
        "alpha",
        "beta",
        "gamma",
        "tau",
        "form",
        "lam",
        "correlation",
        "queue_size",
        "queue_ratio",
        "eps",
    ),
    takes_n_train=True,
    description="GMC-IQA global correlation consistency loss (PLCC and soft SROCC terms times MSE)",
)

register_loss(
    "nin",
    "gmc.losses.norm_in_norm:NormInNormLoss",
    options=("p", "q", "eps"),
    description="norm-in-norm: p-norm of the difference of centred, q-normalised pred and label",
)
register_loss(
    "rank_hinge",
    "gmc.losses.pairwise:RankHingeLoss",
    options=("margin",),
    description="pairwise margin ranking loss over all label-ordered pairs of the batch",
)
register_loss(
    "fidelity",
    "gmc.losses.pairwise:FidelityLoss",
    options=("label_std", "eps"),
    description="pairwise fidelity loss of Thurstone probabilities (UNIQUE / LIQE)",
)
register_loss(
    "soft_spearman",
    "gmc.losses.spearman:SoftSpearmanLoss",
    options=("tau", "eps"),
    description="1 - PLCC(soft rank of pred, rank of label): a differentiable Spearman loss",
)
register_loss(
    "asna_surrogate",
    "gmc.losses.asna_surrogate:ASNASurrogateLoss",
    options=("w_mse", "w_sp", "sorter"),
    description="ASNA surrogate ranking loss: MSE, 1 - r^2 and MSE of the ranks of a frozen sorter network",
)

__all__ = ["LOSSES", "LossCard", "build_loss", "register_loss"]
