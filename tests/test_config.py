import copy

import pytest
import yaml

from gmc.config import Benchmark, ConfigError, load_config, validate_config
from tests.conftest import REPO


@pytest.mark.parametrize(
    "path",
    [
        "config/config.yaml",
        "config/ci.yaml",
        "config/paper.yaml",
        "config/cpu-real.yaml",
        "benchmarks/cpu-protocols-biq2021.yaml",
    ],
)
def test_shipped_configs_validate(path):
    config = load_config(REPO / path)
    assert config["train"]["epochs"] >= 1 and "selection" in config["train"]


def test_demo_grid_four_models_native_and_gcc_and_the_loss_zoo_on_cnniqa():
    bench = Benchmark.from_dict(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    runs = list(bench.runs())
    zoo = ["l1", "gcc", "mse", "plcc", "nin", "rank_hinge", "fidelity", "soft_spearman"]
    # one NR and one FR training set, three splits; the linear probe has its native fit only
    assert len(runs) == (3 * 2 + len(zoo) + 1 + 2 * 2) * 3
    assert {(r.model, r.loss, r.loss_role) for r in runs} == {
        ("linear_probe_lite0", "mse", "native"),
        ("asna_demo", "asna_surrogate", "native"),
        ("asna_demo", "gcc", "gcc"),
        ("siamese_lite0_demo", "mse", "native"),
        ("siamese_lite0_demo", "gcc", "gcc"),
        ("monet_small", "mse", "native"),
        ("monet_small", "gcc", "gcc"),
        ("wadiqam_nr", "l1", "native"),
        ("wadiqam_nr", "gcc", "gcc"),
        ("topiq_lite0", "mse", "native"),
        ("topiq_lite0", "gcc", "gcc"),
        *{("cnniqa", loss, "native" if loss == "l1" else loss) for loss in zoo},
    }
    assert bench.test_sets("demo_scenes") == ["demo_scenes", "demo_textures"]
    assert bench.test_sets("demo_fr") == ["demo_fr"]  # the FR grid's own test sets
    asna = next(r for r in runs if r.loss == "asna_surrogate")
    assert bench.run_config(asna)["loss_options"] == {"sorter": "results/sorters/sorter16.pt"}
    assert bench.protocol("cnniqa").kind == "crop" and bench.cache_key("demo_scenes", "cnniqa") == "128x128"


def test_paper_plan_has_ten_splits_and_four_datasets():
    bench = Benchmark.from_dict(yaml.safe_load((REPO / "config" / "paper.yaml").read_text()))
    runs = list(bench.runs())
    assert {r.split for r in runs} == set(range(10))
    assert {r.train_set for r in runs} == {"livec", "koniq10k", "bid", "spaq", "pipal", "kadid10k"}
    assert bench.run_config(runs[0])["model_options"]["backbone"] == "vit_base_patch8_224"
    fr = {(r.model, r.loss, r.train_set) for r in runs if r.train_set in ("pipal", "kadid10k")}
    assert fr == {
        *{("asna", loss, ds) for loss in ("asna_surrogate", "gcc") for ds in ("pipal", "kadid10k")},
        *{("siamese_lite0", loss, ds) for loss in ("mse", "gcc") for ds in ("pipal", "kadid10k")},
    }
    assert bench.test_sets("pipal") == ["pipal", "kadid10k"]


def _demo_raw() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_a_full_reference_model_in_the_no_reference_grid_is_an_error():
    raw = _demo_raw()
    raw["benchmark"]["models"].append("asna_demo")
    with pytest.raises(ConfigError, match=r"benchmark.models: 'asna_demo' .* full-reference model; list it "
                       r"under fr_benchmark.models"):  # fmt: skip
        Benchmark.from_dict(raw)


def test_a_no_reference_dataset_in_the_fr_grid_is_an_error():
    raw = _demo_raw()
    raw["fr_benchmark"]["test_sets"] = ["demo_scenes"]
    with pytest.raises(ConfigError, match=r"dataset 'demo_scenes' is no-reference; list it under benchmark"):
        Benchmark.from_dict(raw)
    raw = _demo_raw()
    raw["fr_benchmark"]["models"] = ["cnniqa"]
    with pytest.raises(ConfigError, match=r"fr_benchmark.models: 'cnniqa' .* no-reference model"):
        Benchmark.from_dict(raw)


def test_asna_batch_size_must_match_the_sorter_length_before_any_job():
    raw = _demo_raw()
    raw["models"]["asna_demo"]["train"]["batch_size"] = 12
    with pytest.raises(ConfigError, match=r"models.asna_demo \(loss asna_surrogate\): batch size 12 differs "
                       r"from the length of the ASNA sorter \(16\)"):  # fmt: skip
        Benchmark.from_dict(raw)
    raw["sorter"]["length"] = 12  # a sorter of that length fixes it
    Benchmark.from_dict(raw)


def test_unknown_key_is_rejected_with_its_name():
    raw = yaml.safe_load((REPO / "config" / "ci.yaml").read_text())
    bad = copy.deepcopy(raw)
    bad["train"]["epochz"] = 3
    with pytest.raises(ConfigError, match="epochz"):
        validate_config(bad)


def test_dangling_reference_names_the_fix():
    raw = yaml.safe_load((REPO / "config" / "ci.yaml").read_text())
    raw["benchmark"]["train_sets"] = ["koniq"]
    with pytest.raises(ConfigError, match="'koniq'.*not defined under 'datasets:'"):
        validate_config(raw)


def test_defaults_are_filled():
    raw = yaml.safe_load((REPO / "config" / "ci.yaml").read_text())
    raw.pop("train")
    config = validate_config(raw)
    assert config["train"]["selection"] == "val" and config["benchmark"]["split_protocol"] == "random"


def test_unknown_dataset_option_names_the_valid_ones():
    from gmc.data.datasets import build_dataset_spec

    with pytest.raises(
        ValueError, match=r"datasets.livec: unknown option\(s\) \['expectd_count'\].*expected_count"
    ):
        build_dataset_spec("livec", {"type": "livec", "expectd_count": 5})


def test_paper_config_compares_with_the_shipped_published_numbers():
    """config/reported.csv loads, and the paper config's reported_as names match its rows for MoNet and
    the baselines on the four authentic sets (the numbers the report's reproduced-vs-reported table shows)."""
    from gmc.reporting.scores import load_reported

    raw = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    reported = load_reported(REPO / raw["report"]["reported_csv"])
    methods = {m["reported_as"] for m in raw["models"].values() if "reported_as" in m}
    sets = {d["reported_as"] for d in raw["datasets"].values() if "reported_as" in d}
    matched = reported[reported["method"].isin(methods) & reported["train_set"].isin(sets)]
    assert {"MoNet (GMC-IQA network)", "HyperIQA", "MANIQA", "TOPIQ"} <= set(matched["method"])
    monet = matched[(matched["method"] == "MoNet (GMC-IQA network)") & (matched["test_set"] == "LIVEC")]
    assert monet[["srocc", "plcc"]].to_numpy().tolist() == [[0.8998, 0.9169]]  # PromptIQA's table
    assert matched["source_url"].str.startswith("https://").all()


def test_scatter_predictions_pick_one_run_per_model_loss_and_test_set():
    """The predictions-vs-MOS figures read the first split's run trained on each test set (intra), and
    for a test set nobody trains on, the first training set's cross-dataset run."""
    raw = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    raw["datasets"]["demo_other"] = dict(raw["datasets"]["demo_textures"])
    raw["benchmark"].update(
        models=["cnniqa"], losses=["native"], train_sets=["demo_textures", "demo_scenes"],
        test_sets=["demo_scenes", "demo_textures", "demo_other"], splits=2,
    )  # fmt: skip
    raw["models"]["cnniqa"].pop("losses", None)
    raw.pop("ablations", None)
    raw.pop("fr_benchmark")
    bench = Benchmark.from_dict(raw)
    base = f"results/predictions/cnniqa/{bench.native_loss('cnniqa')}"
    assert sorted(bench.scatter_predictions()) == sorted(
        [
            f"{base}/demo_textures/split0/demo_textures.csv",
            f"{base}/demo_textures/split0/demo_other.csv",
            f"{base}/demo_scenes/split0/demo_scenes.csv",
        ]
    )
