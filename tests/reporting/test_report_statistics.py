"""The report's statistics over splits and protocol flags, on small hand-made score tables."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gmc.reporting import render_report
from gmc.reporting.flags import build_flags
from gmc.reporting.statistics import holm, median_ci
from gmc.results import paper_backbone
from tests.reporting.helpers import compile_tables, needs_pdflatex

DATASETS = {"d_1": {"title": "Ünï_set %", "synthetic_demo": False, "full_reference": False}}
PROVENANCE = {"git_sha": "abc"}


def scores_frame(diffs: dict[str, list[float]]) -> pd.DataFrame:
    """One dataset, intra only; per model the native SROCC/PLCC 0.5 + 0.01 k and GCC = native + diff."""
    rows = []
    for model, diff in diffs.items():
        for split, d in enumerate(diff):
            base = 0.5 + 0.01 * split
            for metric in ("SROCC", "PLCC"):
                rows.append([model, "mse", "native", "d_1", "d_1", split, metric, base])
                rows.append([model, "gcc", "gcc", "d_1", "d_1", split, metric, base + d])
    cols = ["model", "loss", "loss_role", "train_set", "test_set", "split", "metric", "value"]
    return pd.DataFrame(rows, columns=cols)


def render(tmp_path: Path, diffs, models, runs=None, splits=10) -> Path:
    csv = tmp_path / "scores.csv"
    scores_frame(diffs).to_csv(csv, index=False)
    out = tmp_path / "report"
    render_report(
        csv, out, datasets=DATASETS, models=models, provenance=PROVENANCE, runs=runs, protocol_splits=splits
    )
    return out


def meta(title: str, **extra) -> dict:
    return {"title": title, "arch": "x", "native_loss": "mse", **extra}


def gcc_html(out: Path) -> str:
    html = (out / "index.html").read_text(encoding="utf-8")
    return html.split('id="table-gcc_vs_native"')[1].split("</table>")[0]


def role_cell(html: str, model: str, role: str) -> str:
    row = re.search(rf'<tr data-dataset="d_1" data-model="{model}".*?</tr>', html, re.S).group(0)
    return re.search(rf'data-role="{role}">(.*?)</td>', row, re.S).group(1)


def test_five_positive_splits_hand_worked(tmp_path: Path):
    out = render(tmp_path, {"a": [0.01, 0.02, 0.03, 0.04, 0.05]}, {"a": meta("A")})
    table = pd.read_csv(out / "tables" / "gcc_vs_native.csv")
    rec = table.iloc[0]
    assert rec.p_value == pytest.approx(2 / 32) and rec.p_holm == pytest.approx(2 / 32) and rec.m_holm == 1
    assert (rec.gcc_wins, rec.n_paired) == (5, 5)
    html = gcc_html(out)
    assert role_cell(html, "a", "wins") == "5/5"
    assert role_cell(html, "a", "p-holm") == "0.062"
    assert role_cell(html, "a", "delta").startswith("+0.030")
    assert "m = 1 comparisons" in html


def test_table_statistics_match_scipy_and_holm(tmp_path: Path):
    diffs = {
        "a": [0.05, -0.01, 0.03, 0.02, -0.04, 0.06, 0.09, 0.01],
        "b": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08],
        "c": [-0.02, 0.01, 0.0, -0.03, 0.02, -0.01, 0.04, -0.05],
    }
    out = render(tmp_path, diffs, {m: meta(m.upper()) for m in diffs})
    table = pd.read_csv(out / "tables" / "gcc_vs_native.csv").set_index("model")
    p = {}
    for model, d in diffs.items():
        d = scores_frame({model: d}).query("metric == 'SROCC'").pivot(index="split", columns="loss_role")
        d = (d["value"]["gcc"] - d["value"]["native"]).to_numpy()
        ref = stats.wilcoxon(d[d != 0], method="exact")
        p[model] = ref.pvalue
        assert table.loc[model, "p_value"] == pytest.approx(ref.pvalue)
        boot = stats.bootstrap((d,), np.median, method="percentile", rng=np.random.default_rng(0))
        assert table.loc[model, "ci_low"] == pytest.approx(boot.confidence_interval.low)
        assert table.loc[model, "ci_high"] == pytest.approx(boot.confidence_interval.high)
        assert (table.loc[model, "ci_low"], table.loc[model, "ci_high"]) == pytest.approx(median_ci(d))
    np.testing.assert_allclose(table.loc[list(diffs), "p_holm"], holm([p[m] for m in diffs]))
    assert (table["m_holm"] == 3).all()
    # the long statistics CSV holds both metrics; SROCC and PLCC values are equal here by construction
    long = pd.read_csv(out / "tables" / "statistics.csv")
    assert sorted(long["metric"].unique()) == ["PLCC", "SROCC"] and len(long) == 6
    assert (long["m_holm"] == 1).all()  # its Holm family: one model's comparisons of one metric


def test_ci_dash_with_two_splits_and_p_below_a_thousandth_is_escaped(tmp_path: Path):
    # a: two zero differences -> no CI (n < 3) and no test (not counted in Holm's m);
    # b: 12 positive differences -> exact p = 2 / 2^12 < 0.0005
    diffs = {"a": [0.0, 0.0], "b": [0.01 * k for k in range(1, 13)]}
    out = render(tmp_path, diffs, {"a": meta("A"), "b": meta("B")})
    html = gcc_html(out)
    assert role_cell(html, "a", "ci") == "\u2014" and role_cell(html, "a", "p-holm") == "\u2014"
    assert "m = 1 comparisons" in html
    assert role_cell(html, "b", "p-holm") == "&lt;0.001"
    assert re.fullmatch(r"\[\+0\.\d{3},\u2009\+0\.\d{3}\]", role_cell(html, "b", "ci"))
    tex = (out / "tables" / "gcc_vs_native.tex").read_text(encoding="utf-8")
    assert r"\textless{}0.001" in tex and "<" not in tex
    assert re.search(r"\[\$\+\$0\.\d{3}, \$\+\$0\.\d{3}\]", tex)


def _runs(rows):
    return pd.DataFrame(rows, columns=["model", "loss", "train_set", "split", "selection", "precision"])


def test_protocol_flags_in_cells_and_captions_html_and_latex(tmp_path: Path):
    diffs = {"m_1": [0.01, 0.02, 0.03], "evil": [0.01, -0.02, 0.03]}
    models = {"m_1": meta("M_1 & 100%"), "evil": meta("<script>alert(1)</script> Ü", paper_backbone=False)}
    runs = _runs(
        [["m_1", "mse", "d_1", k, "best_on_test", "float32"] for k in range(3)]
        + [["m_1", "gcc", "d_1", k, "val", "amp-float16"] for k in range(3)]
        + [["evil", loss, "d_1", k, "val", "float32"] for loss in ("mse", "gcc") for k in range(3)]
    )
    out = render(tmp_path, diffs, models, runs=runs)
    html = gcc_html(out)
    flags = lambda cell: re.findall(r'<sup class="flags" title="[^"]*">([^<]*)</sup>', cell)  # noqa: E731
    assert flags(role_cell(html, "m_1", "native")) == ["t,s"]
    assert flags(role_cell(html, "m_1", "gcc")) == ["a,s"]
    assert flags(role_cell(html, "m_1", "delta")) == ["t,a,s"]
    assert flags(role_cell(html, "evil", "gcc")) == ["b,s"]
    assert "<script>" not in (out / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Ü" in html
    for text in (html, (out / "tables" / "gcc_vs_native.tex").read_text(encoding="utf-8")):
        assert "Protocol flags: t = model selection on test data" in text
        assert "a = mixed precision" in text and "b = backbone other than the paper" in text
        assert "s = fewer splits than the paper protocol (10)" in text
    tex = (out / "tables" / "gcc_vs_native.tex").read_text(encoding="utf-8")
    for marks in ("t,s", "a,s", "b,s"):
        assert rf"\textsuperscript{{{marks}}}" in tex
    assert r"M\_1 \& 100\%" in tex and r"\textless{}script\textgreater{}" in tex and "Ü" in tex
    assert r"Ünï\_set \%" in tex
    intra = (out / "tables" / "intra.tex").read_text(encoding="utf-8")
    assert r"\textsuperscript{t,s}" in intra and "Protocol flags:" in intra


def test_no_flags_without_departures(tmp_path: Path):
    runs = _runs([["a", loss, "d_1", k, "val", "float32"] for loss in ("mse", "gcc") for k in range(3)])
    out = render(tmp_path, {"a": [0.01, 0.02, 0.03]}, {"a": meta("A", paper_backbone=True)}, runs, splits=3)
    html = (out / "index.html").read_text(encoding="utf-8")
    assert 'class="flags"' not in html.split("<main>")[1] and "Protocol flags" not in html
    assert "textsuperscript{" not in (out / "tables" / "gcc_vs_native.tex").read_text(encoding="utf-8")


def test_build_flags_reads_the_run_table():
    runs = _runs(
        [["a", "mse", "d", 0, "best_on_test", "float32"], ["a", "gcc", "d", 0, "val", "amp-float16"]]
    )
    flags = build_flags(runs, {"a": {"paper_backbone": False}, "b": {}}, splits=10)
    assert flags.of("a", "mse", "d", 10) == ("t", "b")
    assert flags.of("a", "gcc", "d", 3) == ("a", "b", "s")
    assert flags.of("b", "gcc", "d", 10) == ()
    assert build_flags(None, {}, 10).of("b", "x", "d", 9) == ("s",)


class _Card:
    def __init__(self, paper_backbone: str, build=None):
        self.paper_backbone = paper_backbone
        self.build = build or (lambda **_: None)


def test_paper_backbone_from_card_or_builder_default():
    def monet(backbone: str = "vit_base_patch8_224", **_):
        return None

    assert paper_backbone(_Card("resnet50.tv_in1k"), {}) is True
    assert paper_backbone(_Card("resnet50.tv_in1k"), {"backbone": "resnet50"}) is True
    assert paper_backbone(_Card("resnet50.a1_in1k"), {"backbone": "efficientnet_lite0"}) is False
    assert paper_backbone(_Card("vgg16.tv_in1k + SCNN (x)"), {"backbone": "vgg16"}) is True
    assert paper_backbone(_Card("", monet), {"backbone": "efficientnet_lite0"}) is False
    assert paper_backbone(_Card("", monet), {"backbone": "vit_base_patch8_224"}) is True
    assert paper_backbone(_Card(""), {"backbone": "x"}) is None


@needs_pdflatex
def test_statistics_and_flag_tables_compile(tmp_path: Path):
    diffs = {"m_1": [0.01, 0.02, 0.03, 0.04], "evil": [0.01 * k for k in range(1, 13)]}
    models = {"m_1": meta("M_1 & 100%"), "evil": meta("<script> Ü", paper_backbone=False)}
    out = render(tmp_path, diffs, models)
    result = compile_tables(sorted((out / "tables").glob("*.tex")), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]


def test_cross_table_has_no_rmse_and_captions_say_plcc_is_raw(tmp_path: Path):
    frame = scores_frame({"a": [0.01, 0.02, 0.03]})
    cross = frame.assign(test_set="d_2")
    rmse = frame[frame["metric"] == "SROCC"].assign(metric="RMSE")
    csv = tmp_path / "scores.csv"
    pd.concat([frame, cross, rmse, rmse.assign(test_set="d_2")]).to_csv(csv, index=False)
    datasets = {**DATASETS, "d_2": {"title": "D2", "synthetic_demo": False, "full_reference": False}}
    out = tmp_path / "report"
    render_report(csv, out, datasets=datasets, models={"a": meta("A")}, provenance=PROVENANCE)
    assert not [c for c in pd.read_csv(out / "tables" / "cross.csv").columns if c.startswith("rmse")]
    assert "rmse_median" in pd.read_csv(out / "tables" / "intra.csv").columns
    intra = (out / "tables" / "intra.tex").read_text(encoding="utf-8")
    assert "PLCC is the raw Pearson correlation (no logistic fit" in intra
