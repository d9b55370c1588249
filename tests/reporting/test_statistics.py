"""Tests of gmc.reporting.statistics: against direct scipy calls and hand-worked cases."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gmc.reporting import statistics as st


def test_holm_hand_worked():
    # m = 4: sorted 0.01, 0.02, 0.03, 0.04 -> 4*0.01, 3*0.02, 2*0.03, 1*0.04 = 0.04, 0.06, 0.06, 0.04
    # running max -> 0.04, 0.06, 0.06, 0.06; given in shuffled order
    got = st.holm([0.03, 0.01, 0.04, 0.02])
    np.testing.assert_allclose(got, [0.06, 0.04, 0.06, 0.06])


def test_holm_caps_at_one_and_keeps_nan_out_of_m():
    # m = 2 (NaN excluded): 2*0.3 = 0.6, max(0.6, 1*0.8) = 0.8; 0.7 * 2 = ... capped at 1
    got = st.holm([0.3, np.nan, 0.8])
    np.testing.assert_allclose(got, [0.6, np.nan, 0.8])
    np.testing.assert_allclose(st.holm([0.6, 0.7]), [1.0, 1.0])
    assert st.holm([]).shape == (0,)


def test_wilcoxon_five_positive_is_exact_two_over_32():
    statistic, p, nonzero = st.signed_rank([0.01, 0.02, 0.03, 0.04, 0.05])
    assert (statistic, nonzero) == (0.0, 5)
    assert p == pytest.approx(2 / 32)


def test_wilcoxon_matches_scipy_and_drops_zeros():
    diff = np.array([0.05, -0.01, 0.0, 0.03, 0.02, -0.04, 0.06, 0.0, 0.07, 0.01])
    statistic, p, nonzero = st.signed_rank(diff)
    ref = stats.wilcoxon(diff[diff != 0], method="exact")
    assert nonzero == 8
    assert statistic == ref.statistic
    assert p == pytest.approx(ref.pvalue)


def test_wilcoxon_drops_zero_differences_before_ranking():
    # zero_method="wilcox": the zero goes, the five positive differences leave rank sum 0 and p = 2/32
    assert st.signed_rank([0.0, 0.01, 0.02, 0.03, 0.04, 0.05]) == (0.0, pytest.approx(2 / 32), 5)


def test_wilcoxon_all_zero_is_no_test():
    statistic, p, nonzero = st.signed_rank([0.0, 0.0, 0.0])
    assert nonzero == 0 and np.isnan(p) and np.isnan(statistic)


def test_bootstrap_matches_scipy_seeded():
    diff = np.array([0.05, -0.01, 0.03, 0.02, -0.04, 0.06, 0.09, 0.01])
    low, high = st.median_ci(diff)
    ref = stats.bootstrap(
        (diff,), np.median, n_resamples=9999, method="percentile", rng=np.random.default_rng(0)
    )
    assert (low, high) == (ref.confidence_interval.low, ref.confidence_interval.high)
    assert low <= np.median(diff) <= high
    assert st.median_ci(diff) == (low, high)  # seeded: the same interval every time


def test_bootstrap_small_n_and_constant():
    assert all(np.isnan(st.median_ci([0.1, 0.2])))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert st.median_ci([0.02, 0.02, 0.02, 0.02]) == (0.02, 0.02)


def _scores(native, challenger, metric="SROCC", model="m", role="gcc", loss="gcc"):
    rows = []
    for split, (a, b) in enumerate(zip(native, challenger, strict=True)):
        rows.append(["m" if model is None else model, "mse", "native", "d", "d", split, metric, a])
        rows.append([model, loss, role, "d", "d", split, metric, b])
    cols = ["model", "loss", "loss_role", "train_set", "test_set", "split", "metric", "value"]
    return pd.DataFrame(rows, columns=cols)


def test_paired_statistics_counts_and_pairs_splits():
    native = [0.80, 0.70, 0.75, 0.60, np.nan]
    gcc = [0.85, 0.70, 0.80, 0.50, 0.9]  # diffs +0.05, 0, +0.05, -0.10; split 4 undefined -> dropped
    scores = _scores(native, gcc)
    out = st.paired_statistics(scores)
    assert len(out) == 1
    rec = out.iloc[0]
    assert (rec.n, rec.wins, rec.ties, rec.losses, rec.n_nonzero) == (4, 2, 1, 1, 3)
    assert rec.median_diff == pytest.approx(0.025)
    diff = np.array([0.05, 0.0, 0.05, -0.10])
    assert rec.p_value == pytest.approx(stats.wilcoxon(diff[diff != 0], method="exact").pvalue)
    assert (rec.baseline_loss, rec.loss) == ("mse", "gcc")


def test_paired_statistics_every_other_loss_vs_native():
    a = _scores([0.5, 0.6, 0.7], [0.6, 0.7, 0.8])
    b = _scores([0.5, 0.6, 0.7], [0.4, 0.5, 0.6], role="nin", loss="nin_p2")
    scores = pd.concat([a, b[b["loss_role"] == "nin"]])
    out = st.paired_statistics(scores)
    assert list(out["loss"]) == ["gcc", "nin_p2"]
    assert list(out["wins"]) == [3, 0] and list(out["losses"]) == [0, 3]
    assert out["median_diff"].tolist() == pytest.approx([0.1, -0.1])


def test_add_holm_per_family():
    frame = pd.DataFrame({"metric": ["SROCC", "SROCC", "PLCC"], "p_value": [0.01, 0.04, 0.04]})
    out = st.add_holm(frame, ["metric"])
    np.testing.assert_allclose(out["p_holm"], [0.02, 0.04, 0.04])
    assert out["m_holm"].tolist() == [2, 2, 1]
