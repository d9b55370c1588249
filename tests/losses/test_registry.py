"""Loss registry and the basic losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from gmc.losses import LOSSES, build_loss, register_loss
from gmc.losses.basic import L1Loss, MSELoss, PLCCLoss
from gmc.losses.gcc import GCCLoss
from gmc.registry import UnknownNameError

ZOO = ("nin", "rank_hinge", "fidelity", "soft_spearman")


def test_registered_names():
    assert {"gcc", "mse", "l1", "plcc", *ZOO} <= set(LOSSES.names())


def test_registering_imports_no_torch():
    """The cards are strings: importing the registry (what the config check does) loads no loss module."""
    import subprocess
    import sys

    code = "import sys, gmc.losses; print([m for m in sys.modules if m.startswith(('torch', 'gmc.losses.'))])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_build_gcc_and_mse():
    gcc = build_loss("gcc")
    assert isinstance(gcc, GCCLoss) and gcc.form == "multiplicative" and gcc.correlation == "batch_with_pool"
    assert (gcc.alpha, gcc.beta, gcc.gamma, gcc.tau) == (0.5, 0.5, 1.0, 1.0)
    mse = build_loss("mse", n_train=100)  # n_train is passed by the engine and ignored by mse
    assert isinstance(mse, MSELoss)
    p, y = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    assert mse(p, y).item() == pytest.approx(5 / 3)


def test_unknown_name_lists_valid_names():
    with pytest.raises(UnknownNameError) as err:
        build_loss("gccc")
    message = str(err.value)
    assert isinstance(err.value, KeyError)
    for name in ("gcc", "l1", "mse", "plcc"):
        assert name in message


def test_unknown_option_lists_valid_options():
    with pytest.raises(TypeError, match="queue_size"):
        build_loss("gcc", queue_length=10)
    with pytest.raises(TypeError, match="unknown option"):
        build_loss("mse", tau=1.0)


def test_register_twice_is_an_error():
    with pytest.raises(ValueError, match="twice"):
        register_loss("mse", "gmc.losses.basic:L1Loss")


@pytest.mark.parametrize("name", LOSSES.names())
def test_card_declares_exactly_the_constructor_options(name):
    """The light card (read by the config check without importing torch) must list the options the loss
    class really takes: checked against the class's own signature."""
    import inspect

    card = LOSSES.get(name)
    cls = card.load()
    params = {} if cls.__init__ is torch.nn.Module.__init__ else inspect.signature(cls).parameters
    assert set(card.options) == set(params) - {"n_train"}
    assert card.takes_n_train == ("n_train" in params)


@pytest.mark.parametrize(
    "options",
    [{"form": "additive", "lam": 0.5}, {"correlation": "full_pool"}, {"queue_ratio": 0.01}],
)
def test_gcc_variants_run(options):
    loss = build_loss("gcc", n_train=500, **options)
    for _ in range(3):
        p = torch.rand(6, requires_grad=True)
        out = loss(p, torch.rand(6))
        out.backward()
        assert torch.isfinite(out) and torch.isfinite(p.grad).all()


def test_additive_form_formula():
    rng = np.random.default_rng(0)
    y = rng.random(10)
    p = y + 0.3 * rng.standard_normal(10)
    mult = build_loss("gcc", queue_size=0)
    add = build_loss("gcc", queue_size=0, form="additive", lam=0.5)
    t = mult.terms(torch.tensor(p), torch.tensor(y))
    expected = t["mse"] + 0.5 * (0.5 * t["pgc"] + 0.5 * t["sgc"])
    assert add(torch.tensor(p), torch.tensor(y)).item() == pytest.approx(expected.item(), abs=1e-12)


def test_basic_losses_values():
    rng = np.random.default_rng(1)
    y = rng.random(12)
    p = y + 0.3 * rng.standard_normal(12)
    pt, yt = torch.tensor(p)[:, None], torch.tensor(y)
    assert build_loss("l1")(pt, yt).item() == pytest.approx(np.mean(np.abs(p - y)))
    assert isinstance(build_loss("l1"), L1Loss)
    plcc = build_loss("plcc", n_train=5)
    assert isinstance(plcc, PLCCLoss)
    assert plcc(pt, yt).item() == pytest.approx(1 - stats.pearsonr(p, y)[0])


@pytest.mark.parametrize("name", ["mse", "l1", "plcc"])
@pytest.mark.parametrize("values", [[0.4], [0.4, 0.4], [0.2, 0.2, 0.2]])
def test_basic_losses_degenerate_batches_finite(name, values):
    p = torch.tensor(values, requires_grad=True)
    out = build_loss(name)(p, torch.tensor(values) + 0.1)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(p.grad).all()


def test_basic_losses_cast_half_up():
    p = torch.rand(4, dtype=torch.float16)
    for name in ("mse", "l1", "plcc"):
        assert build_loss(name)(p, p.float()).dtype == torch.float32


@pytest.mark.parametrize("name", ZOO)
@pytest.mark.parametrize(
    ("pred", "target"),
    [
        ([0.4], [0.1]),
        ([0.4, 0.4], [0.1, 0.3]),
        ([0.2, 0.2, 0.2], [0.1, 0.5, 0.9]),
        ([0.1, 0.5, 0.3], [0.2] * 3),
    ],
)
@pytest.mark.parametrize("shape", ["flat", "column"])
def test_zoo_degenerate_batches_give_a_finite_scalar(name, pred, target, shape):
    """B = 1, B = 2 with a constant prediction, constant prediction, constant label; (B,) and (B, 1) pred.
    The values in these cases are checked in each loss's own test file."""
    p = torch.tensor(pred, requires_grad=True)
    out = build_loss(name)(p if shape == "flat" else p[:, None], torch.tensor(target))
    out.backward()
    assert out.dim() == 0 and torch.isfinite(out) and torch.isfinite(p.grad).all()


@pytest.mark.parametrize("name", ZOO)
def test_zoo_casts_half_up_and_rejects_bad_shapes(name):
    loss = build_loss(name)
    p = torch.rand(5, dtype=torch.float16)
    assert loss(p, p.float()).dtype == torch.float32
    with pytest.raises(ValueError, match="batch size"):
        loss(torch.rand(4), torch.rand(5))
