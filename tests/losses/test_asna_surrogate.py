"""ASNA's surrogate ranking loss (gmc.losses.asna_surrogate) and its light batch-size check."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from gmc.errors import ConfigError
from gmc.losses import build_loss
from gmc.losses.asna_check import check_sorter_batch_size
from gmc.losses.asna_surrogate import ASNASurrogateLoss
from gmc.losses.sorter import Sorter, pretrain_sorter, save_sorter

N = 16


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sorter() -> Sorter:
    """A small trained sorter of length 16 (1,000 vectors x 2 epochs, ~4 s; held-out accuracy ~0.12)."""
    torch.set_num_threads(1)
    result = pretrain_sorter(N, n_vectors=1000, epochs=2, batch_size=16, lr=2e-3, lr_step=100, seed=0)
    assert result.accuracy < 0.25
    return result.model


def numpy_reference(p: np.ndarray, y: np.ndarray, w_mse: float) -> float:
    """``w_mse * MSE + (1 - w_mse) * (1 - r^2)`` in float64 numpy (np.corrcoef for r)."""
    r = np.clip(np.corrcoef(p, y)[0, 1], -1, 1)
    return w_mse * np.mean((p - y) ** 2) + (1 - w_mse) * (1 - r**2)


def test_hand_worked_mse_and_pearson_terms():
    """p = [1, 2, 3, 4], y = [1, 3, 2, 4]: MSE = (0 + 1 + 1 + 0) / 4 = 0.5; centred p = (-1.5, -0.5, 0.5,
    1.5), centred y = (-1.5, 0.5, -0.5, 1.5), sum of products 4, sums of squares 5 and 5, so r = 0.8 and
    1 - r^2 = 0.36."""
    p = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    y = torch.tensor([1.0, 3.0, 2.0, 4.0], dtype=torch.float64)
    for w_mse, expected in ((1.0, 0.5), (0.0, 0.36), (0.5, 0.5 * 0.5 + 0.5 * 0.36), (0.25, 0.125 + 0.27)):
        loss = ASNASurrogateLoss(w_mse=w_mse, w_sp=0.0)
        assert loss(p, y).item() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("w_mse", [1.0, 0.7, 0.0])
def test_mse_and_pearson_terms_match_numpy_float64(w_mse):
    rng = np.random.default_rng(2)
    y = rng.standard_normal(N)
    p = 0.5 * y + rng.standard_normal(N)
    out = build_loss("asna_surrogate", w_mse=w_mse, w_sp=0.0)(torch.tensor(p)[:, None], torch.tensor(y))
    assert out.dtype == torch.float64
    assert out.item() == pytest.approx(numpy_reference(p, y, w_mse), abs=1e-12)
    # with w_sp = 0 any batch size is fine (no sorter)
    assert build_loss("asna_surrogate", w_sp=0.0)(torch.tensor(p[:5]), torch.tensor(y[:5])).item() == (
        pytest.approx(np.mean((p[:5] - y[:5]) ** 2), abs=1e-12)
    )


def permutation_with_spearman(y: np.ndarray, values: np.ndarray, swaps: int, rng) -> np.ndarray:
    """``values`` arranged in the order of ``y``, then ``swaps`` random transpositions applied."""
    order = np.argsort(np.argsort(y))
    out = np.sort(values)[order]
    for _ in range(swaps):
        i, j = rng.choice(len(out), 2, replace=False)
        out[i], out[j] = out[j], out[i]
    return out


def test_loss_decreases_as_predictions_are_reordered_towards_the_labels(sorter):
    """Predictions holding the same values, arranged from the reverse of the labels' order to their order:
    the sorter's rank term falls as the Spearman correlation rises, and so does the whole loss."""
    rng = np.random.default_rng(0)
    y = rng.standard_normal(N)
    values = rng.standard_normal(N) * 1.2 + 0.1
    ordered = permutation_with_spearman(y, values, 0, rng)
    reversed_ = np.sort(values)[::-1][np.argsort(np.argsort(y))]
    shuffled = rng.permutation(values)
    partly = permutation_with_spearman(y, values, 3, rng)
    candidates = [reversed_, shuffled, partly, ordered]
    rhos = [np.corrcoef(np.argsort(np.argsort(c)), np.argsort(np.argsort(y)))[0, 1] for c in candidates]
    assert rhos == sorted(rhos) and rhos[0] == pytest.approx(-1) and rhos[-1] == pytest.approx(1)
    loss = ASNASurrogateLoss(w_mse=1.0, w_sp=0.01, sorter=sorter)
    yt = torch.tensor(y, dtype=torch.float32)
    ranks = [loss.terms(torch.tensor(c, dtype=torch.float32), yt)["rank"].item() for c in candidates]
    totals = [loss(torch.tensor(c, dtype=torch.float32), yt).item() for c in candidates]
    print(f"spearman {np.round(rhos, 3)}; rank term {np.round(ranks, 2)}; loss {np.round(totals, 4)}")
    assert ranks == sorted(ranks, reverse=True) and totals == sorted(totals, reverse=True)
    # an exact sorter would give 42.5 (1 - rho) = 85, 42.5, 3.6, 0 (measured 53, 34, 4.9, 0.4: the small
    # sorter compresses extreme ranks towards the middle, which shrinks the reversed case most)
    assert ranks[0] > 42.5 and ranks[-1] < 42.5 * 0.05


