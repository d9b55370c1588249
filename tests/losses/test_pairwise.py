"""rank_hinge and fidelity: hand-worked values and gradients, float64 references written as loops over
pairs (scipy's ndtr for Phi), gradients, ties and degenerate batches."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import special

from gmc.losses import build_loss
from gmc.losses.pairwise import FidelityLoss

# ------------------------------------------------------------------------------ independent references


def ref_rank_hinge(pred, target, margin: float) -> float:
    terms = [
        max(0.0, -np.sign(target[i] - target[j]) * (pred[i] - pred[j]) + margin)
        for i, j in itertools.permutations(range(len(pred)), 2)  # ordered pairs: the mean is the same
        if target[i] != target[j]
    ]
    return float(np.mean(terms)) if terms else 0.0


def ref_fidelity(pred, target, label_std=None) -> float:
    terms = []
    for i, j in itertools.combinations(range(len(pred)), 2):
        big_p = special.ndtr((pred[i] - pred[j]) / math.sqrt(2))
        if label_std is None:
            g = 1.0 if target[i] > target[j] else (0.5 if target[i] == target[j] else 0.0)
        else:
            g = special.ndtr((target[i] - target[j]) / math.sqrt(2 * label_std**2))
        terms.append(1 - math.sqrt(g * big_p) - math.sqrt((1 - g) * (1 - big_p)))
    return float(np.mean(terms)) if terms else 0.0


def batch(seed: int, n: int = 10, ties: bool = True):
    rng = np.random.default_rng(seed)
    y = rng.integers(1, 6, n).astype(float) if ties else rng.random(n)  # integer MOS: many ties
    pred = 0.3 * y + rng.standard_normal(n)
    return pred, y


# ----------------------------------------------------------------------------------------- rank_hinge


def test_rank_hinge_hand_worked_value_and_gradient():
    # pairs (0,1): y0 > y1, p0 - p1 = 0.05 -> 0.1 - 0.05 = 0.05; (0,2): y0 > y2, p0 - p2 = 0.4 -> 0;
    # (1,2): y1 < y2, p1 - p2 = 0.35 -> 0.35 + 0.1 = 0.45; mean over 3 pairs = 0.5 / 3
    pred = torch.tensor([0.5, 0.45, 0.1], dtype=torch.float64, requires_grad=True)
    out = build_loss("rank_hinge")(pred, torch.tensor([3.0, 1.0, 2.0]))
    assert out.item() == pytest.approx(0.5 / 3)
    out.backward()  # d/dp of (-(p0 - p1) + 0.1) + ((p1 - p2) + 0.1), over 3 pairs
    assert pred.grad.tolist() == pytest.approx([-1 / 3, 2 / 3, -1 / 3])


def test_rank_hinge_excludes_tied_pairs():
    # the tied pair (1, 2) would add 0.1 + |p1 - p2| if it counted; the others: (0,1) 0, (0,2) 0.1 - 0.05
    pred = torch.tensor([0.3, 0.0, 0.25])
    out = build_loss("rank_hinge")(pred, torch.tensor([2.0, 1.0, 1.0]))
    assert out.item() == pytest.approx(0.05 / 2)


@pytest.mark.parametrize("margin", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("ties", [True, False])
def test_rank_hinge_matches_reference(margin, ties):
    pred, y = batch(3, ties=ties)
    got = build_loss("rank_hinge", margin=margin)(torch.tensor(pred), torch.tensor(y)).item()
    assert got == pytest.approx(ref_rank_hinge(pred, y, margin), rel=1e-12)


def test_rank_hinge_degenerate_batches():
    loss = build_loss("rank_hinge")
    for pred, y in (([0.4], [0.2]), ([0.1, 0.9, 0.3], [0.5, 0.5, 0.5])):  # B = 1, all labels tied
        p = torch.tensor(pred, requires_grad=True)
        out = loss(p, torch.tensor(y))
        out.backward()
        assert out.item() == 0.0 and p.grad.tolist() == [0.0] * len(pred)
    # constant prediction: every ordered pair costs exactly the margin
    p = torch.full((4,), 0.3, requires_grad=True)
    assert loss(p, torch.tensor([0.1, 0.2, 0.3, 0.4])).item() == pytest.approx(0.1)


# ------------------------------------------------------------------------------------------- fidelity


def test_fidelity_hand_worked_values():
    loss = build_loss("fidelity")
    # equal predictions, ordered labels: P = 0.5, g = 1 -> 1 - sqrt(0.5)
    assert loss(torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.0])).item() == pytest.approx(
        1 - math.sqrt(0.5)
    )
    # equal predictions, tied labels: P = g = 0.5 -> 1 - 0.5 - 0.5 = 0
    assert loss(torch.tensor([0.3, 0.3]), torch.tensor([2.0, 2.0])).item() == pytest.approx(0.0, abs=1e-7)
    # p_i - p_j = sqrt(2) * 1.0 -> P = Phi(1) = 0.841344746...; g = 1 -> 1 - sqrt(P)
    d = math.sqrt(2.0)
    assert loss(torch.tensor([d, 0.0]), torch.tensor([1.0, 0.0])).item() == pytest.approx(
        1 - math.sqrt(0.8413447460685429), rel=1e-6
    )
    # label_std s = 1/sqrt(2) and a label gap of 1: g = Phi(1) = P -> the term is 0
    std = build_loss("fidelity", label_std=1 / math.sqrt(2))
    assert std(torch.tensor([d, 0.0]), torch.tensor([1.0, 0.0])).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("label_std", [None, 0.5, 2.0])
@pytest.mark.parametrize("ties", [True, False])
def test_fidelity_matches_reference(label_std, ties):
    pred, y = batch(4, ties=ties)
    got = build_loss("fidelity", label_std=label_std)(torch.tensor(pred), torch.tensor(y)).item()
    assert got == pytest.approx(ref_fidelity(pred, y, label_std), rel=1e-10)
    assert 0 <= got <= 1


@pytest.mark.parametrize("label_std", [None, 0.7])
def test_fidelity_gradcheck_float64(label_std):
    pred, y = batch(5, n=6)
    x = torch.tensor(pred, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: FidelityLoss(label_std)(v, torch.tensor(y)), (x,))


def test_fidelity_degenerate_batches_and_underflow():
    loss = build_loss("fidelity")
    p = torch.tensor([0.4], requires_grad=True)
    out = loss(p, torch.tensor([0.2]))
    out.backward()
    assert out.item() == 0.0 and p.grad.tolist() == [0.0]  # B = 1: no pair
    # a pair so wrong that P underflows in float32: finite value (about 1) and finite gradient
    p = torch.tensor([0.0, 40.0], requires_grad=True)
    out = loss(p, torch.tensor([1.0, 0.0]))
    out.backward()
    assert out.item() == pytest.approx(1.0, abs=1e-3) and torch.isfinite(p.grad).all()


@pytest.mark.parametrize(
    ("name", "options"),
    [("rank_hinge", {"margin": -1}), ("fidelity", {"label_std": 0}), ("fidelity", {"eps": 0})],
)
def test_bad_options(name, options):
    with pytest.raises(ValueError, match=name):
        build_loss(name, **options)
