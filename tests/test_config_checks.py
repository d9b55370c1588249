"""Every config mistake that can be known before training is rejected at validation, with the key, the
value and the fix (issue: "a config that fails before training"). Each case feeds a bad config to the
same check the Snakefile runs (``Benchmark.from_dict``) and reads the message; two cases run
``snakemake -n`` itself to show that it is the dry run that stops."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from gmc.config import Benchmark, ConfigError, read_yaml
from tests.conftest import REPO, copy_workflow


def ci() -> dict:
    return yaml.safe_load((REPO / "config" / "ci.yaml").read_text())


def rejected(raw: dict, *patterns: str) -> str:
    with pytest.raises(ConfigError) as err:
        Benchmark.from_dict(raw)
    message = str(err.value)
    for pattern in patterns:
        assert pattern in message, f"{pattern!r} not in: {message}"
    return message


def test_per_model_train_overrides_are_typed():
    raw = ci()
    raw["models"]["cnniqa"]["train"] = {"epochs": -1, "lr": "fast"}
    rejected(raw, "models.cnniqa.train.epochs", "minimum of 1", "models.cnniqa.train.lr", "'fast'")


def test_per_model_train_override_with_an_unknown_key_names_the_closest_valid_one():
    raw = ci()
    raw["models"]["cnniqa"]["train"] = {"epoch": 3}
    rejected(raw, "models.cnniqa.train", "'epoch'", "did you mean 'epochs'")


def test_per_model_overrides_get_no_defaults_that_would_override_the_train_section():
    raw = ci()
    raw["models"]["cnniqa"]["train"] = {"lr": 2.0e-3}
    bench = Benchmark.from_dict(raw)
    settings = bench.train_settings("cnniqa")
    assert (settings.lr, settings.epochs, settings.batch_size) == (2.0e-3, 2, 8)  # epochs, batch: ci.yaml


def test_exponent_without_decimal_point_is_a_string_to_yaml_and_the_message_says_how_to_write_it():
    text = (REPO / "config" / "ci.yaml").read_text().replace("lr: 1.0e-4", "lr: 1e-4")
    raw = yaml.safe_load(text)
    assert raw["train"]["lr"] == "1e-4"  # PyYAML (YAML 1.1), as Snakemake reads it
    rejected(raw, "train.lr", "'1e-4' is a string", "1.0e-4")


def test_unknown_native_loss():
    raw = ci()
    raw["models"]["cnniqa"]["native_loss"] = "l2"
    rejected(raw, "models.cnniqa.native_loss", "'l2'", "registered loss")


def test_unknown_dataset_type_lists_the_known_ones():
    raw = ci()
    raw["datasets"]["demo_textures"] = {"type": "koniq"}
    rejected(raw, "datasets.demo_textures.type", "'koniq'", "koniq10k")


def test_unused_catalogue_dataset_is_checked_too():
    raw = ci()  # fetch_all fetches every catalogue entry, used or not
    raw["datasets"]["spare"] = {"type": "livec", "expectd_count": 3}
    rejected(raw, "datasets.spare", "expectd_count", "expected_count")


def test_csv_dataset_without_score_range():
    raw = ci()
    raw["datasets"]["mine"] = {"type": "csv", "csv": "labels.csv"}
    raw["benchmark"]["test_sets"].append("mine")
    rejected(raw, "datasets.mine", "score_range")


def test_unknown_model_option_lists_the_valid_ones():
    raw = ci()
    raw["models"]["monet_tiny"]["options"]["num_view"] = 2
    rejected(raw, "models.monet_tiny.options", "'num_view'", "num_views")
    raw = ci()
    raw["models"]["cnniqa"]["options"] = {"kernel_size": 5}  # a pyiqa baseline: declared options
    rejected(raw, "models.cnniqa.options", "'kernel_size'", "ker_size")


def test_unknown_model_option_in_an_ablation_variant_names_the_variant():
    raw = ci()
    raw["ablations"]["tiny"]["variants"]["M1"]["model_options"] = {"num_viewz": 1}
    rejected(raw, "ablations.tiny.variants.M1.model_options", "'num_viewz'")


def test_unknown_loss_option_and_type():
    raw = ci()
    raw["losses"] = {"gcc": {"queue_length": 10}}
    rejected(raw, "losses.gcc", "'queue_length'", "queue_size")
    raw = ci()
    raw["losses"] = {"gcc_q0": {"type": "gccc", "queue_size": 0}}
    rejected(raw, "losses.gcc_q0", "'gcc_q0'")


def test_unknown_architecture():
    raw = ci()
    raw["models"]["cnniqa"]["arch"] = "cnn_iqa"
    rejected(raw, "models.cnniqa.arch", "'cnn_iqa'", "cnniqa")


def test_any_registered_benchmark_loss_or_variant_is_accepted_and_trained_with_its_role():
    """Any registered loss (and any `losses:` variant of one) may be a benchmark loss; each run carries its
    loss role (native for the model's own loss, else the registered type), which the report tabulates
    (tests/reporting/test_loss_comparison.py renders such a config)."""
    raw = ci()
    raw["losses"] = {"nin_p2": {"type": "nin", "p": 2}}
    raw["benchmark"]["losses"] = ["native", "gcc", "plcc", "nin_p2", "l1"]
    bench = Benchmark.from_dict(raw)
    runs = {(r.model, r.loss, r.loss_role) for r in bench.runs() if r.split == 0}
    assert runs == {
        ("probe", "mse", "native"),  # the linear probe names its own losses: [native]
        ("monet_head", "gcc", "gcc"),  # the head-only MoNet names its own: [gcc]
        ("asna_tiny", "asna_surrogate", "native"),  # the FR grid keeps its own losses (native, gcc)
        ("asna_tiny", "gcc", "gcc"),
        ("monet_tiny", "mse", "native"),
        ("monet_tiny", "gcc", "gcc"),
        ("monet_tiny", "plcc", "plcc"),
        ("monet_tiny", "nin_p2", "nin"),
        ("monet_tiny", "l1", "l1"),
        ("cnniqa", "l1", "native"),  # cnniqa's own loss: "l1" and "native" name the same runs
        ("cnniqa", "gcc", "gcc"),
        ("cnniqa", "plcc", "plcc"),
        ("cnniqa", "nin_p2", "nin"),
    }
    run = next(r for r in bench.runs() if r.loss == "nin_p2")
    config = bench.run_config(run)
    assert (config["loss_type"], config["loss_options"], config["loss_role"]) == ("nin", {"p": 2}, "nin")


def test_unregistered_benchmark_loss_is_rejected_with_the_valid_names():
    raw = ci()
    raw["benchmark"]["losses"] = ["native", "spearman"]
    rejected(raw, "benchmark.losses: 'spearman'", "soft_spearman", "gcc", "nin", "fidelity", "losses:")
    raw = ci()
    raw["losses"] = {"mine": {"queue_size": 3}}  # a variant without a registered type
    raw["benchmark"]["losses"] = ["native", "mine"]
    rejected(raw, "'mine'", "registered loss")


def test_the_shipped_configs_pass_every_check():
    for name in ("config.yaml", "ci.yaml", "paper.yaml"):
        Benchmark.from_dict(read_yaml(REPO / "config" / name))


def test_yaml_syntax_error_names_file_line_and_column(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("title: x\ndatasets:\n  a: {type: demo\nmodels: {}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:4:\d+: YAML syntax error"):
        read_yaml(path)


def test_schema_errors_name_the_file_and_line_of_the_key(tmp_path):
    raw = copy.deepcopy(ci())
    raw["train"]["epochs"] = 0
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "epochs: 0" in text)
    with pytest.raises(ConfigError, match=rf"train\.epochs: .*\({path}:{line}\)"):
        Benchmark.from_dict(read_yaml(path), sources=[path])


def _dry_run(workdir, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_snakemake_dry_run_rejects_a_bad_configfile_with_key_file_and_line(tmp_path):
    work = copy_workflow(tmp_path / "work")
    raw = ci()
    raw["models"]["cnniqa"]["train"] = {"lr": "fast"}
    (work / "bad.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    result = _dry_run(work, "--configfile", "bad.yaml")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "models.cnniqa.train.lr" in out and "bad.yaml:" in out and "'fast'" in out


def test_snakemake_dry_run_names_the_line_of_a_yaml_syntax_error_in_the_default_config(tmp_path):
    work = copy_workflow(tmp_path / "work")
    default = work / "config" / "config.yaml"
    default.write_text(default.read_text().replace("  demo_scenes:\n", "  demo_scenes:\n\tbroken: [\n", 1))
    result = _dry_run(work)
    assert result.returncode != 0
    assert "config/config.yaml:" in result.stdout + result.stderr
    assert "YAML syntax error" in result.stdout + result.stderr


def test_check_config_command_prints_the_message_without_a_traceback(tmp_path, capsys):
    from gmc.cli import main

    raw = ci()
    raw["train"]["epochs"] = 0
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid configuration") and "train.epochs" in err
    assert "Traceback" not in err
    assert main(["check-config", str(REPO / "config" / "ci.yaml")]) == 0


def test_crops_larger_than_a_datasets_stored_resolution_are_rejected():
    raw = ci()
    raw["models"]["cnniqa"].update(input_size=64, protocol={"kind": "crop"})
    rejected(raw, "models.cnniqa cuts 64 px crops", "datasets.demo_scenes is stored at 48x48", "stored_size")


def test_crop_protocol_models_read_the_stored_resolution_cache_and_record_the_protocol():
    raw = ci()
    raw["models"]["cnniqa"].update(
        input_size=32, protocol={"kind": "crop", "test_crops": 4, "test_crop_mode": "grid"}
    )
    raw["datasets"]["demo_textures"]["stored_size"] = [64, 40]
    bench = Benchmark.from_dict(raw)
    assert bench.cache_key("demo_scenes", "cnniqa") == "48x48"  # a demo set's default: its image_size
    assert bench.cache_key("demo_textures", "cnniqa") == "64x40"  # the config's stored_size
    assert bench.cache_key("demo_scenes", "monet_tiny") == "64"  # resize protocol: the input size
    run = next(r for r in bench.runs() if r.model == "cnniqa")
    protocol = bench.run_config(run)["protocol"]
    # the card's fields (CNNIQA: 192 patches per image per epoch) with the config's on top
    assert protocol == {"kind": "crop", "train_crops": 192, "test_crops": 4, "test_crop_mode": "grid"}


def test_bad_protocol_field_is_rejected_with_its_key():
    raw = ci()
    raw["models"]["cnniqa"]["protocol"] = {"kind": "crop", "test_crop_mode": "corners"}
    rejected(raw, "models.cnniqa.protocol.test_crop_mode: 'corners'")


def test_a_model_entry_may_name_its_own_losses():
    raw = ci()
    raw["models"]["cnniqa"]["losses"] = ["native"]
    runs = {(r.model, r.loss) for r in Benchmark.from_dict(raw).runs() if r.train_set == "demo_scenes"}
    assert runs == {
        ("monet_tiny", "mse"),
        ("monet_tiny", "gcc"),
        ("cnniqa", "l1"),
        ("monet_head", "gcc"),  # the head-only MoNet names its own losses: [gcc]
        ("probe", "mse"),
    }
    raw["models"]["cnniqa"]["losses"] = ["native", "gcc_typo"]
    rejected(raw, "gcc_typo")


def test_a_linear_probe_with_a_gradient_loss_is_an_error_before_any_job():
    raw = ci()
    raw["models"]["probe"].pop("losses")  # it would get benchmark.losses: native and gcc
    rejected(
        raw,
        "models.probe: a linear_probe model is fitted in closed form",
        "cannot use gcc",
        "losses: [native]",
    )
