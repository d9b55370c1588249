"""ASNA's sorter (gmc.losses.sorter): synthetic data, the accuracy measure, pre-training at a small demo
setting, determinism and the checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from gmc.errors import InputFileError
from gmc.losses.sorter import (
    SORTER_FORMAT,
    Sorter,
    exact_ranks,
    heldout_pairs,
    load_sorter,
    pretrain_sorter,
    save_sorter,
    sorter_accuracy,
    spearman_from_ranks,
    step_decay,
    synthetic_vectors,
)

#: the demo setting of the learning test: 2,000 vectors x 3 epochs, batch 32, lr 2e-3 without decay
#: (about 10 s on one thread). Measured accuracy (mean |rho_exact - rho_sorter| over 1,000 held-out
#: pairs): 0.09 at seeds 0 and 1; an untrained sorter: ~1.0 (its outputs are nearly equal, so rho_sorter
#: ~ 1). The bound leaves a factor ~2 for other platforms' floating point, and stays far below an
#: untrained sorter's error.
DEMO = {"length": 16, "n_vectors": 2000, "epochs": 3, "batch_size": 32, "lr": 2e-3, "lr_step": 100}
ACCURACY_BOUND = 0.2


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    return pretrain_sorter(**DEMO, seed=0, n_heldout=1000)


def test_synthetic_vectors_follow_the_official_recipe():
    x, ranks = synthetic_vectors(4000, 16, seed=3)
    assert x.shape == ranks.shape == (4000, 16) and x.dtype == ranks.dtype == torch.float32
    normal, uniform = x[:2000].double().numpy(), x[2000:].double().numpy()
    assert normal.std() == pytest.approx(2.0, rel=0.03) and abs(normal.mean()) < 0.05
    assert uniform.min() >= -10 and uniform.max() <= 10
    assert uniform.std() == pytest.approx(20 / np.sqrt(12), rel=0.03)
    assert stats.kstest(uniform.ravel(), "uniform", args=(-10, 20)).pvalue > 1e-3
    expected = np.stack([stats.rankdata(row) for row in x.double().numpy()])
    np.testing.assert_array_equal(ranks.numpy(), expected)
    again, _ = synthetic_vectors(4000, 16, seed=3)
    other, _ = synthetic_vectors(4000, 16, seed=4)
    assert torch.equal(x, again) and not torch.equal(x, other)


def test_spearman_from_ranks_and_the_heldout_pairs_match_scipy():
    y, y_hat = heldout_pairs(300, 16, seed=(0, 1))
    rho = spearman_from_ranks(exact_ranks(y), exact_ranks(y_hat)).double().numpy()
    expected = [stats.spearmanr(a, b)[0] for a, b in zip(y.double().numpy(), y_hat.double().numpy())]
    np.testing.assert_allclose(rho, expected, atol=1e-6)
    assert rho.min() < -0.8 and rho.max() > 0.8  # the pairs span the whole range of correlations


class _Fixed(nn.Module):
    """A stand-in sorter: exact ranks, or a constant (every rank the same)."""

    def __init__(self, length: int, exact: bool) -> None:
        super().__init__()
        self.length, self.exact = length, exact
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return exact_ranks(x) if self.exact else torch.full_like(x, 8.5)


def test_accuracy_is_zero_for_exact_ranks_and_one_minus_rho_for_a_constant():
    assert sorter_accuracy(_Fixed(16, True), 500, seed=7) == pytest.approx(0.0, abs=1e-6)
    y, y_hat = heldout_pairs(500, 16, seed=7)
    rho = [stats.spearmanr(a, b)[0] for a, b in zip(y.double().numpy(), y_hat.double().numpy())]
    expected = np.mean(np.abs(np.asarray(rho) - 1.0))  # a constant sorter has rho_sorter = 1
    assert sorter_accuracy(_Fixed(16, False), 500, seed=7) == pytest.approx(expected, abs=1e-5)


def test_step_decay_is_the_official_schedule():
    rates = [step_decay(e, 1e-3, 30, 0.1) for e in range(100)]
    assert rates[0] == rates[28] == 1e-3  # lr * 0.1 ** floor((epoch + 1) / 30), 0-based epochs
    assert rates[29] == pytest.approx(1e-4) and rates[58] == pytest.approx(1e-4)
    assert rates[59] == pytest.approx(1e-5) and rates[89] == pytest.approx(1e-6)


def test_the_sorter_learns_ranks_at_the_demo_setting(trained):
    untrained = Sorter(16)
    untrained_error = sorter_accuracy(untrained, 1000, seed=(0, 1))
    print(
        f"sorter accuracy (mean |rho_exact - rho_sorter|): trained {trained.accuracy:.4f}, untrained "
        f"{untrained_error:.4f}, bound {ACCURACY_BOUND}; training L1 per epoch {trained.train_l1}"
    )
    assert untrained_error > ACCURACY_BOUND  # the measure can fail
    assert trained.accuracy < ACCURACY_BOUND
    assert trained.train_l1[-1] < trained.train_l1[0]
    assert not trained.model.training and trained.meta["accuracy"] == trained.accuracy
    # its outputs are ranks: on new vectors the mean absolute rank error (the training L1; measured 1.1)
    # is a small fraction of an untrained sorter's (measured 8.5: its outputs are near 0, the ranks 1..16)
    x, ranks = synthetic_vectors(500, 16, seed=99)
    with torch.no_grad():
        trained_mae = float((trained.model(x) - ranks).abs().mean())
        untrained_mae = float((untrained.eval()(x) - ranks).abs().mean())
    print(f"mean absolute rank error: trained {trained_mae:.3f}, untrained {untrained_mae:.3f}")
    assert trained_mae < 2.0 < 4.0 < untrained_mae


def test_pretraining_is_deterministic_and_leaves_the_global_rng_alone():
    tiny = {"length": 8, "n_vectors": 64, "epochs": 2, "batch_size": 16, "n_heldout": 50}
    state = torch.get_rng_state()
    a = pretrain_sorter(**tiny, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    b = pretrain_sorter(**tiny, seed=5)
    c = pretrain_sorter(**tiny, seed=6)
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa) and a.accuracy == b.accuracy
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_checkpoint_round_trip_with_weights_only(tmp_path, trained):
    path = tmp_path / "sorters" / "sorter16.pt"
    save_sorter(path, trained.model, trained.meta)
    assert [p.name for p in path.parent.iterdir()] == ["sorter16.pt"]  # no temporary file left
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == SORTER_FORMAT and raw["length"] == 16 and raw["meta"] == trained.meta
    model, meta = load_sorter(path)
    assert meta == trained.meta and model.length == 16 and not model.training
    assert not any(p.requires_grad for p in model.parameters())
    original = trained.model.state_dict()
    assert all(torch.equal(v, original[k]) for k, v in model.state_dict().items())
    x = torch.randn(5, 16)
    with torch.no_grad():
        assert torch.equal(model(x), trained.model(x))
    assert sorter_accuracy(model, 1000, seed=(0, 1)) == pytest.approx(trained.accuracy, abs=1e-7)


def test_missing_or_foreign_checkpoint_names_the_file(tmp_path):
    with pytest.raises(InputFileError, match=r"nope\.pt does not exist.*pretrain_sorter"):
        load_sorter(tmp_path / "nope.pt")
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(InputFileError, match=r"other\.pt is not a sorter checkpoint"):
        load_sorter(other)
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a checkpoint")
    with pytest.raises(InputFileError, match=r"garbage\.pt cannot be read"):
        load_sorter(garbage)


def test_sorter_shapes_and_bad_lengths():
    model = Sorter(10).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 10)).shape == (3, 10) and model(torch.randn(10)).shape == (10,)
    with pytest.raises(ValueError, match=r"input must be \(B, 10\), got \(3, 16\)"):
        model(torch.randn(3, 16))
    for bad in (1, 0, 16.0, True):
        with pytest.raises(ValueError, match="sorter length must be an integer >= 2"):
            Sorter(bad)
    assert sum(p.numel() for p in Sorter(16).parameters()) == 470_872


def test_the_demo_config_pre_trains_the_sorter_at_the_tested_setting():
    """config/config.yaml's `sorter:` is DEMO, so the bound checked above holds for the demo's sorter."""
    import yaml

    from tests.conftest import REPO

    sorter = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["sorter"]
    keys = {"vectors": "n_vectors"}
    assert {keys.get(k, k): v for k, v in sorter.items()} == DEMO
