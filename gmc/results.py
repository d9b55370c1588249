"""Glue between the workflow's results/ and the report: the run table and the report inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from gmc.config import config_hash


def collect_runs(run_jsons: list[str | Path]) -> pd.DataFrame:
    """One row per training run: identity, config hash, selected epoch, code version, device."""
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
                "threads": run.get("threads"),
                "git_sha": prov["git_sha"],
                "git_dirty": prov["git_dirty"],
                "torch": prov["packages"]["torch"],
                "run_dir": Path(path).parent.as_posix(),
            }
        )
    return pd.DataFrame(rows).sort_values(["model", "loss", "train_set", "split"]).reset_index(drop=True)


def render(scores_csv: Path, runs_csv: Path, config: dict, out_dir: Path) -> None:
    """Render the report: dataset/model descriptions from the config, provenance from the runs."""
    from gmc.config import Benchmark
    from gmc.data.datasets import build_dataset_spec
    from gmc.provenance import provenance
    from gmc.reporting import render_report

    bench = Benchmark.from_dict(config)
    datasets = {}
    for key in bench.prepared_datasets():
        spec = build_dataset_spec(key, config["datasets"][key])
        datasets[key] = {
            "title": spec.title or key,
            "synthetic_demo": spec.synthetic_demo,
            "full_reference": spec.full_reference,
            "reported_as": config["datasets"][key].get("reported_as"),
        }
    models = {
        key: {
            "title": config["models"][key].get("title", key),
            "arch": config["models"][key]["arch"],
            "native_loss": bench.native_loss(key),
            "reported_as": config["models"][key].get("reported_as"),
        }
        for key in bench.bench["models"]
    }
    runs = pd.read_csv(runs_csv)
    prov = provenance()
    prov.update(
        {
            "config_hash": config_hash(config),
            "runs": len(runs),
            "run_git_shas": sorted(runs["git_sha"].astype(str).unique().tolist()),
            "selection": sorted(runs["selection"].unique().tolist()),
            "devices": sorted(runs["device"].unique().tolist()),
        }
    )
    reported = config.get("report", {}).get("reported_csv")
    render_report(
        scores_csv,
        out_dir,
        datasets=datasets,
        models=models,
        provenance=prov,
        reported_csv=Path(reported) if reported else None,
        title=config["title"],
    )
