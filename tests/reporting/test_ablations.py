"""Tests of gmc.reporting.render_ablation_report: files, numbers, order, marks, escaping, errors,
determinism."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gmc.reporting import render_ablation_report
from gmc.reporting.scores import validate_scores
from tests.reporting.helpers import capture_figure_svgs, compile_tables, needs_pdflatex

SPLITS = (0, 1, 2)
METRICS = ("SROCC", "PLCC", "KROCC", "RMSE")
PROVENANCE = {"git_sha": "abc123", "date": "2025-01-01"}
HTML_LABEL = "1 <b>&</b> 2"
TEX_LABEL = "50%_PLCC"


def variant(name: str, label: str, settings: str, loss: str) -> dict:
    return {"name": name, "label": label, "settings": settings, "model": "monet_small", "loss": loss}


ABLATIONS = [
    {
        "name": "queue_length",
        "title": "GCC queue length",
        "description": "MoNet-small trained with the GCC loss; only the queue length changes.",
        "train_sets": ["demo_a", "demo_b"],
        "splits": 3,
        "variants": [
            variant("batch_only", "0 (batch only)", "queue_size=0", "gcc-q0"),
            variant("q100", HTML_LABEL, "queue_size=100", "gcc-q100"),
            variant("q800", "800", "queue_size=800", "gcc"),
        ],
    },
    {
        "name": "terms",
        "title": "GCC loss terms",
        "description": "",
        "train_sets": ["demo_b", "demo_a"],
        "splits": 3,
        "variants": [
            variant("mse", "MSE only", "loss=mse", "mse"),
            variant("plcc", TEX_LABEL, "beta=0", "gcc-plcc"),
            variant("both", "PLCC + SROCC", "", "gcc"),
        ],
    },
]
ROLES = {"mse": "native"}


def datasets(synthetic: bool) -> dict[str, dict]:
    return {
        "demo_a": {"title": "Demo_A", "synthetic_demo": synthetic, "full_reference": False},
        "demo_b": {"title": "Demo B", "synthetic_demo": synthetic, "full_reference": False},
    }


def make_scores() -> pd.DataFrame:
    """Every run of ABLATIONS (the shared gcc run once) on both sets, plus an unrelated cross-dataset row."""
    rng = np.random.default_rng(1)
    runs = sorted({(v["model"], v["loss"]) for a in ABLATIONS for v in a["variants"]})
    rows = [
        {
            "model": model,
            "loss": loss,
            "loss_role": ROLES.get(loss, "gcc"),
            "train_set": ds,
            "test_set": ds,
            "split": split,
            "metric": metric,
            "value": float(rng.uniform(0.3, 0.95)),
            "n_images": 40,
            "selection": "val",
        }
        for model, loss in runs
        for ds in ("demo_a", "demo_b")
        for split in SPLITS
        for metric in METRICS
    ]
    rows.append({**rows[0], "test_set": "demo_b", "value": 0.1})
    return pd.DataFrame(rows)


def render(tmp_path: Path, *, name: str = "out", synthetic: bool = True, frame=None, ablations=None) -> Path:
    scores = tmp_path / "scores.csv"
    (make_scores() if frame is None else frame).to_csv(scores, index=False)
    out = tmp_path / name
    render_ablation_report(
        scores,
        out,
        ablations=ABLATIONS if ablations is None else ablations,
        datasets=datasets(synthetic),
        provenance=PROVENANCE,
    )
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    return render(tmp_path_factory.mktemp("abl"))


def intra_values(loss: str, ds: str, metric: str) -> np.ndarray:
    s = make_scores()
    part = s[(s.loss == loss) & (s.train_set == ds) & (s.test_set == ds) & (s.metric == metric)]
    return part.sort_values("split")["value"].to_numpy()


def test_all_files_exist(report: Path):
    expected = ["ablations.html", "ablations.provenance.json"]
    for name in ("queue_length", "terms"):
        expected += [f"tables/ablation_{name}.{ext}" for ext in ("csv", "tex")]
        expected += [f"figures/ablation_{name}.{ext}" for ext in ("png", "pdf")]
    for rel in expected:
        assert (report / rel).is_file() and (report / rel).stat().st_size > 0, rel
    assert not (report / "index.html").exists() and not (report / "provenance.json").exists()
    assert not list(report.rglob("*.tmp")), "temporary files left behind"
    record = json.loads((report / "ablations.provenance.json").read_text())
    assert record["provenance"] == PROVENANCE and len(record["inputs"]["scores_csv"]["sha256"]) == 64
    assert [a["name"] for a in record["ablations"]] == ["queue_length", "terms"]


def test_csv_numbers_and_order(report: Path):
    for ablation in ABLATIONS:
        table = pd.read_csv(report / "tables" / f"ablation_{ablation['name']}.csv", keep_default_na=False)
        assert list(table.columns[:7]) == [
            "ablation",
            "variant",
            "label",
            "settings",
            "model",
            "loss",
            "train_set",
        ]
        assert list(table.columns[7:13]) == [
            f"srocc_{s}" for s in ("median", "mean", "std", "q25", "q75", "n")
        ]
        assert {"plcc_median", "krocc_median", "rmse_median"} <= set(table.columns)
        expected = [(v["name"], ds) for v in ablation["variants"] for ds in ablation["train_sets"]]
        assert list(zip(table.variant, table.train_set)) == expected
        for row in table.itertuples(index=False):
            for metric in METRICS:
                values = intra_values(row.loss, row.train_set, metric)
                m = metric.lower()
                assert getattr(row, f"{m}_median") == pytest.approx(np.median(values), rel=1e-12)
                assert getattr(row, f"{m}_std") == pytest.approx(np.std(values, ddof=1), rel=1e-12)
                assert getattr(row, f"{m}_n") == len(SPLITS)


def test_shared_run_same_numbers(report: Path):
    queue = pd.read_csv(report / "tables" / "ablation_queue_length.csv").set_index(["variant", "train_set"])
    terms = pd.read_csv(report / "tables" / "ablation_terms.csv").set_index(["variant", "train_set"])
    for ds in ("demo_a", "demo_b"):
        assert queue.loc[("q800", ds), "srocc_median"] == terms.loc[("both", ds), "srocc_median"]


def test_tex_rows_and_best_bold(report: Path):
    for ablation in ABLATIONS:
        name = ablation["name"]
        table = pd.read_csv(report / "tables" / f"ablation_{name}.csv")
        tex = (report / "tables" / f"ablation_{name}.tex").read_text()
        assert (
            "\\toprule" in tex
            and "\\bottomrule" in tex
            and f"\\label{{tab:ablation-{name.replace('_', '-')}}}"
        )
        assert "Medians over 3 splits." in tex
        body = tex.split("\\midrule\n", 1)[1].split("\\bottomrule")[0].splitlines()
        assert len(body) == len(ablation["variants"])
        for line, variant in zip(body, ablation["variants"]):
            cells = line.removesuffix(" \\\\").split(" & ")
            assert len(cells) == 2 + 2 * len(ablation["train_sets"])
            for j, ds in enumerate(ablation["train_sets"]):
                for k, metric in enumerate(("srocc", "plcc")):
                    column = table.loc[table.train_set == ds, f"{metric}_median"]
                    mine = table.loc[
                        (table.train_set == ds) & (table.variant == variant["name"]), f"{metric}_median"
                    ]
                    cell = cells[2 + 2 * j + k]
                    assert f"{mine.iloc[0]:.3f}" in cell
                    assert cell.startswith("\\textbf{") == (round(mine.iloc[0], 3) == round(column.max(), 3))


def test_synthetic_marks(report: Path, tmp_path: Path):
    html = (report / "ablations.html").read_text()
    assert 'id="synthetic-banner"' in html and "SYNTHETIC demo data" in html and 'class="dagger"' in html
    tex = (report / "tables" / "ablation_terms.tex").read_text()
    assert "SYNTHETIC" in tex and "\\dag" in tex
    real = render(tmp_path, synthetic=False)
    html = (real / "ablations.html").read_text()
    assert "synthetic-banner" not in html and "SYNTHETIC" not in html
    tex = (real / "tables" / "ablation_terms.tex").read_text()
    assert "SYNTHETIC" not in tex and "\\dag" not in tex


def test_html_page(report: Path):
    html = (report / "ablations.html").read_text()
    assert 'href="index.html"' in html
    assert html.index('id="ablation-queue_length"') < html.index('id="ablation-terms"')
    assert "only the queue length changes." in html
    for rel in ("tables/ablation_terms.tex", "tables/ablation_terms.csv", "figures/ablation_terms.png"):
        assert f'"{rel}"' in html
    assert "ablations.provenance.json" in html
    rows = re.findall(r'<tr data-variant="([^"]+)"', html)
    assert rows == [v["name"] for a in ABLATIONS for v in a["variants"]]


def test_html_escaping(report: Path):
    html = (report / "ablations.html").read_text()
    assert "1 &lt;b&gt;&amp;&lt;/b&gt; 2" in html and HTML_LABEL not in html


def test_latex_escaping(report: Path):
    tex = (report / "tables" / "ablation_terms.tex").read_text()
    assert "50\\%\\_PLCC" in tex and "Demo\\_A" in tex
    body = tex.split("\\begin{tabular}")[1]
    assert not re.search(r"(?<![\\])[_%]", body), "unescaped _ or % in the tabular"
    queue = (report / "tables" / "ablation_queue_length.tex").read_text()
    assert "1 \\textless{}b\\textgreater{}\\&\\textless{}/b\\textgreater{} 2" in queue


def test_missing_cell_names_the_run(tmp_path: Path):
    frame = make_scores()
    frame = frame[~((frame.loss == "gcc-q100") & (frame.train_set == "demo_b"))]
    with pytest.raises(ValueError, match=r"scores\.csv") as err:
        render(tmp_path, frame=frame)
    message = str(err.value)
    for part in (
        "'queue_length'",
        "'q100'",
        "'monet_small'",
        "'gcc-q100'",
        "'demo_b'",
        "snakemake ablations",
    ):
        assert part in message, part
    assert not (tmp_path / "out").exists(), "nothing may be written on error"


def test_wrong_split_count(tmp_path: Path):
    frame = make_scores()
    frame = frame[~((frame.loss == "mse") & (frame.train_set == "demo_a") & (frame.split == 2))]
    with pytest.raises(
        ValueError, match=r"scores\.csv.*'terms'.*'mse'.*2 KROCC split\(s\) \(0, 1\), expected 3"
    ):
        render(tmp_path, frame=frame)


def test_several_roles_in_one_cell(tmp_path: Path):
    frame = make_scores()
    extra = frame[frame.loss == "mse"].assign(loss_role="other")
    with pytest.raises(ValueError, match="several loss roles"):
        render(tmp_path, frame=pd.concat([frame, extra]))


def test_unknown_dataset_and_bad_spec(tmp_path: Path):
    bad = [{**ABLATIONS[0], "train_sets": ["demo_a", "nowhere"]}]
    with pytest.raises(ValueError, match="'nowhere' are not in the datasets metadata"):
        render(tmp_path, ablations=bad)
    with pytest.raises(ValueError, match="name must be path-safe"):
        render(tmp_path, ablations=[{**ABLATIONS[0], "name": "../x"}])
    with pytest.raises(ValueError, match="names must be unique"):
        render(tmp_path, ablations=[ABLATIONS[0], ABLATIONS[0]])


def test_titles_with_dollar_signs_and_backslashes_are_drawn_literally(tmp_path: Path, monkeypatch):
    """Ablation, dataset and variant titles reach the figure as typed (no matplotlib mathtext)."""
    svgs = capture_figure_svgs(monkeypatch)
    labels = ["$x^$", r"\$5", "a_b^c $y$"]
    spec = {
        **ABLATIONS[0],
        "title": "Queue $q$ (GCC)",
        "variants": [
            {**v, "label": label} for v, label in zip(ABLATIONS[0]["variants"], labels, strict=True)
        ],
    }
    sets = datasets(True)
    sets["demo_a"]["title"] = "Set $1 to $2"
    scores = tmp_path / "scores.csv"
    make_scores().to_csv(scores, index=False)
    render_ablation_report(scores, tmp_path / "out", ablations=[spec], datasets=sets, provenance=PROVENANCE)
    assert (tmp_path / "out" / "figures" / "ablation_queue_length.png").stat().st_size > 0
    (svg,) = svgs.values()
    for text in ["Queue $q$ (GCC): SROCC per variant", "Set $1 to $2", *labels]:
        assert f">{text}" in svg, text


def test_no_ablations(tmp_path: Path):
    out = tmp_path / "out"
    render_ablation_report(
        tmp_path / "absent.csv", out, ablations=[], datasets=datasets(True), provenance=PROVENANCE
    )
    html = (out / "ablations.html").read_text()
    assert "No ablations are configured" in html and "<table" not in html and "synthetic-banner" not in html
    assert not (out / "tables").exists() and (out / "ablations.provenance.json").is_file()


def test_any_loss_role_accepted_only_when_asked():
    frame = make_scores().assign(loss_role="queue")
    assert len(validate_scores(frame, "x.csv", loss_roles=None)) == len(frame)
    with pytest.raises(ValueError, match="unknown loss_role"):
        validate_scores(frame, "x.csv")


def test_deterministic(tmp_path: Path):
    first = render(tmp_path, name="one")
    second = render(tmp_path, name="two")
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel


def test_undefined_split_renders(tmp_path: Path):
    """Constant predictions (NaN correlations) in one split of one cell and in every split of another: the
    report renders, the split-count check counts them, statistics use the defined splits, cells are marked."""
    frame = make_scores()
    corr = frame.metric.isin(["SROCC", "PLCC", "KROCC"]) & (frame.train_set == frame.test_set)
    one = corr & (frame.loss == "gcc-q100") & (frame.train_set == "demo_a") & (frame.split == 1)
    every = corr & (frame.loss == "gcc-q0") & (frame.train_set == "demo_b")
    frame = frame.assign(value=frame.value.mask(one | every))
    out = render(tmp_path, frame=frame)
    table = pd.read_csv(out / "tables" / "ablation_queue_length.csv").set_index(["variant", "train_set"])
    q100 = table.loc[("q100", "demo_a")]
    values = frame.loc[(frame.loss == "gcc-q100") & (frame.train_set == "demo_a") & (frame.metric == "SROCC")]
    assert (q100.srocc_n, q100.srocc_n_undefined, q100.rmse_n, q100.rmse_n_undefined) == (2, 1, 3, 0)
    assert q100.srocc_median == pytest.approx(np.nanmedian(values[values.test_set == "demo_a"].value))
    q0 = table.loc[("batch_only", "demo_b")]
    assert (q0.plcc_n, q0.plcc_n_undefined) == (0, 3) and np.isnan(q0.plcc_median)
    html = (out / "ablations.html").read_text()
    section = html.split('id="ablation-queue_length"')[1].split("</section>")[0]
    assert "n=2/3" in section and "n=0/3" in section and 'class="undefined"' in section
    assert "constant predictions" in section.split("</caption>")[0]
    assert "not plotted" in section.split("<figcaption>")[1]
    row = re.search(r'<tr data-variant="batch_only".*?</tr>', section, re.S).group(0)
    cell = re.search(r'data-train-set="demo_b" data-metric="SROCC">(.*?)</td>', row, re.S).group(1)
    assert cell.startswith("\u2014") and "<strong>" not in cell
    tex = (out / "tables" / "ablation_queue_length.tex").read_text()
    assert "\\ddag" in tex and "(n=2/3)" in tex and "---\\textsuperscript{\\ddag}" in tex
    assert "\\textbf{---" not in tex
    terms = (out / "tables" / "ablation_terms.tex").read_text()  # no undefined split there
    assert "ddag" not in terms and "constant predictions" not in terms


@needs_pdflatex
def test_ablation_tables_compile(report: Path, tmp_path: Path):
    result = compile_tables(sorted((report / "tables").glob("ablation_*.tex")), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]


def test_protocol_flags_in_ablation_cells(tmp_path: Path):
    """A variant selected on test data is flagged t (with the legend) in HTML and LaTeX; every cell has
    3 < 10 splits (s)."""
    grid = ABLATIONS[0]
    q100 = next(v for v in grid["variants"] if v["name"] == "q100")
    runs = pd.DataFrame(
        [{"model": q100["model"], "loss": q100["loss"], "train_set": "demo_a", "selection": "best_on_test",
          "precision": "float32"}]
    )  # fmt: skip
    scores = tmp_path / "scores.csv"
    make_scores().to_csv(scores, index=False)
    out = tmp_path / "out"
    render_ablation_report(
        scores, out, ablations=[grid], datasets=datasets(True), provenance=PROVENANCE, runs=runs,
        models={q100["model"]: {"paper_backbone": True}},
    )  # fmt: skip
    html = (out / "ablations.html").read_text()
    rows = dict(re.findall(r'<tr data-variant="(\w+)"[^>]*>(.*?)</tr>', html, re.S))
    flags = lambda row: re.findall(r'<sup class="flags" title="[^"]*">([^<]*)</sup>', row)  # noqa: E731
    assert flags(rows["q100"]) == ["t,s", "t,s", "s", "s"]  # demo_a SROCC, PLCC; demo_b SROCC, PLCC
    assert flags(rows["q800"]) == ["s"] * 4
    assert "Protocol flags: t = model selection on test data" in html
    tex = (out / "tables" / "ablation_queue_length.tex").read_text()
    assert r"\textsuperscript{t,s}" in tex and "Protocol flags:" in tex
