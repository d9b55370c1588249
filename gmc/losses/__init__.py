"""Loss registry: every training loss is an ``nn.Module`` registered under a name.

A loss is called as ``loss_fn(pred, target)`` with ``pred`` of shape (B,) or (B, 1) and ``target`` of
shape (B,), and returns a scalar tensor. Build one with :func:`build_loss`; the training engine passes
``n_train`` (the training-set size) to every loss, and only losses whose constructor takes ``n_train``
(GCC, for ``queue_ratio``) receive it.

Registered: ``mse``, ``l1``, ``plcc`` (:mod:`gmc.losses.basic`) and ``gcc`` (:mod:`gmc.losses.gcc`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import nn

from gmc.registry import Registry

LossFactory = Callable[..., nn.Module]

LOSSES: Registry[LossFactory] = Registry("loss")


def register_loss(name: str) -> Callable[[LossFactory], LossFactory]:
    """Decorator registering a loss class (or factory) ``build(**options) -> nn.Module`` under ``name``."""

    def _wrap(factory: LossFactory) -> LossFactory:
        LOSSES.register(name, factory)
        return factory

    return _wrap


def build_loss(name: str, *, n_train: int | None = None, **options) -> nn.Module:
    """Build the loss registered as ``name`` with ``options`` (its constructor's keyword arguments).

    ``n_train`` is forwarded only to losses that accept it. An unknown name raises the registry's
    ``UnknownNameError`` (a ``KeyError`` listing the valid names); an unknown option raises ``TypeError``
    listing the options the loss accepts.
    """
    factory = LOSSES.get(name)
    if isinstance(factory, type) and factory.__init__ is nn.Module.__init__:
        params = {}  # a module without its own __init__ takes no options
    else:
        params = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = [
        p_name
        for p_name, p in params.items()
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        and p_name != "n_train"
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown and not takes_any:
        raise TypeError(
            f"loss {name!r} got unknown option(s) {', '.join(unknown)}; "
            f"valid options: {', '.join(accepted) or '(none)'}"
        )
    if "n_train" in params or takes_any:
        options["n_train"] = n_train
    return factory(**options)


# Import the implementations so that they register themselves.
from gmc.losses import basic, gcc  # noqa: E402, F401
from gmc.losses.gcc import GCCLoss  # noqa: E402

__all__ = ["LOSSES", "GCCLoss", "build_loss", "register_loss"]
