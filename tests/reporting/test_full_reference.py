"""The full-reference track in the report: its own table (PLCC, SROCC, KROCC, main score PLCC + SROCC),
the sorter's accuracy in the caption, and FR rows kept out of the no-reference tables."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from gmc.reporting import render_report
from tests.reporting.test_report import MODELS, PROVENANCE, datasets, make_scores

FR_MODELS = {**MODELS, "asna": {"title": "ASNA", "arch": "asna", "native_loss": "asna_surrogate"}}
#: per split: PLCC, SROCC of ASNA's two losses on the FR set
VALUES = {
    ("asna_surrogate", "native"): {"PLCC": [0.90, 0.50, 0.80], "SROCC": [0.50, 0.90, 0.80]},
    ("gcc", "gcc"): {"PLCC": [0.85, 0.80, 0.70], "SROCC": [0.80, 0.70, 0.90]},
}


def _scores() -> pd.DataFrame:
    rows = [
        {"model": "asna", "loss": loss, "loss_role": role, "train_set": "fr_a", "test_set": "fr_a",
         "split": split, "metric": metric, "value": value}
        for (loss, role), metrics in VALUES.items()
        for metric, values in {**metrics, "KROCC": [0.5, 0.5, 0.5], "RMSE": [0.1, 0.1, 0.1]}.items()
        for split, value in enumerate(values)
    ]  # fmt: skip
    return pd.concat([make_scores(), pd.DataFrame(rows)], ignore_index=True)


def test_fr_table_main_score_is_the_median_of_per_split_sums(tmp_path: Path):
    sets = {**datasets(True), "fr_a": {"title": "FR set", "synthetic_demo": True, "full_reference": True}}
    scores = tmp_path / "scores.csv"
    _scores().to_csv(scores, index=False)
    sorter = tmp_path / "sorter16.pt.json"
    sorter.write_text(json.dumps({"length": 16, "vectors": 20000, "epochs": 6, "accuracy": 0.0421}))
    out = tmp_path / "out"
    render_report(scores, out, datasets=sets, models=FR_MODELS, provenance=PROVENANCE, sorters=[sorter])

    table = pd.read_csv(out / "tables" / "full_reference.csv").set_index("loss")
    # native: sums 1.40, 1.40, 1.60 -> median 1.40 (not median PLCC + median SROCC = 0.80 + 0.80 = 1.60)
    # gcc: sums 1.65, 1.50, 1.60 -> median 1.60
    assert np.isclose(table.loc["asna_surrogate", "main_score_median"], 1.40)
    assert np.isclose(table.loc["gcc", "main_score_median"], 1.60)
    assert np.isclose(table.loc["gcc", "plcc_median"], 0.80) and np.isclose(
        table.loc["gcc", "krocc_median"], 0.5
    )

    html = (out / "index.html").read_text()
    section = html.split('id="table-full_reference"')[1].split("</table>")[0]
    rows = re.findall(r'<tr [^>]*data-loss="(\w+)"[^>]*>(.*?)</tr>', section, re.S)
    assert [loss for loss, body in rows if "<strong>" in body] == ["gcc"]  # the best main score is bold
    assert "mean |Spearman error| of 0.042 on held-out vectors" in html
    assert "fr_a" not in (out / "tables" / "intra.csv").read_text()  # FR rows stay out of the NR tables
    assert "FR set" not in (out / "tables" / "intra.tex").read_text()
    gvn = pd.read_csv(out / "tables" / "gcc_vs_native.csv")
    assert "fr_a" in set(gvn["dataset"])  # the GCC plug-in comparison covers both tracks
    tex = (out / "tables" / "full_reference.tex").read_text()
    assert "PLCC + SROCC" in tex and "1.600" in tex


def test_published_fr_results_follow_ours_with_their_sources(tmp_path: Path):
    """A reported row on a dataset whose reported_as names an FR set of ours is shown for context, after
    our rows, with PLCC + SROCC and a link to its source; a row on another dataset is not."""
    sets = {**datasets(True), "fr_a": {"title": "FR set", "synthetic_demo": False, "full_reference": True,
                                        "reported_as": "PIPAL"}}  # fmt: skip
    scores = tmp_path / "scores.csv"
    _scores().to_csv(scores, index=False)
    reported = tmp_path / "reported.csv"
    reported.write_text(
        "method,paper,protocol,train_set,test_set,srocc,plcc,source_url,note\n"
        "AHIQ,NTIRE 2022,challenge test set,PIPAL,PIPAL,0.822,0.828,https://arxiv.org/abs/2206.11695,\n"
        "Other,Paper,intra,KADID-10k,KADID-10k,0.9,0.9,https://example.org,\n"
    )
    out = tmp_path / "out"
    render_report(scores, out, datasets=sets, models=FR_MODELS, provenance=PROVENANCE, reported_csv=reported)
    html = (out / "index.html").read_text()
    section = html.split('id="table-full_reference"')[1].split("</table>")[0]
    rows = re.findall(r"<tr ([^>]*)>(.*?)</tr>", section, re.S)
    assert [attrs for attrs, _ in rows][-1].startswith('data-published="AHIQ"')  # after our two rows
    assert len([a for a, _ in rows if "data-published" in a]) == 1  # not the KADID-10k row
    body = rows[-1][1]
    assert 'href="https://arxiv.org/abs/2206.11695"' in body and "1.650" in body  # 0.828 + 0.822
    assert "<strong>" not in body  # context, not ranked
    assert "Rows marked published are other papers" in html
