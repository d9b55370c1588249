"""PLCC both ways: raw Pearson and Pearson after the VQEG 4-parameter logistic fit (gmc.metrics)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gmc import metrics
from gmc.metrics import SCORE_METRICS, compute_metrics, logistic4, plcc_logistic


def _logistic_data(seed: int = 0, noise: float = 0.005):
    rng = np.random.default_rng(seed)
    pred = rng.uniform(-4, 4, 300)
    mos = logistic4(pred, 0.9, 0.1, 0.5, 0.3) + rng.normal(0, noise, pred.shape)
    return pred, mos


def test_logistic_plcc_recovers_a_known_logistic():
    pred, mos = _logistic_data()
    raw = stats.pearsonr(pred, mos).statistic
    fitted = plcc_logistic(pred, mos)
    assert fitted > 0.99
    assert raw < 0.93  # the saturating curve: a straight line fits clearly worse
    assert fitted > raw + 0.06


def test_logistic_plcc_keeps_the_sign_of_a_backward_model():
    pred, mos = _logistic_data()
    assert plcc_logistic(-pred, mos) == pytest.approx(-plcc_logistic(pred, mos), abs=1e-6)


def test_logistic_plcc_is_raw_plcc_on_linear_data():
    rng = np.random.default_rng(1)
    pred = rng.normal(size=200)
    mos = 0.5 + 0.1 * pred + rng.normal(0, 0.05, 200)
    assert plcc_logistic(pred, mos) == pytest.approx(stats.pearsonr(pred, mos).statistic, abs=0.01)


def test_failed_fit_falls_back_to_raw_plcc(monkeypatch):
    pred, mos = _logistic_data()

    def fail(*args, **kwargs):
        raise RuntimeError("Optimal parameters not found")

    monkeypatch.setattr(metrics.optimize, "curve_fit", fail)
    assert plcc_logistic(pred, mos) == stats.pearsonr(pred, mos).statistic


def test_non_finite_fit_falls_back_to_raw_plcc(monkeypatch):
    pred, mos = _logistic_data()
    monkeypatch.setattr(
        metrics.optimize, "curve_fit", lambda *a, **k: (np.array([np.nan, 0.0, 0.0, 1.0]), None)
    )
    assert plcc_logistic(pred, mos) == stats.pearsonr(pred, mos).statistic


def test_score_metrics_keep_both_plccs():
    pred, mos = _logistic_data()
    out = compute_metrics(pred, mos, SCORE_METRICS)
    assert out["PLCC"] == pytest.approx(stats.pearsonr(pred, mos).statistic)
    assert out["PLCC_logistic"] == pytest.approx(plcc_logistic(pred, mos))
    const = compute_metrics(np.ones(5), np.arange(5.0), SCORE_METRICS)
    assert np.isnan(const["PLCC_logistic"]) and np.isnan(const["PLCC"])


def test_score_predictions_writes_both_plccs(tmp_path):
    from gmc.evaluation import score_predictions

    pred, mos = _logistic_data()
    path = tmp_path / "p.csv"
    ident = {"model": "m", "loss": "mse", "loss_role": "native", "train_set": "d", "test_set": "d"}
    frame = pd.DataFrame({"image": [f"{i}.png" for i in range(len(pred))], "mos": mos, "prediction": pred})
    frame.assign(**ident, split=0, selection="val").to_csv(path, index=False)
    scores = score_predictions([path]).set_index("metric")["value"]
    assert list(scores.index) == sorted(SCORE_METRICS)
    assert scores["PLCC"] == pytest.approx(stats.pearsonr(pred, mos).statistic)
    assert scores["PLCC_logistic"] == pytest.approx(plcc_logistic(pred, mos))


def test_fitted_logistic_mapping_is_the_generating_curve():
    """The mapping fit_logistic returns is drawn in the report's scatter figures: on data from a known
    logistic it must be that curve, in prediction units (the standardisation is applied inside)."""
    pred, mos = _logistic_data(noise=0.002)
    mapping = metrics.fit_logistic(pred * 7 + 3, mos)  # any prediction scale
    grid = np.linspace(-4, 4, 41)
    np.testing.assert_allclose(mapping(grid * 7 + 3), logistic4(grid, 0.9, 0.1, 0.5, 0.3), atol=0.005)


def test_fit_logistic_gives_none_for_constant_predictions():
    assert metrics.fit_logistic(np.full(20, 0.3), np.linspace(0, 1, 20)) is None
