"""Ablation grids in the config: variants resolve to catalogue entries, runs are shared when settings are
equal, bad grids fail with the value and the fix."""

from __future__ import annotations

import copy

import pytest
import yaml

from gmc.config import Benchmark, ConfigError
from gmc.config.ablations import merge_options
from gmc.losses import build_loss
from tests.conftest import REPO


def ci_config() -> dict:
    return yaml.safe_load((REPO / "config" / "ci.yaml").read_text())


def with_grid(grid: dict, **config_changes) -> dict:
    raw = ci_config()
    raw["ablations"] = {"g": grid}
    raw.update(config_changes)
    return raw


def test_merge_options_overrides_removes_and_recurses():
    base = {"a": 1, "b": 2, "nested": {"x": 1, "y": 2}}
    merged = merge_options(base, {"a": 5, "b": None, "nested": {"y": 3}, "c": [1]})
    assert merged == {"a": 5, "nested": {"x": 1, "y": 3}, "c": [1]}
    assert base == {"a": 1, "b": 2, "nested": {"x": 1, "y": 2}}  # not modified


def test_demo_grids_cover_the_issue_and_share_the_main_runs():
    bench = Benchmark.from_dict(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    grids = {a.name: a for a in bench.ablations}
    assert set(grids) == {"gcc_queue", "gcc_terms", "monet_views"}

    queue = {v.name: v for v in grids["gcc_queue"].variants}
    lengths = {
        name: build_loss(bench.loss_type(v.loss), n_train=200, **bench.loss_options(v.loss)).max_queue_len
        for name, v in queue.items()
    }
    assert lengths == {"batch_only": 0, "q100": 100, "q400": 400, "q800": 800, "ratio": 100}
    assert queue["q800"].loss == "gcc"  # equal to the main GCC entry: the main runs are reused

    terms = {v.name: v for v in grids["gcc_terms"].variants}
    assert terms["mse"].loss == "mse" and terms["both"].loss == "gcc"
    plcc = build_loss("gcc", **bench.loss_options(terms["plcc"].loss))
    srocc = build_loss("gcc", **bench.loss_options(terms["srocc"].loss))
    assert (plcc.alpha, plcc.beta) == (0.5, 0.0) and (srocc.alpha, srocc.beta) == (0.0, 0.5)

    views = {v.name: v for v in grids["monet_views"].variants}
    assert views["M3"].model == "monet_small"
    for m in (1, 2, 4):
        cfg = bench.run_config(next(r for r in bench.ablation_runs() if r.model == views[f"M{m}"].model))
        assert cfg["model_options"]["num_views"] == m and cfg["arch"] == "monet"
        assert cfg["train"] == bench.run_config(next(bench.runs()))["train"]

    main = set(bench.runs())
    ablation_runs = list(bench.ablation_runs())
    assert len(ablation_runs) == len(set(ablation_runs)) == 11 * 3  # 11 distinct (model, loss), 3 splits
    assert sum(r in main for r in ablation_runs) == 2 * 3  # (monet_small, gcc) and (monet_small, mse)


def test_run_config_gives_the_registered_loss_and_options_without_type():
    raw = with_grid({"model": "monet_tiny", "variants": {"q0": {"loss_options": {"queue_size": 0}}}})
    bench = Benchmark.from_dict(raw)
    (variant,) = bench.ablations[0].variants
    run = next(r for r in bench.ablation_runs() if r.loss == variant.loss)
    cfg = bench.run_config(run)
    assert variant.loss == "gcc-g-q0"
    assert (cfg["loss"], cfg["loss_type"], cfg["loss_role"]) == ("gcc-g-q0", "gcc", "gcc")
    assert cfg["loss_options"] == {"queue_size": 0}
    assert run.run_dir == "results/runs/monet_tiny/gcc-g-q0/demo_scenes/split0"


def test_caller_config_is_not_modified():
    raw = with_grid({"model": "monet_tiny", "variants": {"M1": {"model_options": {"num_views": 1}}}})
    before = copy.deepcopy(raw)
    bench = Benchmark.from_dict(raw)
    assert raw == before
    assert "monet_tiny-g-M1" in bench.raw["models"]


def test_variant_equal_to_an_existing_entry_reuses_it():
    raw = with_grid(
        {"model": "monet_tiny", "variants": {"same": {"model_options": {"num_views": 3}}, "base": {}}}
    )
    bench = Benchmark.from_dict(raw)
    assert [(v.model, v.loss) for v in bench.ablations[0].variants] == [("monet_tiny", "gcc")] * 2
    assert set(bench.ablation_runs()) <= set(bench.runs())


def test_native_loss_of_the_variant_model():
    raw = with_grid({"model": "monet_tiny", "loss": "native", "variants": {"cnn": {"model": "cnniqa"}}})
    (variant,) = Benchmark.from_dict(raw).ablations[0].variants
    assert (variant.model, variant.loss, variant.settings) == ("cnniqa", "l1", "model=cnniqa")


def test_splits_use_the_first_k_of_the_benchmark():
    raw = with_grid({"model": "monet_tiny", "splits": 1, "variants": {"base": {}}})
    assert {r.split for r in Benchmark.from_dict(raw).ablation_runs()} == {0}
    raw["ablations"]["g"]["splits"] = 3  # the CI benchmark has 2
    with pytest.raises(ConfigError, match=r"splits = 3.*only 2 split\(s\).*at most 2"):
        Benchmark.from_dict(raw)


def test_ablation_train_sets_are_prepared():
    raw = with_grid({"model": "monet_tiny", "train_sets": ["demo_textures"], "variants": {"base": {}}})
    raw["benchmark"]["test_sets"] = ["demo_scenes"]
    assert "demo_textures" in Benchmark.from_dict(raw).prepared_datasets()


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (
            {"model": "nope", "variants": {"a": {}}},
            r"ablations.g.model: 'nope' is not defined under 'models:'",
        ),
        (
            {"model": "monet_tiny", "variants": {"a": {"model": "nope"}}},
            r"variants.a: model 'nope' is not defined",
        ),
        (
            {"model": "monet_tiny", "variants": {"a": {"loss": "gccc"}}},
            r"variants.a: loss 'gccc' is neither a registered loss",
        ),
        (
            {"model": "monet_tiny", "train_sets": ["koniq"], "variants": {"a": {}}},
            r"train_sets: 'koniq' not defined under 'datasets:'",
        ),
        ({"model": "monet_tiny", "variants": {}}, r"variants"),
        ({"model": "monet_tiny", "variants": {"a": {"lr": 1}}}, r"lr"),
        ({"model": "monet_tiny", "variants": {"a-b": {}}}, r"a-b"),
    ],
)
def test_bad_grids_name_the_value(grid, message):
    with pytest.raises(ConfigError, match=message):
        Benchmark.from_dict(with_grid(grid))


