"""Any registered loss reaches the report: every (model, loss) row in the main tables (native, GCC, then
the other loss types alphabetically), the GCC plug-in table still native vs GCC only, and a loss comparison
table (HTML + LaTeX) for each model trained with more than two losses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gmc.reporting import render_report
from gmc.reporting.latex import escape_latex
from gmc.reporting.scores import validate_scores
from tests.conftest import REPO
from tests.reporting.helpers import compile_tables, needs_pdflatex

MODELS = {
    "monet": {"title": "<MoNet> & 50%_x", "arch": "monet", "native_loss": "mse"},
    "cnn_iqa": {"title": "CNN_IQA", "arch": "cnniqa", "native_loss": "l1"},
}
DATASETS = {
    "demo_a": {"title": "Demo_A", "synthetic_demo": True, "full_reference": False},
    "demo_b": {"title": "Demo B", "synthetic_demo": True, "full_reference": False},
}
#: (loss, loss_role) per model, deliberately not in display order
LOSSES = {
    "monet": [
        ("soft_spearman", "soft_spearman"),
        ("nin_p2", "nin"),
        ("gcc_q0", "gcc"),
        ("mse", "native"),
        ("nin", "nin"),
        ("gcc", "gcc"),
    ],
    "cnn_iqa": [("gcc", "gcc"), ("l1", "native")],
}
#: the display order: native, gcc (by loss name), then the other roles alphabetically (by loss name)
MONET_ORDER = ["mse", "gcc", "gcc_q0", "nin", "nin_p2", "soft_spearman"]
MONET_LABELS = ["mse (native)", "gcc", "gcc_q0 (GCC)", "nin", "nin_p2 (nin)", "soft_spearman"]
SPLITS = (0, 1, 2)


def make_scores() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = [
        {
            "model": model,
            "loss": loss,
            "loss_role": role,
            "train_set": train,
            "test_set": test,
            "split": split,
            "metric": metric,
            "value": float(rng.uniform(0.3, 0.95)),
        }
        for model, losses in LOSSES.items()
        for loss, role in losses
        for train in ("demo_a", "demo_b")
        for test in ("demo_a", "demo_b")
        for split in SPLITS
        for metric in ("SROCC", "PLCC", "KROCC", "RMSE")
    ]
    return pd.DataFrame(rows)


def render(out: Path, frame: pd.DataFrame) -> Path:
    scores = out.parent / f"{out.name}_scores.csv"
    frame.to_csv(scores, index=False)
    render_report(scores, out, datasets=DATASETS, models=MODELS, provenance={"git_sha": "abc"})
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    return render(tmp_path_factory.mktemp("losses") / "report", make_scores())


def _section(html: str, table_id: str) -> str:
    return html.split(f'id="table-{table_id}"')[1].split("</table>")[0]


def test_main_tables_list_every_model_and_loss_in_role_order(report: Path):
    intra = pd.read_csv(report / "tables" / "intra.csv")
    for dataset in ("demo_a", "demo_b"):
        rows = intra[(intra.model == "monet") & (intra.dataset == dataset)]
        assert rows["loss"].tolist() == MONET_ORDER
    assert intra[intra.model == "cnn_iqa"]["loss"].unique().tolist() == ["l1", "gcc"]
    cross = pd.read_csv(report / "tables" / "cross.csv")
    assert cross[(cross.model == "monet") & (cross.train_set == "demo_a")]["loss"].tolist() == MONET_ORDER

    tex = (report / "tables" / "intra.tex").read_text()
    title = escape_latex(MODELS["monet"]["title"])
    labels = [ln.split(" & ")[1] for ln in tex.splitlines() if ln.startswith(title + " & ")]
    assert labels == [escape_latex(label) for label in MONET_LABELS]
    html = (report / "index.html").read_text()
    pattern = r'<tr data-model="monet" data-loss-role="[a-z_]+" data-loss="([a-z_0-9]+)"'
    assert re.findall(pattern, _section(html, "intra")) == MONET_ORDER


def test_gcc_table_stays_native_vs_gcc(report: Path):
    gvn = pd.read_csv(report / "tables" / "gcc_vs_native.csv")
    assert set(gvn["native_loss"]) == {"mse", "l1"} and set(gvn["gcc_loss"]) == {"gcc", "gcc_q0"}
    assert len(gvn) == 2 * (2 + 1)  # per dataset: monet x {gcc, gcc_q0}, cnn_iqa x gcc


def test_loss_comparison_csv_matches_pandas(report: Path):
    table = pd.read_csv(report / "tables" / "loss_comparison.csv")
    assert set(table["model"]) == {"monet"}  # cnn_iqa has two losses only
    scores = make_scores()
    scores = scores[(scores.model == "monet") & scores.metric.isin(["SROCC", "PLCC"])]
    medians = scores.groupby(["train_set", "test_set", "loss", "metric"])["value"].median()
    assert len(table) == 4 * len(MONET_ORDER)  # (train, test) pairs x losses
    for rec in table.itertuples(index=False):
        assert rec.evaluation == ("intra" if rec.train_set == rec.test_set else "cross")
        assert rec.srocc_median == pytest.approx(medians[(rec.train_set, rec.test_set, rec.loss, "SROCC")])
        assert rec.plcc_median == pytest.approx(medians[(rec.train_set, rec.test_set, rec.loss, "PLCC")])
        assert rec.srocc_n == len(SPLITS)
    assert table["evaluation"].tolist()[: 2 * len(MONET_ORDER)] == ["intra"] * 2 * len(MONET_ORDER)
    assert table["loss"].tolist()[: len(MONET_ORDER)] == MONET_ORDER


def test_loss_comparison_html_and_latex(report: Path):
    html = (report / "index.html").read_text()
    assert '<a href="#losses">Loss comparison</a>' in html and '<section id="losses">' in html
    assert 'id="table-loss_comparison_cnn_iqa"' not in html
    assert not (report / "tables" / "loss_comparison_cnn_iqa.tex").exists()
    section = _section(html, "loss_comparison_monet")
    headers = re.findall(r'<th colspan="2" class="group">(.*?)</th>', section)
    assert headers == MONET_LABELS
    table = pd.read_csv(report / "tables" / "loss_comparison.csv")
    rows = re.findall(
        r'<tr data-evaluation="(\w+)" data-train-set="(\w+)" data-test-set="(\w+)".*?</tr>', section, re.S
    )
    assert [r[0] for r in rows] == ["intra", "intra", "cross", "cross"]
    tex = (report / "tables" / "loss_comparison_monet.tex").read_text()
    assert "\\label{tab:loss-comparison-monet}" in tex and "\\multicolumn{2}{c}{nin\\_p2 (nin)}" in tex
    body = [ln for ln in tex.splitlines() if ln.startswith(("intra &", "cross &"))]
    assert len(body) == 4
    html_rows = re.findall(r"<tr data-evaluation=.*?</tr>", section, re.S)
    for (evaluation, train, test), line, html_row in zip(rows, body, html_rows, strict=True):
        assert line.startswith(f"{evaluation} & ")
        part = table[(table.train_set == train) & (table.test_set == test)].set_index("loss").loc[MONET_ORDER]
        for metric in ("srocc", "plcc"):
            best = round(part[f"{metric}_median"].max(), 3)
            assert f"\\textbf{{{best:.3f}}}" in line
            cells = re.findall(
                rf'data-loss="(\w+)" data-metric="{metric.upper()}">(.*?)</td>', html_row, re.S
            )
            bold = [loss for loss, cell in cells if "<strong>" in cell]
            assert bold == [
                loss for loss in MONET_ORDER if round(part.loc[loss, f"{metric}_median"], 3) == best
            ]


def test_titles_are_escaped(report: Path):
    html = (report / "index.html").read_text()
    assert "Loss comparison for &lt;MoNet&gt; &amp; 50%_x" in html and "<MoNet>" not in html
    tex = (report / "tables" / "loss_comparison_monet.tex").read_text()
    assert r"\textless{}MoNet\textgreater{} \& 50\%\_x" in tex


def test_no_loss_comparison_with_two_losses_per_model(tmp_path: Path):
    frame = make_scores()
    frame = frame[frame.loss.isin(["mse", "gcc", "l1"])]
    out = render(tmp_path / "two", frame)
    html = (out / "index.html").read_text()
    assert 'id="losses"' not in html and "#losses" not in html
    assert pd.read_csv(out / "tables" / "loss_comparison.csv").empty
    assert not list((out / "tables").glob("loss_comparison_*.tex"))


def test_loss_roles_are_native_or_registered():
    frame = make_scores()
    assert len(validate_scores(frame, "x.csv")) == len(frame)
    with pytest.raises(ValueError, match="unknown loss_role") as err:
        validate_scores(frame.assign(loss_role="spearman"), "x.csv")
    assert "native" in str(err.value) and "soft_spearman" in str(err.value)


@needs_pdflatex
def test_tables_compile(report: Path, tmp_path: Path):
    names = ("intra", "cross", "gcc_vs_native", "loss_comparison_monet")
    result = compile_tables([report / "tables" / f"{n}.tex" for n in names], tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]


def test_config_with_any_losses_reaches_the_report(tmp_path: Path):
    """From a config to the rendered report: every run of a config whose benchmark lists non-GCC losses
    (and a variant) appears in the report, through the same path as `python -m gmc report`."""
    from gmc.config import Benchmark
    from gmc.results import render as render_from_config

    raw = yaml.safe_load((REPO / "config" / "ci.yaml").read_text())
    raw.pop("ablations")
    raw["losses"] = {"nin_p2": {"type": "nin", "p": 2}}
    raw["benchmark"]["losses"] = ["native", "gcc", "fidelity", "nin_p2"]
    bench = Benchmark.from_dict(raw)
    rng = np.random.default_rng(0)
    rows = [
        {**dict(zip(("model", "loss", "loss_role", "train_set", "split"), (r.model, r.loss, r.loss_role,
                                                                             r.train_set, r.split))),
         "test_set": test, "metric": metric, "value": rng.uniform(0.2, 0.9)}
        for r in bench.runs() for test in bench.test_sets(r.train_set) for metric in ("SROCC", "PLCC")
    ]  # fmt: skip
    scores = tmp_path / "scores.csv"
    pd.DataFrame(rows).to_csv(scores, index=False)
    render_from_config(scores, None, json.loads(json.dumps(raw)), tmp_path / "out")
    intra = pd.read_csv(tmp_path / "out" / "tables" / "intra.csv")
    for model in ("monet_tiny", "cnniqa"):
        assert intra[intra.model == model]["loss_role"].tolist() == ["native", "gcc", "fidelity", "nin"]
        assert (tmp_path / "out" / "tables" / f"loss_comparison_{model}.tex").is_file()


def test_undefined_correlations_in_the_loss_comparison(tmp_path: Path):
    """Every split of (monet, nin, demo_a intra) predicted a constant: the cell is a marked dash, never
    bold, and the other losses of the row still get their best marked."""
    frame = make_scores()
    dead = (frame.model == "monet") & (frame.loss == "nin") & (frame.train_set == "demo_a")
    dead &= (frame.test_set == "demo_a") & frame.metric.isin(["SROCC", "PLCC", "KROCC"])
    out = render(tmp_path / "nan", frame.assign(value=frame.value.mask(dead)))
    table = pd.read_csv(out / "tables" / "loss_comparison.csv").set_index(["train_set", "test_set", "loss"])
    assert table.loc[("demo_a", "demo_a", "nin"), ["srocc_n", "srocc_n_undefined"]].tolist() == [0, 3]
    section = _section((out / "index.html").read_text(), "loss_comparison_monet")
    row = re.search(r'<tr data-evaluation="intra" data-train-set="demo_a".*?</tr>', section, re.S).group(0)
    cell = re.search(r'data-loss="nin" data-metric="SROCC">(.*?)</td>', row, re.S).group(1)
    assert "\u2021" in cell and "n=0/3" in cell and "<strong>" not in cell
    assert len(re.findall(r'data-metric="SROCC"><strong>', row)) == 1
    assert "constant predictions" in (out / "tables" / "loss_comparison_monet.tex").read_text()


def test_loss_statistics_table_hand_worked(tmp_path: Path):
    """One model, three losses, intra only, 3 splits. nin - native = +0.1 on every split: median 0.1, CI
    [0.1, 0.1], wins 3/3, exact Wilcoxon p = 2 / 2^3 = 0.25. gcc - native = -0.1, +0.05, 0: median 0,
    wins 1/3, the zero dropped, ranks 1 (+0.05) and 2 (-0.1): W+ = 1, p = 2 min(P(W+ <= 1), P(W+ >= 1))
    = 2 min(2/4, 3/4) = 1. Holm over the m = 2 SROCC comparisons: 0.25 -> 0.5, 1 -> max(0.5, 1) = 1."""
    native, values = [0.5, 0.6, 0.7], {"nin": [0.6, 0.7, 0.8], "gcc": [0.4, 0.65, 0.7]}
    rows = [
        {"model": "monet", "loss": loss, "loss_role": role, "train_set": "demo_a", "test_set": "demo_a",
         "split": split, "metric": metric, "value": v}
        for loss, role, vals in (("mse", "native", native), ("nin", "nin", values["nin"]),
                                 ("gcc", "gcc", values["gcc"]))
        for split, v in zip(SPLITS, vals, strict=True)
        for metric in ("SROCC", "PLCC")
    ]  # fmt: skip
    out = render(tmp_path / "report", pd.DataFrame(rows))
    html = (out / "index.html").read_text()
    section = _section(html, "loss_statistics_monet")
    cells = re.findall(r'<tr [^>]*data-loss="(\w+)"[^>]*>(.*?)</tr>', section, re.S)
    text = {loss: re.sub(r"<[^>]+>", " ", body) for loss, body in cells}
    assert list(text) == ["gcc", "nin"]
    assert re.search(r"\+0\.100 .*\[\+0\.100,\u2009\+0\.100\] .*3/3 .*0\.500", text["nin"], re.S), text["nin"]
    assert re.search(r"0\.000 .* 1/3 .*1\.000", text["gcc"], re.S), text["gcc"]
    assert "m = 2 comparisons" in html
    tex = (out / "tables" / "loss_statistics_monet.tex").read_text()
    assert "3/3" in tex and "1/3" in tex and r"$p$ (Holm)" in tex
