"""Tests of gmc.reporting: files, numbers, synthetic marks, escaping, bad input, determinism."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gmc.reporting import render_report
from gmc.reporting.latex import escape_latex
from gmc.reporting.scores import validate_scores
from tests.reporting.helpers import capture_figure_svgs, compile_tables, needs_pdflatex

MODELS = {
    "monet": {"title": "MoNet", "arch": "monet", "native_loss": "mse", "reported_as": "GMC-IQA"},
    "cnn_iqa": {"title": "CNN_IQA", "arch": "cnniqa", "native_loss": "l1"},
}
SPLITS = (0, 1, 2)
PROVENANCE = {"git_sha": "abc123", "git_dirty": False, "packages": {"pandas": "x"}, "date": "2025-01-01"}


def datasets(synthetic: bool) -> dict[str, dict]:
    return {
        "demo_a": {
            "title": "Demo_A",
            "synthetic_demo": synthetic,
            "full_reference": False,
            "reported_as": "KonIQ",
        },
        "demo_b": {"title": "Demo B", "synthetic_demo": synthetic, "full_reference": False},
    }


def make_scores() -> pd.DataFrame:
    """2 models x 2 loss roles x 2 datasets x 3 splits, intra + cross, all four metrics."""
    rng = np.random.default_rng(0)
    rows = []
    for model, meta in MODELS.items():
        for role, loss in (("native", meta["native_loss"]), ("gcc", "gcc")):
            for train in ("demo_a", "demo_b"):
                for test in ("demo_a", "demo_b"):
                    for split in SPLITS:
                        for metric in ("SROCC", "PLCC", "KROCC", "RMSE"):
                            rows.append(
                                {
                                    "model": model,
                                    "loss": loss,
                                    "loss_role": role,
                                    "train_set": train,
                                    "test_set": test,
                                    "split": split,
                                    "metric": metric,
                                    "value": float(rng.uniform(0.3, 0.95)),
                                    "extra": "ignored",
                                }
                            )
    return pd.DataFrame(rows)


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def render(
    tmp_path: Path, *, synthetic: bool = True, name: str = "report", frame=None, reported=None
) -> Path:
    scores = write(make_scores() if frame is None else frame, tmp_path / "scores.csv")
    out = tmp_path / name
    render_report(
        scores,
        out,
        datasets=datasets(synthetic),
        models=MODELS,
        provenance=PROVENANCE,
        reported_csv=reported,
    )
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("rep")
    reported = tmp / "reported.csv"
    reported.write_text(
        "method,paper,arxiv_or_doi,protocol,train_set,test_set,srocc,plcc,source_url,note\n"
        "GMC-IQA,Paper 2024,,intra,KonIQ,KonIQ,0.9,0.91,https://example.org,first-hand\n"
        "Other,Paper,,intra,KonIQ,KonIQ,0.8,,https://example.org,\n"
    )
    return render(tmp, reported=reported)


def test_all_files_exist(report: Path):
    expected = [
        "index.html",
        "provenance.json",
        *(f"tables/{t}.{ext}" for t in ("intra", "cross", "gcc_vs_native") for ext in ("tex", "csv")),
        "tables/reported.csv",
        *(f"figures/{f}.{ext}" for f in ("intra_srocc", "gcc_vs_native") for ext in ("png", "pdf")),
    ]
    for rel in expected:
        path = report / rel
        assert path.is_file() and path.stat().st_size > 0, rel
    assert not list(report.rglob("*.tmp")), "temporary files left behind"


def test_every_combination_in_intra_tex_and_html(report: Path):
    scores = make_scores()
    intra = scores[(scores.train_set == scores.test_set) & (scores.metric == "SROCC")]
    medians = intra.groupby(["model", "loss", "train_set"])["value"].median()
    tex = (report / "tables" / "intra.tex").read_text()
    html = (report / "index.html").read_text()
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    intra_html = html.split('id="table-intra"')[1].split("</table>")[0]
    for (model, loss, ds), median in medians.items():
        label = f"{loss} (native)" if loss != "gcc" else "gcc"
        lines = [
            ln
            for ln in tex.splitlines()
            if ln.startswith(escape_latex(MODELS[model]["title"]) + " & " + label + " &")
        ]
        assert len(lines) == 1, (model, loss)
        assert f"{median:.3f}" in lines[0], (model, loss, ds)
        row = re.search(
            rf'<tr data-model="{model}" data-loss-role="[a-z]+" data-loss="{loss}".*?</tr>', intra_html, re.S
        )
        assert row, (model, loss)
        cell = re.search(rf'data-dataset="{ds}" data-metric="SROCC">(.*?)</td>', row.group(0), re.S)
        assert cell and f"{median:.3f}" in cell.group(1), (model, loss, ds)
    for title in ("Demo\\_A", "Demo B"):
        assert title in tex


def test_intra_csv_medians_match_pandas(report: Path):
    scores = make_scores()
    intra = scores[scores.train_set == scores.test_set]
    expected = intra.groupby(["model", "loss", "train_set", "metric"])["value"].agg(
        ["median", "std", "count"]
    )
    table = pd.read_csv(report / "tables" / "intra.csv")
    assert len(table) == 2 * 2 * 2
    for row in table.itertuples(index=False):
        for metric in ("SROCC", "PLCC", "KROCC", "RMSE"):
            exp = expected.loc[(row.model, row.loss, row.dataset, metric)]
            m = metric.lower()
            assert getattr(row, f"{m}_median") == pytest.approx(exp["median"], rel=1e-12)
            assert getattr(row, f"{m}_std") == pytest.approx(exp["std"], rel=1e-12)
            assert getattr(row, f"{m}_n") == exp["count"] == len(SPLITS)


def test_gcc_vs_native_wins(report: Path):
    scores = make_scores()
    table = pd.read_csv(report / "tables" / "gcc_vs_native.csv")
    assert len(table) == 2 * 2
    s = scores[(scores.train_set == scores.test_set) & (scores.metric == "SROCC")]
    for row in table.itertuples(index=False):
        part = s[(s.model == row.model) & (s.train_set == row.dataset)]
        nat = part[part.loss_role == "native"].set_index("split")["value"]
        gcc = part[part.loss_role == "gcc"].set_index("split")["value"]
        assert row.gcc_wins == int((gcc > nat).sum())
        assert row.delta == pytest.approx(gcc.median() - nat.median(), rel=1e-12)
    html = (report / "index.html").read_text()
    assert f"{table.gcc_wins.iloc[0]}/3" in html


def test_cross_and_reported(report: Path):
    cross = pd.read_csv(report / "tables" / "cross.csv")
    assert len(cross) == 2 * 2 * 2 and (cross.train_set != cross.test_set).all()
    rep = pd.read_csv(report / "tables" / "reported.csv")
    assert set(rep.model) == {"monet"} and set(rep.method) == {"GMC-IQA"} and len(rep) == 2  # native + gcc
    html = (report / "index.html").read_text()
    assert "GMC-IQA: Paper 2024" in html


def test_synthetic_banner_and_marks(report: Path, tmp_path: Path):
    html = (report / "index.html").read_text()
    assert 'id="synthetic-banner"' in html and "SYNTHETIC demo data" in html
    for name in ("intra", "cross", "gcc_vs_native"):
        tex = (report / "tables" / f"{name}.tex").read_text()
        assert "SYNTHETIC" in tex and "\\dag" in tex, name
    real = render(tmp_path, synthetic=False)
    html = (real / "index.html").read_text()
    assert "synthetic-banner" not in html and "SYNTHETIC" not in html
    for name in ("intra", "cross", "gcc_vs_native"):
        tex = (real / "tables" / f"{name}.tex").read_text()
        assert "SYNTHETIC" not in tex and "\\dag" not in tex, name


def test_latex_escaping(report: Path):
    assert escape_latex("a_b 50% & $x# {y} ~^\\") == (
        r"a\_b 50\% \& \$x\# \{y\} \textasciitilde{}\textasciicircum{}\textbackslash{}"
    )
    tex = (report / "tables" / "intra.tex").read_text()
    assert "CNN\\_IQA" in tex and "Demo\\_A" in tex
    body = tex.split("\\begin{tabular}")[1]
    assert not re.search(r"(?<!\\)_", body), "unescaped underscore in the tabular"


def test_best_value_bold(report: Path):
    intra = pd.read_csv(report / "tables" / "intra.csv")
    tex = (report / "tables" / "intra.tex").read_text()
    for ds in ("demo_a", "demo_b"):
        best = intra.loc[intra.dataset == ds, "srocc_median"].max()
        assert f"\\textbf{{{best:.3f}}}" in tex


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns="metric"), "missing column(s) metric"),
        (lambda f: f.assign(metric=f.metric.where(f.index != 3, "MAE")), "unknown metric(s) 'MAE'"),
        (
            lambda f: f.assign(value=f.value.where(f.index != 3, np.nan)),
            "empty/NaN value(s) in column 'value'",
        ),
        (lambda f: f.assign(loss_role=f.loss_role.where(f.index != 0, "other")), "unknown loss_role"),
        (lambda f: f.iloc[:0], "no rows"),
        (lambda f: pd.concat([f, f.iloc[:1]]), "repeat"),
        (lambda f: f.assign(split=f.split.astype(float) + 0.5), "split must be an integer"),
    ],
)
def test_bad_input_raises_naming_file(tmp_path: Path, mutate, message):
    path = write(mutate(make_scores()), tmp_path / "bad_scores.csv")
    with pytest.raises(ValueError, match="bad_scores.csv") as err:
        render_report(path, tmp_path / "out", datasets=datasets(True), models=MODELS, provenance={})
    assert message in str(err.value)
    assert not (tmp_path / "out" / "index.html").exists()


def test_empty_file_and_unknown_dataset(tmp_path: Path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv is empty"):
        render_report(empty, tmp_path / "out", datasets=datasets(True), models=MODELS, provenance={})
    path = write(make_scores(), tmp_path / "scores.csv")
    only_a = {"demo_a": datasets(True)["demo_a"]}
    with pytest.raises(ValueError, match="'demo_b' are not in the datasets metadata"):
        render_report(path, tmp_path / "out", datasets=only_a, models=MODELS, provenance={})


def test_deterministic(tmp_path: Path):
    first = render(tmp_path, name="one")
    second = render(tmp_path, name="two")
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel


def test_no_cross_no_gcc(tmp_path: Path):
    frame = make_scores()
    frame = frame[(frame.train_set == frame.test_set) & (frame.loss_role == "native")]
    out = render(tmp_path, frame=frame)
    assert (out / "tables" / "cross.tex").read_text().startswith("%")
    html = (out / "index.html").read_text()
    assert "No cross-dataset results" in html and "both its native loss and the GCC loss" in html
    assert (out / "figures" / "gcc_vs_native.png").is_file()


def test_titles_with_dollar_signs_and_backslashes_are_drawn_literally(tmp_path: Path, monkeypatch):
    """A ``$`` in a title started matplotlib mathtext: two of them turned the text between them into a
    formula (the dollar signs vanished), and one that did not parse (``$x^$``) crashed the figure."""
    svgs = capture_figure_svgs(monkeypatch)
    models = {
        "monet": {**MODELS["monet"], "title": "Cost $5 or $10"},
        "cnn_iqa": {**MODELS["cnn_iqa"], "title": "Net $x^$"},
    }
    sets = datasets(True)
    sets["demo_a"]["title"] = r"A\$b $c_d$"
    sets["demo_b"]["title"] = "50% ^_^ \\"
    scores = write(make_scores(), tmp_path / "scores.csv")
    render_report(scores, tmp_path / "out", datasets=sets, models=models, provenance=PROVENANCE)
    for name in ("intra_srocc", "gcc_vs_native", "cross_srocc"):
        for ext in ("png", "pdf"):
            assert (tmp_path / "out" / "figures" / f"{name}.{ext}").stat().st_size > 0
    assert sorted(svgs) == sorted(
        ["intra_srocc", "gcc_vs_native", "gcc_differences", "cross_srocc", "validation_srocc"]
    )
    for name in ("intra_srocc", "gcc_vs_native", "gcc_differences", "cross_srocc"):
        svg = svgs[name]
        for text in [m["title"] for m in models.values()] + [d["title"] for d in sets.values()]:
            # the forest plot labels a row "<model> - <dataset>": the dataset title starts mid-text
            assert (text in svg) if name == "gcc_differences" else (f">{text}" in svg), (name, text)


@needs_pdflatex
def test_tables_compile(report: Path, tmp_path: Path):
    tables = [report / "tables" / f"{t}.tex" for t in ("intra", "cross", "gcc_vs_native")]
    result = compile_tables(tables, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]


# --- undefined correlations (constant predictions give NaN SROCC/PLCC/KROCC)

CORRELATIONS = ("SROCC", "PLCC", "KROCC")


def nan_scores() -> pd.DataFrame:
    """make_scores with undefined correlations: split 1 of (monet, native, demo_a intra) and every split of
    (cnn_iqa, gcc, demo_b intra)."""
    f = make_scores()
    intra = (f.train_set == f.test_set) & f.metric.isin(CORRELATIONS)
    one = (
        intra & (f.model == "monet") & (f.loss_role == "native") & (f.train_set == "demo_a") & (f.split == 1)
    )
    every = intra & (f.model == "cnn_iqa") & (f.loss_role == "gcc") & (f.train_set == "demo_b")
    return f.assign(value=f.value.mask(one | every))


@pytest.fixture(scope="module")
def nan_report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("nan")
    reported = tmp / "reported.csv"
    reported.write_text(
        "method,paper,protocol,train_set,test_set,srocc,plcc,source_url,note\n"
        "GMC-IQA,Paper 2024,intra,KonIQ,KonIQ,0.9,0.91,https://example.org,\n"
    )
    return render(tmp, frame=nan_scores(), reported=reported)


def test_undefined_correlations_render(nan_report: Path):
    assert (nan_report / "index.html").is_file()
    scores = nan_scores()
    intra = scores[scores.train_set == scores.test_set]
    table = pd.read_csv(nan_report / "tables" / "intra.csv").set_index(["model", "loss", "dataset"])
    for (model, loss, ds, metric), part in intra.groupby(["model", "loss", "train_set", "metric"]):
        row, m = table.loc[(model, loss, ds)], metric.lower()
        values = part["value"].to_numpy()
        defined = int(np.isfinite(values).sum())
        assert row[f"{m}_n"] == defined and row[f"{m}_n_undefined"] == len(values) - defined
        if defined:
            assert row[f"{m}_median"] == pytest.approx(np.nanmedian(values), rel=1e-12)
            assert row[f"{m}_std"] == pytest.approx(np.nanstd(values, ddof=1), rel=1e-12)
        else:
            assert np.isnan(row[f"{m}_median"]) and np.isnan(row[f"{m}_std"])
    assert table.loc[("monet", "mse", "demo_a"), ["srocc_n", "srocc_n_undefined"]].tolist() == [2, 1]
    assert table.loc[("cnn_iqa", "gcc", "demo_b"), ["plcc_n", "plcc_n_undefined"]].tolist() == [0, 3]
    assert table.loc[("cnn_iqa", "gcc", "demo_b"), ["rmse_n", "rmse_n_undefined"]].tolist() == [3, 0]
    summary = pd.read_csv(nan_report / "tables" / "summary.csv")
    assert summary["n_undefined"].sum() == 3 * (1 + 3)
    reported = pd.read_csv(nan_report / "tables" / "reported.csv").set_index("loss_role")
    assert reported.loc["native", ["n", "n_undefined"]].tolist() == [2, 1]
    assert reported.loc["native", "srocc_ours"] == table.loc[("monet", "mse", "demo_a"), "srocc_median"]
    html = (nan_report / "index.html").read_text().split('id="table-reported"')[1].split("</table>")[0]
    assert html.count("n=2/3") == 2 and "constant predictions" in html.split("</caption>")[0]


def test_undefined_gcc_vs_native(nan_report: Path):
    table = pd.read_csv(nan_report / "tables" / "gcc_vs_native.csv").set_index(["model", "dataset"])
    s = nan_scores()
    s = s[(s.train_set == s.test_set) & (s.metric == "SROCC")]
    monet = table.loc[("monet", "demo_a")]
    nat = s[(s.model == "monet") & (s.train_set == "demo_a") & (s.loss_role == "native")].set_index("split")
    gcc = s[(s.model == "monet") & (s.train_set == "demo_a") & (s.loss_role == "gcc")].set_index("split")
    assert monet.native_median == pytest.approx(np.nanmedian(nat["value"]), rel=1e-12)
    assert (monet.n_native, monet.n_native_undefined, monet.n_gcc_undefined, monet.n_paired) == (2, 1, 0, 2)
    assert monet.gcc_wins == int((gcc["value"] > nat["value"]).sum())  # NaN pairs never win
    cnn = table.loc[("cnn_iqa", "demo_b")]
    assert np.isnan(cnn.gcc_median) and np.isnan(cnn.delta) and np.isnan(cnn.median_paired_delta)
    assert (cnn.n_gcc, cnn.n_gcc_undefined, cnn.n_paired, cnn.gcc_wins) == (0, 3, 0, 0)
    html = (nan_report / "index.html").read_text()
    row = re.search(r'<tr data-dataset="demo_b" data-model="cnn_iqa".*?</tr>', html, re.S).group(0)
    native = re.search(r'data-role="native">(.*?)</td>', row, re.S).group(1)
    undefined = re.search(r'data-role="gcc">(.*?)</td>', row, re.S).group(1)
    assert "<strong>" in native and "<strong>" not in undefined  # the defined side is the better one
    assert undefined.startswith("\u2014") and "\u2021" in undefined and "n=0/3" in undefined


def test_undefined_marks_and_note(nan_report: Path, report: Path):
    html = (nan_report / "index.html").read_text()
    intra_html = html.split('id="table-intra"')[1].split("</table>")[0]
    caption = intra_html.split("</caption>")[0]
    assert "\u2021 8 of the 12 split scores" in caption and "constant predictions" in caption
    row = re.search(r'<tr data-model="monet" data-loss-role="native".*?</tr>', intra_html, re.S).group(0)
    cell = re.search(r'data-dataset="demo_a" data-metric="SROCC">(.*?)</td>', row, re.S).group(1)
    assert 'class="undefined"' in cell and "n=2/3" in cell
    row = re.search(r'<tr data-model="cnn_iqa" data-loss-role="gcc".*?</tr>', intra_html, re.S).group(0)
    cell = re.search(r'data-dataset="demo_b" data-metric="SROCC">(.*?)</td>', row, re.S).group(1)
    assert cell.startswith("\u2014") and "\u2021" in cell and "<strong>" not in cell
    tex = (nan_report / "tables" / "intra.tex").read_text()
    caption = tex.split("\\caption{")[1].split("\n")[0]
    assert "\\textsuperscript{\\ddag} 8 of the 12 split scores" in caption
    assert "\\textsuperscript{\\ddag}" in tex.split("\\midrule")[1] and "(n=2/3)" in tex
    assert "---\\textsuperscript{\\ddag}" in tex
    for name in ("cross", "gcc_vs_native"):  # cross has no undefined split; gcc_vs_native has
        tex = (nan_report / "tables" / f"{name}.tex").read_text()
        assert ("constant predictions" in tex) == (name == "gcc_vs_native"), name
    assert "not plotted" in html.split('id="figure-intra_srocc"')[1].split("</figure>")[0]
    # no undefined split: no mark, no note
    html = (report / "index.html").read_text()
    assert "\u2021" not in html and "constant predictions" not in html
    assert "ddag" not in (report / "tables" / "intra.tex").read_text()


def test_undefined_cells_never_bold(nan_report: Path):
    intra = pd.read_csv(nan_report / "tables" / "intra.csv")
    tex = (nan_report / "tables" / "intra.tex").read_text()
    for ds in ("demo_a", "demo_b"):
        best = intra.loc[intra.dataset == ds, "srocc_median"].max()  # pandas max skips NaN
        assert not np.isnan(best) and f"\\textbf{{{best:.3f}}}" in tex
    assert "\\textbf{---" not in tex and "\\textbf{--}" not in tex


@pytest.mark.parametrize(
    ("metric", "value", "message"),
    [
        ("RMSE", "", "empty/NaN value(s) in column 'value'"),
        ("RMSE", "nan", "'nan' (RMSE)"),
        ("SROCC", "inf", "'inf' (SROCC)"),
        ("PLCC", "-inf", "'-inf' (PLCC)"),
        ("KROCC", "abc", "'abc' (KROCC)"),
    ],
)
def test_only_correlations_may_be_nan(tmp_path: Path, metric: str, value: str, message: str):
    frame = make_scores().astype({"value": object})
    row = frame.index[frame.metric == metric][2]
    frame.loc[row, "value"] = value
    path = write(frame, tmp_path / "bad_scores.csv")
    with pytest.raises(ValueError, match="bad_scores.csv") as err:
        render_report(path, tmp_path / "out", datasets=datasets(True), models=MODELS, provenance={})
    assert message in str(err.value) and f"CSV line(s) {row + 2}" in str(err.value)
    assert not (tmp_path / "out" / "index.html").exists()


@pytest.mark.parametrize("value", ["", "nan", "NaN", np.nan])
def test_correlation_nan_accepted(value):
    frame = make_scores().astype({"value": object})
    frame.loc[[0, 1, 2], "value"] = value  # SROCC, PLCC, KROCC of one split
    clean = validate_scores(frame, "x.csv")
    assert clean["value"].isna().sum() == 3 and clean["value"].dtype == float


@needs_pdflatex
def test_tables_with_undefined_marks_compile(nan_report: Path, tmp_path: Path):
    tables = sorted((nan_report / "tables").glob("*.tex"))
    assert any("ddag" in t.read_text() for t in tables)
    result = compile_tables(tables, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize(
    ("provenance", "flagged"),
    [
        ({"selection": ["val"], "precisions": ["float32"]}, []),
        (
            {"selection": ["best_on_test", "val"], "precisions": ["amp-float16", "float32"]},
            ["test part", "AMP"],
        ),
    ],
)
def test_report_states_the_training_protocol_and_flags_departures(tmp_path, provenance, flagged):
    scores = tmp_path / "scores.csv"
    make_scores().to_csv(scores, index=False)
    render_report(scores, tmp_path / "out", datasets=datasets(False), models=MODELS, provenance=provenance)
    html = (tmp_path / "out" / "index.html").read_text()
    protocol = re.search(r'<p id="protocol">(.*?)</p>', html, re.DOTALL).group(1)
    assert "float32" in protocol and "model selection" in protocol
    assert re.findall(r'<strong class="flag">([^<]*)</strong>', protocol) == [
        next(t for t in re.findall(r'<strong class="flag">([^<]*)</strong>', protocol) if w in t)
        for w in flagged
    ]


def test_report_states_each_models_data_protocol(tmp_path):
    scores = tmp_path / "scores.csv"
    make_scores().to_csv(scores, index=False)
    provenance = {
        "selection": ["val"],
        "precisions": ["float32"],
        "protocols": {"m_crop": ["random 32 px crops (8 per image per epoch); test: 16 grid crops averaged"]},
    }
    render_report(scores, tmp_path / "out", datasets=datasets(False), models=MODELS, provenance=provenance)
    html = (tmp_path / "out" / "index.html").read_text()
    protocol = re.search(r'<p id="protocol">(.*?)</p>', html, re.DOTALL).group(1)
    assert "m_crop data: random 32 px crops (8 per image per epoch); test: 16 grid crops averaged" in protocol


@needs_pdflatex
def test_tables_tex_is_one_document_that_compiles_with_non_ascii_titles(tmp_path):
    """reports/tables.tex inputs every table the report wrote and compiles with pdflatex, with a title
    holding symbols T1 fonts lack (x, >=, Greek) and accented letters."""
    import subprocess

    scores = tmp_path / "scores.csv"
    make_scores().to_csv(scores, index=False)
    out = tmp_path / "out"
    title = "GMC-IQA × baselines, SROCC ≥ 0.9, τ = 1, Δ — café"
    render_report(scores, out, datasets=datasets(False), models=MODELS, provenance={}, title=title)
    document = (out / "tables.tex").read_text()
    inputs = re.findall(r"\\input\{(tables/[^}]+\.tex)\}", document)
    assert sorted(inputs) == sorted(f"tables/{p.name}" for p in (out / "tables").glob("*.tex"))
    assert len(inputs) >= 3
    result = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "tables.tex"],
        cwd=out,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert (out / "tables.pdf").stat().st_size > 0


def test_cross_dataset_heatmap_shows_hand_computed_medians(tmp_path):
    """cross_matrix: the median over splits of each cross-dataset pair, computed here by hand; the report
    draws it as figures/cross_srocc.png|pdf and links it."""
    from gmc.reporting.figures import cross_matrix

    rows = []
    for split, (a, b) in enumerate([(0.2, 0.5), (0.4, 0.1), (0.9, 0.3)]):
        for loss, role, value in (("l1", "native", a), ("gcc", "gcc", b)):
            rows.append(("m", loss, role, "s1", "s2", split, "SROCC", value))
            rows.append(("m", loss, role, "s1", "s1", split, "SROCC", 0.99))  # intra: not in the matrix
    frame = pd.DataFrame(
        rows, columns=["model", "loss", "loss_role", "train_set", "test_set", "split", "metric", "value"]
    )
    matrix = cross_matrix(frame)
    assert list(matrix.columns) == [("s1", "s2")]
    assert list(matrix.index) == [("m", "native", "l1"), ("m", "gcc", "gcc")]  # native first
    assert matrix.to_numpy().ravel().tolist() == pytest.approx(
        [0.4, 0.3]
    )  # medians of (.2,.4,.9), (.5,.1,.3)

    scores = tmp_path / "scores.csv"
    make_scores().to_csv(scores, index=False)
    render_report(scores, tmp_path / "out", datasets=datasets(False), models=MODELS, provenance={})
    assert (tmp_path / "out" / "figures" / "cross_srocc.png").stat().st_size > 0
    assert "figures/cross_srocc.png" in (tmp_path / "out" / "index.html").read_text()


def test_page_and_latex_document_name_the_tables_this_config_leaves_empty(tmp_path: Path):
    frame = make_scores()
    frame = frame[frame.train_set == frame.test_set]  # no cross-dataset test set; no reported CSV
    out = render(tmp_path, frame=frame)
    html = (out / "index.html").read_text()
    unfilled = html.split('id="unfilled"')[1].split("</div>")[0]
    titles = re.findall(r"<strong>([^<]+)</strong>", unfilled)
    assert titles == [
        "Cross-dataset results",
        "Loss comparison",
        "Full-reference track",
        "Reproduced vs reported",
    ]
    assert "config/paper.yaml" in unfilled
    doc = (out / "tables.tex").read_text()
    assert (
        r"\item \textbf{Cross-dataset results} needs" in doc
        and "Intra-dataset" not in doc.split("\\input")[0]
    )


def test_a_full_config_leaves_only_what_it_lacks(report: Path):
    html = (report / "index.html").read_text()
    titles = re.findall(r"<strong>([^<]+)</strong>", html.split('id="unfilled"')[1].split("</div>")[0])
    # two losses per model; no FR dataset; the reported CSV matches MoNet on KonIQ
    assert titles == ["Loss comparison", "Full-reference track"]