def test_sorter_gets_no_gradient_and_the_gradient_flows_through_it(sorter):
    rng = np.random.default_rng(1)
    y = torch.tensor(rng.standard_normal(N), dtype=torch.float32)
    p0 = torch.tensor(rng.standard_normal(N), dtype=torch.float32)
    sorter.zero_grad(set_to_none=True)
    grads = {}
    for w_sp in (0.0, 0.01):
        p = p0.clone().requires_grad_(True)
        ASNASurrogateLoss(w_sp=w_sp, sorter=sorter)(p, y).backward()
        grads[w_sp] = p.grad
    assert all(param.grad is None and not param.requires_grad for param in sorter.parameters())
    rank_grad = grads[0.01] - grads[0.0]  # the ranking term's own gradient, through the sorter
    assert rank_grad.abs().sum() > 1e-4
    # its direction: a small step along -gradient lowers the ranking term
    loss = ASNASurrogateLoss(w_mse=1.0, w_sp=1.0, sorter=sorter)
    before = loss.terms(p0, y)["rank"].item()
    after = loss.terms(p0 - 1e-3 * rank_grad / rank_grad.norm(), y)["rank"].item()
    assert after < before


def test_sorter_stays_in_eval_mode_and_its_statistics_do_not_move(sorter):
    loss = ASNASurrogateLoss(sorter=sorter)
    loss.train()
    assert loss.training and not sorter.training
    stats_before = {k: v.clone() for k, v in sorter.state_dict().items()}
    loss(torch.randn(N), torch.randn(N)).item()
    assert all(torch.equal(v, stats_before[k]) for k, v in sorter.state_dict().items())


def test_batch_size_other_than_the_sorter_length_is_a_clear_error(sorter):
    loss = ASNASurrogateLoss(sorter=sorter)
    with pytest.raises(
        ValueError, match=r"batch size 8 differs from the length of the ASNA sorter \(16\)"
    ) as e:
        loss(torch.randn(8), torch.randn(8))
    assert "train.batch_size to 16" in str(e.value) and "sorter of length 8" in str(e.value)


def test_static_batch_size_check():
    check_sorter_batch_size(16, 16)
    with pytest.raises(
        ConfigError, match=r"train\.batch_size: batch size 32 .* \(16\).*set train\.batch_size to 16"
    ):
        check_sorter_batch_size(32, 16)
    code = "import sys, gmc.losses.asna_check; print([m for m in sys.modules if m.startswith('torch')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_sorter_from_a_checkpoint_path_gives_the_same_loss(tmp_path, sorter):
    path = tmp_path / "sorter16.pt"
    save_sorter(path, sorter, {"length": N})
    from_path = build_loss("asna_surrogate", sorter=str(path))
    assert from_path.length == N and str(path) in repr(from_path)
    p, y = torch.randn(N), torch.randn(N)
    assert from_path(p, y).item() == pytest.approx(ASNASurrogateLoss(sorter=sorter)(p, y).item(), abs=1e-7)
    assert set(from_path.state_dict()) == {f"sorter.{k}" for k in sorter.state_dict()}


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match=r"w_sp=0\.01 needs a pre-trained sorter.*'sorter'"):
        build_loss("asna_surrogate")
    with pytest.raises(ConfigError, match="w_mse must be in"):
        ASNASurrogateLoss(w_mse=1.5, w_sp=0.0)
    with pytest.raises(ConfigError, match="w_sp must be >= 0"):
        ASNASurrogateLoss(w_sp=-1.0)


def test_half_input_constant_batch_and_column_pred(sorter):
    loss = ASNASurrogateLoss(w_mse=0.5, w_sp=0.01, sorter=sorter)
    p = torch.full((N, 1), 0.3, dtype=torch.float16, requires_grad=True)
    out = loss(p, torch.linspace(0, 1, N))
    out.backward()
    assert out.dtype == torch.float32 and torch.isfinite(out) and torch.isfinite(p.grad).all()