def test_generated_name_clash_is_an_error():
    raw = with_grid({"model": "monet_tiny", "variants": {"q0": {"loss_options": {"queue_size": 0}}}})
    raw["losses"] = {"gcc-g-q0": {"type": "gcc", "queue_size": 5}}
    with pytest.raises(ConfigError, match="generated loss name 'gcc-g-q0' is already defined"):
        Benchmark.from_dict(raw)


def test_unregistered_main_loss_is_a_config_error():
    raw = ci_config()
    raw["benchmark"]["losses"] = ["native", "gcx"]
    with pytest.raises(ConfigError, match=r"benchmark.losses: 'gcx'.*neither a registered loss"):
        Benchmark.from_dict(raw)


def test_named_loss_variant_in_the_main_benchmark():
    raw = ci_config()
    raw["losses"] = {"gcc_add": {"type": "gcc", "form": "additive"}}
    raw["benchmark"]["losses"] = ["native", "gcc_add"]
    bench = Benchmark.from_dict(raw)
    run = next(r for r in bench.runs() if r.loss == "gcc_add")
    cfg = bench.run_config(run)
    assert (cfg["loss_type"], cfg["loss_role"], cfg["loss_options"]) == ("gcc", "gcc", {"form": "additive"})


def test_ablation_report_without_grids_says_so(tmp_path):
    from gmc.results import render_ablations

    raw = ci_config()
    raw.pop("ablations")
    render_ablations(None, None, raw, tmp_path)
    assert "no ablation" in (tmp_path / "ablations.html").read_text().lower()


def test_ablation_report_with_grids_needs_the_scores(tmp_path):
    from gmc.results import render_ablations

    with pytest.raises(ConfigError, match=r"1 ablation grid\(s\) \(tiny\): pass --scores"):
        render_ablations(None, None, ci_config(), tmp_path)
    assert not (tmp_path / "ablations.html").exists()
