"""The report in a browser: ``reports/index.html`` and ``reports/ablations.html``, rendered from small
hand-made score frames, open in headless Chromium with no console error, broken image, dead link or empty
table, and a full-page screenshot is saved beside them; pages with one such fault each prove that the
check finds it (gmc.reporting.browser, ``python -m gmc check-report``).

Without Chromium these tests are skipped, except when the environment variable ``CI`` is set: then they
fail, so that CI cannot pass without looking at the page (``.ci/run`` installs Debian's ``chromium``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from gmc.cli import main
from gmc.reporting import render_ablation_report, render_report
from gmc.reporting.browser import Chromium, ChromiumNotFound, find_chromium
from tests.reporting.test_ablations import ABLATIONS
from tests.reporting.test_ablations import make_scores as ablation_scores
from tests.reporting.test_report import MODELS, PROVENANCE, datasets, make_scores

REPORTED = (
    "method,paper,arxiv_or_doi,protocol,train_set,test_set,srocc,plcc,source_url,note\n"
    "GMC-IQA,Paper 2024,,intra,KonIQ,KonIQ,0.9,0.91,https://example.org,first-hand\n"
)


@pytest.fixture(scope="module")
def browser(chromium: str):
    with Chromium(chromium) as opened:
        yield opened


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    """``index.html`` (with a reported-numbers table) and ``ablations.html`` in one folder, as the workflow
    writes them into ``reports/``."""
    tmp = tmp_path_factory.mktemp("browser")
    out = tmp / "reports"
    make_scores().to_csv(tmp / "scores.csv", index=False)
    ablation_scores().to_csv(tmp / "ablation_scores.csv", index=False)
    (tmp / "reported.csv").write_text(REPORTED)
    render_report(
        tmp / "scores.csv",
        out,
        datasets=datasets(True),
        models=MODELS,
        provenance=PROVENANCE,
        reported_csv=tmp / "reported.csv",
    )
    render_ablation_report(
        tmp / "ablation_scores.csv", out, ablations=ABLATIONS, datasets=datasets(True), provenance=PROVENANCE
    )
    return out


def assert_screenshot(path: Path) -> None:
    """A valid PNG, the window's 1280 px wide, longer than the window, and not blank."""
    with Image.open(path) as image:
        image.load()
        width, height = image.size
        low, high = image.convert("L").getextrema()
    assert image.format == "PNG"
    assert width == 1280 and height > 800, image.size
    assert high - low > 100, "screenshot is blank"
    assert path.stat().st_size > 20_000


def test_report_renders_in_the_browser(chromium: str, reports: Path, capsys):
    shot = reports / "index.png"
    assert main(["check-report", str(reports / "index.html"), "--screenshot", str(shot)]) == 0
    assert capsys.readouterr().out.startswith("ok: ")
    assert_screenshot(shot)


def test_ablation_page_renders_in_the_browser(browser: Chromium, reports: Path):
    shot = reports / "ablations.png"
    assert browser.check(reports / "ablations.html", shot) == []
    assert_screenshot(shot)


def test_report_with_a_missing_figure_and_table_file_fails(browser: Chromium, reports: Path, tmp_path: Path):
    broken = shutil.copytree(reports, tmp_path / "reports")
    (broken / "figures" / "cross_srocc.png").unlink()
    (broken / "tables" / "intra.csv").unlink()
    problems = [str(p) for p in browser.check(broken / "index.html")]
    assert any(p.startswith("image: <img src='figures/cross_srocc.png'> did not load") for p in problems)
    assert any(p.startswith("link: <a href='tables/intra.csv'>") for p in problems), problems
    assert any(p.startswith("console: Failed to load resource") for p in problems), problems


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>t</title></head>
<body id="top"><h1 id="here">Page</h1>
<a href="#here">in-page</a> <a href="#top">top</a> <a href="data.csv">data</a>
<a href="https://example.org/missing">external, not followed</a> <img src="figure.png" alt="figure">
<table><tbody><tr><td>1</td></tr></tbody></table>
{}
</body></html>
"""
FAULTS = {  # name: (HTML added to PAGE, how the problems it causes start)
    "clean": ("", []),
    "broken image": (
        '<img src="figures/missing.png" alt="x">',
        ["image: <img src='figures/missing.png'> did not load", "link: <img src='figures/missing.png'>"],
    ),
    "console.error": (
        "<script>console.error('logged on purpose', 42)</script>",
        ["console: console.error: logged on purpose 42"],
    ),
    "exception": (
        "<script>throw new TypeError('thrown on purpose')</script>",
        ["console: uncaught TypeError: thrown on purpose"],
    ),
    "dead link": ('<a href="tables/missing.csv">table</a>', ["link: <a href='tables/missing.csv'>: "]),
    "dead anchor": ('<a href="#nowhere">table</a>', ["link: <a href='#nowhere'>: no element with id"]),
    "empty table": (
        "<table id='t'><thead><tr><th>x</th></tr></thead></table>",
        ["table: table #t has no rows"],
    ),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_is_found(browser: Chromium, tmp_path: Path, fault: str):
    html, expected = FAULTS[fault]
    (tmp_path / "page.html").write_text(PAGE.format(html))
    (tmp_path / "data.csv").write_text("a\n1\n")
    Image.new("RGB", (40, 30), "steelblue").save(tmp_path / "figure.png")
    problems = [str(p) for p in browser.check(tmp_path / "page.html")]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    kinds = {e.split(":")[0] for e in expected} | ({"console"} if fault == "broken image" else set())
    assert {p.split(":")[0] for p in problems} == kinds, problems


def test_command_lists_the_problems_and_fails(chromium: str, tmp_path: Path, capsys):
    page = tmp_path / "page.html"
    page.write_text(PAGE.replace('<img src="figure.png" alt="figure">', "").format(FAULTS["dead link"][0]))
    (tmp_path / "data.csv").write_text("a\n1\n")
    assert main(["check-report", str(page), "--screenshot", str(tmp_path / "page.png")]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("link: <a href='tables/missing.csv'>") and "1 problem(s)" in err
    assert (tmp_path / "page.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_missing_chromium_names_the_fix(monkeypatch, tmp_path: Path, capsys):
    monkeypatch.delenv("GMC_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ChromiumNotFound, match="apt-get install chromium"):
        find_chromium()
    (tmp_path / "page.html").write_text(PAGE.format(""))
    assert main(["check-report", str(tmp_path / "page.html")]) == 2
    assert "apt-get install chromium" in capsys.readouterr().err
