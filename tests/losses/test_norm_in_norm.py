"""Norm-in-norm loss: hand-worked values, a float64 numpy reference, invariances, gradients, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gmc.losses import build_loss
from gmc.losses.norm_in_norm import NormInNormLoss


def ref_nin(pred: np.ndarray, target: np.ndarray, p: float = 1.0, q: float = 2.0) -> float:
    """The paper's formula in numpy (np.linalg.norm for both norms)."""
    s_hat = (pred - pred.mean()) / np.linalg.norm(pred - pred.mean(), ord=q)
    s = (target - target.mean()) / np.linalg.norm(target - target.mean(), ord=q)
    c = 2 * len(pred) ** max(0.0, 1 / p - 1 / q)
    return float((np.linalg.norm(s_hat - s, ord=p) / c) ** p)


def test_defaults_are_the_papers_p1_q2():
    loss = build_loss("nin")
    assert isinstance(loss, NormInNormLoss) and (loss.p, loss.q) == (1.0, 2.0)


def test_hand_worked_values():
    # pred [1, 2, 3] -> s_hat = [-1, 0, 1] / sqrt(2); label [1, 3, 2] -> s = [-1, 1, 0] / sqrt(2)
    # |s_hat - s|_1 = 2 / sqrt(2) = sqrt(2); c = 2 * 3^(1 - 1/2) = 2 sqrt(3); L = sqrt(2) / (2 sqrt(3))
    pred = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    assert build_loss("nin")(pred, torch.tensor([1.0, 3.0, 2.0])).item() == pytest.approx(1 / math.sqrt(6))
    # reversed labels: s = -s_hat, |2 s_hat|_1 = 2 sqrt(2), L = 2 sqrt(2) / (2 sqrt(3)) = sqrt(2/3)
    assert build_loss("nin")(pred, torch.tensor([3.0, 2.0, 1.0])).item() == pytest.approx(math.sqrt(2 / 3))
    # p = q = 2: c = 2, L = |s_hat - s|_2^2 / 4 = (1 - PLCC) / 2  (both unit 2-norm vectors)
    assert build_loss("nin", p=2)(pred, torch.tensor([1.0, 3.0, 2.0])).item() == pytest.approx((1 - 0.5) / 2)


@pytest.mark.parametrize(("p", "q"), [(1, 2), (2, 2), (1, 1), (2, 1), (3, 1.5)])
def test_matches_float64_reference(p, q):
    rng = np.random.default_rng(0)
    y = rng.random(13)
    pred = 3 * y + rng.standard_normal(13)
    got = build_loss("nin", p=p, q=q)(torch.tensor(pred), torch.tensor(y)).item()
    assert got == pytest.approx(ref_nin(pred, y, p, q), rel=1e-12)
    assert 0 <= got <= 1


def test_invariant_to_shift_and_positive_scale_of_pred():
    rng = np.random.default_rng(1)
    y, pred = torch.tensor(rng.random(9)), torch.tensor(rng.random(9))
    loss = build_loss("nin")
    assert loss(5 + 7 * pred, y).item() == pytest.approx(loss(pred, y).item(), rel=1e-12)


@pytest.mark.parametrize(("p", "q"), [(1, 2), (2, 2), (2, 3)])
def test_gradcheck_float64(p, q):
    rng = np.random.default_rng(2)
    pred = torch.tensor(rng.random(7), requires_grad=True)
    y = torch.tensor(rng.random(7))
    assert torch.autograd.gradcheck(lambda x: NormInNormLoss(p, q)(x, y), (pred,))


def test_edge_cases():
    loss = build_loss("nin")
    assert loss(torch.tensor([0.4]), torch.tensor([0.9])).item() == 0.0  # B = 1: both normalise to 0
    # constant prediction (B = 3): s_hat = 0, L = |s|_1 / (2 sqrt(3)) with s = [-1, 0, 1] / sqrt(2)
    pred = torch.full((3,), 0.2, dtype=torch.float64, requires_grad=True)
    out = loss(pred, torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64))
    assert out.item() == pytest.approx(math.sqrt(2) / (2 * math.sqrt(3)))
    out.backward()
    assert torch.isfinite(pred.grad).all()
    # B = 2: normalised to [-1, 1] / sqrt(2) each; same order 0, reversed |2 s|_1 / (2 sqrt 2) = 1
    assert loss(torch.tensor([0.1, 0.7]), torch.tensor([2.0, 3.0])).item() == pytest.approx(0.0, abs=1e-7)
    assert loss(torch.tensor([0.7, 0.1]), torch.tensor([2.0, 3.0])).item() == pytest.approx(1.0)


@pytest.mark.parametrize("options", [{"p": 0.5}, {"q": 0}, {"eps": 0}])
def test_bad_options(options):
    with pytest.raises(ValueError, match="nin"):
        build_loss("nin", **options)
