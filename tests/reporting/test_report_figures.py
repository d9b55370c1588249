"""The report's figures from the training curves and the prediction files: predictions vs MOS with the
fitted logistic, validation SROCC per epoch (mean and band over splits), GCC-minus-native differences."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gmc.metrics import logistic4
from gmc.reporting import render_report
from gmc.reporting.figures import curve_band
from tests.reporting.helpers import capture_figure_svgs
from tests.reporting.test_report import MODELS, PROVENANCE, datasets, make_scores, write

IDENTITY = {"model": "monet", "train_set": "demo_a", "test_set": "demo_a", "split": 0, "selection": "val"}


def _predictions(tmp_path: Path, loss: str, role: str, prediction: np.ndarray, mos: np.ndarray) -> Path:
    frame = pd.DataFrame(
        {"image": [f"i{k:03d}.png" for k in range(len(mos))], "mos": mos, "prediction": prediction}
    ).assign(**IDENTITY, loss=loss, loss_role=role)
    path = tmp_path / f"pred_{loss}.csv"
    frame.to_csv(path, index=False)
    return path


def _curves(tmp_path: Path) -> Path:
    rows = [
        {"model": "monet", "loss": loss, "loss_role": role, "train_set": "demo_a", "split": split,
         "epoch": epoch, "val_SROCC": 0.1 * epoch + 0.01 * split + (0.05 if role == "gcc" else 0.0)}
        for loss, role in (("mse", "native"), ("gcc", "gcc"))
        for split in (0, 1, 2)
        for epoch in range(4)
    ]  # fmt: skip
    path = tmp_path / "curves.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def rendered(tmp_path: Path, monkeypatch):
    svgs = capture_figure_svgs(monkeypatch)
    x = np.linspace(-3, 3, 60)
    on_curve = logistic4(x, 0.9, 0.1, 0.4, 0.5)  # MOS exactly on a logistic of the predictions
    predictions = [
        _predictions(tmp_path, "mse", "native", x, on_curve),
        _predictions(tmp_path, "gcc", "gcc", np.full(60, 0.5), on_curve),  # constant: no fit, no SROCC
    ]
    out = tmp_path / "out"
    render_report(
        write(make_scores(), tmp_path / "scores.csv"), out, datasets=datasets(True), models=MODELS,
        provenance=PROVENANCE, curves_csv=_curves(tmp_path), predictions=predictions,
    )  # fmt: skip
    return out, svgs, x, on_curve


def test_scatter_shows_the_logistic_fit_and_when_it_fails(rendered):
    out, svgs, x, mos = rendered
    assert np.corrcoef(x, mos)[0, 1] < 0.97  # the raw PLCC is clearly below 1 ...
    svg = svgs["scatter_monet"]
    assert "PLCC (logistic) 1.000" in svg  # ... the fitted logistic explains MOS exactly
    assert "SROCC 1.000" in svg
    assert "logistic fit failed" in svg and "SROCC n/a" in svg  # the constant predictions
    assert "scatter_cnn_iqa" not in svgs  # no predictions of that model were passed
    assert (out / "figures" / "scatter_monet.pdf").is_file()
    html = (out / "index.html").read_text()
    assert 'src="figures/scatter_monet.png"' in html and "VQEG 4-parameter logistic" in html


def test_validation_curves_and_inputs_are_recorded(rendered):
    out, svgs, *_ = rendered
    svg = svgs["validation_srocc"]
    assert ">MoNet" in svg and ">Demo_A" in svg and ">mse (native)" in svg and ">gcc" in svg
    inputs = json.loads((out / "provenance.json").read_text())["inputs"]
    assert set(inputs) == {"scores_csv", "curves_csv", "predictions_0", "predictions_1"}


def test_curve_band_is_mean_min_max_over_defined_splits():
    runs = pd.DataFrame(
        {"epoch": [0, 0, 0, 1, 1, 1, 2], "val_SROCC": [0.2, 0.5, np.nan, 0.4, 0.6, 0.8, np.nan]}
    )
    band = curve_band(runs, "val_SROCC")
    assert band.index.tolist() == [0, 1]  # epoch 2: no split defined
    np.testing.assert_allclose(band["mean"], [0.35, 0.6])
    np.testing.assert_allclose(band["min"], [0.2, 0.4])
    np.testing.assert_allclose(band["max"], [0.5, 0.8])
    assert band["count"].tolist() == [2, 3]


def test_difference_figure_counts_gcc_wins(tmp_path: Path, monkeypatch):
    """GCC beats MSE on every split of demo_a and loses on every split of demo_b: the forest plot says
    3/3 and 0/3, with points right and left of zero."""
    svgs = capture_figure_svgs(monkeypatch)
    scores = make_scores()
    intra = (scores.train_set == scores.test_set) & (scores.model == "monet") & (scores.metric == "SROCC")
    for ds, sign in (("demo_a", 1), ("demo_b", -1)):
        rows = intra & (scores.train_set == ds)
        native = rows & (scores.loss_role == "native")
        scores.loc[native, "value"] = [0.5, 0.6, 0.7]
        scores.loc[rows & (scores.loss_role == "gcc"), "value"] = [0.5 + sign * 0.1, 0.6 + sign * 0.2, 0.7]
        scores.loc[rows & (scores.loss_role == "gcc") & (scores.split == 2), "value"] = 0.7 + sign * 0.05
    render_report(
        write(scores, tmp_path / "s.csv"), tmp_path / "out", datasets=datasets(True), models=MODELS,
        provenance=PROVENANCE,
    )  # fmt: skip
    svg = svgs["gcc_differences"]
    assert ">3/3" in svg and ">0/3" in svg
