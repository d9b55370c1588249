"""Glue between the workflow's results/ and the report: the run table and the report inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from gmc.config import config_hash


def run_precision(run_config: dict, summary: dict) -> str:
    """``amp-float16`` for a run trained with AMP on CUDA (the engine's autocast), else ``float32``."""
    amp = run_config.get("train", {}).get("amp", False)
    return "amp-float16" if amp and str(summary["device"]).startswith("cuda") else "float32"


def collect_runs(run_jsons: list[str | Path]) -> pd.DataFrame:
    """One row per training run: identity, config hash, selected epoch, code version, device, CPU model."""
    rows = []
    for path in run_jsons:
        run = json.loads(Path(path).read_text())
        cfg, summary, prov = run["run_config"], run["summary"], run["provenance"]
        rows.append(
            {
                "model": cfg["model"],
                "arch": cfg["arch"],
                "loss": cfg["loss"],
                "loss_role": cfg["loss_role"],
                "train_set": cfg["train_set"],
                "split": cfg["split"],
                "seed": cfg["seed"],
                "config_hash": summary["config_hash"],
                "selection": summary["selection"],
                "best_epoch": summary["best_epoch"],
                "epochs": summary["epochs"],
                "n_train": summary["n_train"],
                "n_val": summary["n_val"],
                "device": summary["device"],
                "precision": run_precision(cfg, summary),
                # absent from runs made before these fields were recorded
                "device_name": summary.get("device_name", "not recorded"),
                "cpu": prov.get("cpu", "not recorded"),
                "threads": run.get("threads"),
                "git_sha": prov["git_sha"],
                "git_dirty": prov["git_dirty"],
                "torch": prov["packages"]["torch"],
                "run_dir": Path(path).parent.as_posix(),
            }
        )
    return pd.DataFrame(rows).sort_values(["model", "loss", "train_set", "split"]).reset_index(drop=True)


def _dataset_metadata(bench, config: dict, keys: list[str]) -> dict[str, dict]:
    """Title, synthetic-demo flag, FR flag and published name of each dataset, for the report."""
    from gmc.data.datasets import build_dataset_spec

    out = {}
    for key in keys:
        spec = build_dataset_spec(key, config["datasets"][key])
        out[key] = {
            "title": spec.title or key,
            "synthetic_demo": spec.synthetic_demo,
            "full_reference": spec.full_reference,
            "reported_as": config["datasets"][key].get("reported_as"),
        }
    return out


def _run_provenance(config: dict, runs_csv: Path | None) -> dict:
    """Code and package versions of this process plus what the run table says about the runs."""
    from gmc.provenance import provenance

    prov = provenance()
    prov["config_hash"] = config_hash(config)
    if runs_csv is not None:
        runs = pd.read_csv(runs_csv)
        prov.update(
            {
                "runs": len(runs),
                "run_git_shas": sorted(runs["git_sha"].astype(str).unique().tolist()),
                "selection": sorted(runs["selection"].unique().tolist()),
                "devices": sorted(runs["device"].unique().tolist()),
                "precisions": sorted(runs["precision"].astype(str).unique().tolist())
                if "precision" in runs
                else ["not recorded"],
                "device_names": sorted(runs["device_name"].astype(str).unique().tolist()),
                "cpus": sorted(runs["cpu"].astype(str).unique().tolist()),
            }
        )
    return prov


def render(scores_csv: Path, runs_csv: Path, config: dict, out_dir: Path) -> None:
    """Render the report: dataset/model descriptions from the config, provenance from the runs."""
    from gmc.config import Benchmark
    from gmc.reporting import render_report

    bench = Benchmark.from_dict(config)
    models = {
        key: {
            "title": config["models"][key].get("title", key),
            "arch": config["models"][key]["arch"],
            "native_loss": bench.native_loss(key),
            "reported_as": config["models"][key].get("reported_as"),
        }
        for key in bench.bench["models"]
    }
    reported = config.get("report", {}).get("reported_csv")
    render_report(
        scores_csv,
        out_dir,
        datasets=_dataset_metadata(bench, config, bench.prepared_datasets()),
        models=models,
        provenance=_run_provenance(config, runs_csv),
        reported_csv=Path(reported) if reported else None,
        title=config["title"],
    )


def render_ablations(scores_csv: Path | None, runs_csv: Path | None, config: dict, out_dir: Path) -> None:
    """Render ``ablations.html`` and one table per ablation grid of ``config`` from the ablation scores.

    With no grids configured the page says so (and needs no scores); with grids, both files are required.
    """
    from gmc.config import Benchmark, ConfigError
    from gmc.reporting import render_ablation_report

    bench = Benchmark.from_dict(config)
    if bench.ablations and (scores_csv is None or runs_csv is None):
        raise ConfigError(
            f"the config has {len(bench.ablations)} ablation grid(s) "
            f"({', '.join(a.name for a in bench.ablations)}): pass --scores results/ablations/scores.csv "
            "and --runs results/ablations/runs.csv (made by `snakemake ablations`)"
        )
    train_sets = sorted({d for a in bench.ablations for d in a.train_sets})
    render_ablation_report(
        scores_csv,
        out_dir,
        ablations=[a.as_dict() for a in bench.ablations],
        datasets=_dataset_metadata(bench, config, train_sets),
        provenance=_run_provenance(config, runs_csv),
        title=config["title"],
    )
