import numpy as np
import pytest
from scipy import stats

from gmc.metrics import compute_metrics
from gmc.models import build_model, get_model_card
from gmc.registry import Registry, UnknownNameError


def test_unknown_name_lists_valid_names_and_a_close_match():
    reg = Registry("widget")
    reg.register("resnet", 1)
    reg.register("vit", 2)
    with pytest.raises(
        UnknownNameError, match=r"unknown widget 'resnt'; valid names: resnet, vit\. Did you mean 'resnet'"
    ):
        reg.get("resnt")


def test_double_registration_is_an_error():
    reg = Registry("widget")
    reg.register("a", 1)
    with pytest.raises(ValueError, match="twice"):
        reg.register("a", 2)


def test_unknown_model_lists_registered_models():
    with pytest.raises(UnknownNameError, match="monet") as err:
        get_model_card("monett")
    assert "cnniqa" in str(err.value)  # baselines arrive through the gmc.models entry point


def test_pyiqa_baseline_builds_offline_and_returns_b_scores():
    import torch

    model = build_model("cnniqa")
    out = model(torch.rand(2, 3, 48, 48))
    assert out.shape == (2,)
    assert get_model_card("cnniqa").native_loss == "l1"


def test_metrics_match_scipy():
    rng = np.random.default_rng(0)
    y = rng.random(50)
    p = y + 0.3 * rng.standard_normal(50)
    m = compute_metrics(p, y)
    assert m["SROCC"] == pytest.approx(stats.spearmanr(p, y).statistic)
    assert m["PLCC"] == pytest.approx(stats.pearsonr(p, y).statistic)
    assert m["KROCC"] == pytest.approx(stats.kendalltau(p, y).statistic)
    assert m["RMSE"] == pytest.approx(np.sqrt(np.mean((p - y) ** 2)))
    assert compute_metrics([1, 2, 3, 4], [4, 3, 2, 1])["SROCC"] == pytest.approx(-1.0)


def test_constant_predictions_give_nan_correlation_not_a_number():
    m = compute_metrics(np.ones(5), np.arange(5.0))
    assert np.isnan(m["SROCC"]) and np.isnan(m["PLCC"])


def test_bad_prediction_input_is_an_error():
    with pytest.raises(ValueError, match="NaN"):
        compute_metrics([1.0, np.nan, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="equal length"):
        compute_metrics([1.0, 2.0, 3.0], [1.0, 2.0])
