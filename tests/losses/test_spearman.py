"""soft_spearman: a float64 reference (scipy's ndtr and rankdata, numpy's corrcoef), convergence to
1 - scipy.stats.spearmanr as tau -> 0, gradients, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import special, stats

from gmc.losses import build_loss
from gmc.losses.spearman import SoftSpearmanLoss, average_rank


def ref_soft_spearman(pred: np.ndarray, target: np.ndarray, tau: float = 1.0) -> float:
    z = (pred - pred.mean()) / pred.std(ddof=1)
    soft = special.ndtr((z[:, None] - z[None, :]) / tau).sum(axis=1)
    return float(1 - np.corrcoef(soft, stats.rankdata(target))[0, 1])


def data(seed: int, n: int = 12, ties: bool = False):
    rng = np.random.default_rng(seed)
    y = rng.integers(1, 5, n).astype(float) if ties else rng.random(n)
    return y + 0.4 * rng.standard_normal(n), y


def test_average_rank_is_scipys_rankdata():
    x = np.array([3.0, 1.0, 2.0, 3.0, 0.5, 2.0, 2.0])
    assert average_rank(torch.tensor(x)).tolist() == stats.rankdata(x).tolist()


@pytest.mark.parametrize("tau", [0.3, 1.0, 2.0])
@pytest.mark.parametrize("ties", [False, True])
def test_matches_float64_reference(tau, ties):
    pred, y = data(0, ties=ties)
    got = build_loss("soft_spearman", tau=tau)(torch.tensor(pred), torch.tensor(y)).item()
    assert got == pytest.approx(ref_soft_spearman(pred, y, tau), rel=1e-10)


@pytest.mark.parametrize("ties", [False, True])
def test_tends_to_one_minus_spearman_as_tau_goes_to_zero(ties):
    pred, y = data(1, n=30, ties=ties)
    if ties:
        pred[:5] = pred[0]  # ties in the predictions too: soft ranks tend to average ranks
    exact = 1 - stats.spearmanr(pred, y).statistic
    errors = [
        abs(build_loss("soft_spearman", tau=tau)(torch.tensor(pred), torch.tensor(y)).item() - exact)
        for tau in (1.0, 0.1, 1e-4)
    ]
    assert errors[2] < 1e-9
    assert errors[0] > 1e-3  # at tau = 1 the soft rank is really soft (the test above can tell them apart)


def test_gradcheck_float64():
    pred, y = data(2, n=8)
    x = torch.tensor(pred, requires_grad=True)
    for tau in (0.5, 1.0):
        assert torch.autograd.gradcheck(lambda v, t=tau: SoftSpearmanLoss(t)(v, torch.tensor(y)), (x,))


def test_gradient_improves_the_ranking():
    """One small gradient step on a reversed batch lowers the loss (the sign of the gradient is right)."""
    y = torch.linspace(0, 1, 6, dtype=torch.float64)
    pred = y.flip(0).clone().requires_grad_(True)
    loss = build_loss("soft_spearman")
    out = loss(pred, y)
    out.backward()
    assert loss(pred.detach() - 0.01 * pred.grad, y).item() < out.item()


def test_edge_cases():
    loss = build_loss("soft_spearman")
    assert loss(torch.tensor([0.3]), torch.tensor([0.5])).item() == pytest.approx(1.0)  # B = 1
    assert loss(torch.tensor([0.1, 0.2]), torch.tensor([1.0, 2.0])).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(torch.tensor([0.2, 0.1]), torch.tensor([1.0, 2.0])).item() == pytest.approx(2.0)
    assert loss(torch.tensor([0.2, 0.1]), torch.tensor([1.0, 1.0])).item() == pytest.approx(1.0)  # tie
    for pred, y in (([0.4, 0.4, 0.4], [0.1, 0.2, 0.3]), ([0.1, 0.3, 0.2], [0.5, 0.5, 0.5])):  # constant
        p = torch.tensor(pred, requires_grad=True)
        out = loss(p, torch.tensor(y))
        out.backward()
        assert out.item() == pytest.approx(1.0) and torch.isfinite(p.grad).all()


@pytest.mark.parametrize("options", [{"tau": 0}, {"eps": -1}])
def test_bad_options(options):
    with pytest.raises(ValueError, match="soft_spearman"):
        build_loss("soft_spearman", **options)
