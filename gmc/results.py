"""Glue between the workflow's results/ and the report: the run table and the report inputs.

A run record or run table that is missing, unreadable or lacks a field raises
:class:`gmc.errors.InputFileError` naming the file and the fix (the command line prints it without a
traceback)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pandas as pd

from gmc.config import config_hash
from gmc.data.protocol import DataProtocol
from gmc.errors import InputFileError
from gmc.reporting.scores import read_csv_file

#: columns of the run table the report's provenance reads (``precision`` is optional: older tables)
RUNS_COLUMNS = ("git_sha", "selection", "device", "device_name", "cpu")


def run_precision(run_config: dict, summary: dict) -> str:
    """``amp-float16`` for a run trained with AMP on CUDA (the engine's autocast), else ``float32``."""
    amp = run_config.get("train", {}).get("amp", False)
    return "amp-float16" if amp and str(summary["device"]).startswith("cuda") else "float32"


def _retrain(path: Path) -> str:
    return f"train the run again (`snakemake --forcerun {path.parent / 'model.pt'}`) or pass the right file"


def read_run_record(path: Path) -> dict:
    """A run's ``run.json`` (written by ``gmc train``) as a dict; :class:`InputFileError` when it is
    missing or not a JSON object."""
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputFileError(f"cannot read run record {path} ({err.strerror}); {_retrain(path)}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputFileError(f"run record {path} is not valid JSON ({err}); {_retrain(path)}") from None
    if not isinstance(run, dict):
        raise InputFileError(f"run record {path} is not a JSON object; {_retrain(path)}")
    return run


def _run_row(path: Path, run: dict) -> dict:
    """The run table's row of the run recorded in ``run`` (read from ``path``)."""
    cfg, summary, prov = run["run_config"], run["summary"], run["provenance"]
    return {
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
        "input_size": cfg.get("input_size"),
        "protocol": DataProtocol.from_dict(cfg.get("protocol")).describe(cfg.get("input_size")),
        # absent from runs made before these fields were recorded
        "device_name": summary.get("device_name", "not recorded"),
        "cpu": prov.get("cpu", "not recorded"),
        "threads": run.get("threads"),
        "git_sha": prov["git_sha"],
        "git_dirty": prov["git_dirty"],
        "torch": prov["packages"]["torch"],
        "run_dir": path.parent.as_posix(),
    }


def collect_runs(run_jsons: list[str | Path]) -> pd.DataFrame:
    """One row per training run: identity, config hash, selected epoch, code version, device, CPU model.
    A run record without a field the table needs is an :class:`InputFileError` naming the file."""
    rows = []
    for path in map(Path, run_jsons):
        try:
            rows.append(_run_row(path, read_run_record(path)))
        except KeyError as err:
            raise InputFileError(f"run record {path} has no field {err}; {_retrain(path)}") from None
    return pd.DataFrame(rows).sort_values(["model", "loss", "train_set", "split"]).reset_index(drop=True)


#: the per-epoch fields of ``log.jsonl`` that ``curves.csv`` keeps besides ``val_*`` and ``test_*`` (the
#: timings are left out: they differ between two runs of the same config)
CURVE_FIELDS = ("epoch", "lr", "train_loss", "selected")
CURVE_IDENTITY = ("model", "loss", "loss_role", "train_set", "split")


def _read_log(path: Path) -> list[dict]:
    """The epoch records of a run's ``log.jsonl``."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]
    except OSError as err:
        raise InputFileError(f"cannot read training log {path} ({err.strerror}); {_retrain(path)}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputFileError(f"training log {path} is not JSON lines ({err}); {_retrain(path)}") from None


def collect_curves(run_jsons: list[str | Path]) -> pd.DataFrame:
    """One row per epoch of every run: the run's identity (from ``run.json``), then ``epoch``, ``lr``,
    ``train_loss``, ``selected`` and every validation (``val_*``) and test (``test_*``, only under
    ``best_on_test``) metric of the ``log.jsonl`` beside it. Sorted; byte-stable for the same runs."""
    rows = []
    for path in map(Path, run_jsons):
        cfg = read_run_record(path).get("run_config", {})
        missing = [k for k in CURVE_IDENTITY if k not in cfg]
        if missing:
            raise InputFileError(
                f"run record {path} has no run_config field {missing[0]!r}; {_retrain(path)}"
            )
        ident = {k: cfg[k] for k in CURVE_IDENTITY}
        for record in _read_log(path.parent / "log.jsonl"):
            keep = {k: v for k, v in record.items() if k in CURVE_FIELDS or k.startswith(("val_", "test_"))}
            rows.append({**ident, **keep})
    if not rows:
        return pd.DataFrame(columns=[*CURVE_IDENTITY, *CURVE_FIELDS])
    frame = pd.DataFrame(rows)
    extra = sorted(c for c in frame.columns if c not in CURVE_IDENTITY and c not in CURVE_FIELDS)
    columns = [*CURVE_IDENTITY, *[c for c in CURVE_FIELDS if c in frame.columns], *extra]
    return frame[columns].sort_values([*CURVE_IDENTITY, "epoch"], kind="stable").reset_index(drop=True)


def paper_backbone(card, options: dict) -> bool | None:
    """Whether a model entry keeps its paper backbone: the configured ``backbone`` option against the card's
    ``paper_backbone`` (its timm name, the part before the first dot: ``resnet50.tv_in1k`` -> ``resnet50``),
    or, where the card names none, the default of its builder's ``backbone`` option (MoNet: ViT-B/8).
    True without a ``backbone`` option (the card's default is used); None when the paper backbone is unknown.
    Only the architecture is compared, not the weight tag."""
    configured = options.get("backbone")
    if configured is None:
        return True
    paper = card.paper_backbone.split()[0].split(".")[0] if card.paper_backbone else None
    if paper is None:
        param = inspect.signature(card.build).parameters.get("backbone")
        default = param.default if param is not None else inspect.Parameter.empty
        paper = default if isinstance(default, str) else None
    return None if paper is None else configured == paper


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


def read_run_table(path: Path) -> pd.DataFrame:
    """``results/runs.csv`` (:func:`collect_runs`) with the columns the report reads;
    :class:`InputFileError` naming the file when it is missing, unreadable or lacks one."""
    fix = "make it with `python -m gmc aggregate` (`snakemake` does) or pass the right path"
    runs = read_csv_file(path, "run table", (*RUNS_COLUMNS, "precision"), fix)
    missing = [c for c in RUNS_COLUMNS if c not in runs.columns]
    if missing:
        raise InputFileError(f"run table {path}: missing column(s) {', '.join(missing)}; {fix}")
    return runs


def _run_provenance(config: dict, runs_csv: Path | None) -> dict:
    """Code and package versions of this process plus what the run table says about the runs."""
    from gmc.provenance import provenance

    prov = provenance()
    prov["config_hash"] = config_hash(config)
    if runs_csv is not None:
        runs = read_run_table(Path(runs_csv))
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
                # model -> data protocol(s) of its runs (gmc.data.protocol), absent from older tables
                "protocols": {
                    model: sorted(group.astype(str).unique().tolist())
                    for model, group in runs.groupby("model")["protocol"]
                }
                if "protocol" in runs
                else {},
                "cpus": sorted(runs["cpu"].astype(str).unique().tolist()),
            }
        )
    return prov


def _model_metadata(bench, keys) -> dict[str, dict]:
    """Title, architecture, native loss, ``reported_as`` and whether the paper backbone is kept
    (:func:`paper_backbone`) of the model entries ``keys`` (ablation variants' generated entries too)."""
    from gmc.config.validate import model_card

    entries = bench.raw["models"]
    return {
        key: {
            "title": entries[key].get("title", key),
            "arch": entries[key]["arch"],
            "native_loss": bench.native_loss(key),
            "reported_as": entries[key].get("reported_as"),
            "paper_backbone": paper_backbone(model_card(bench.raw, key), entries[key].get("options") or {}),
        }
        for key in keys
    }


def render(
    scores_csv: Path,
    runs_csv: Path,
    config: dict,
    out_dir: Path,
    curves_csv: Path | None = None,
    predictions: list[Path] | None = None,
    sorters: list[Path] | None = None,
) -> None:
    """Render the report: dataset/model descriptions from the config, provenance from the runs, the
    validation curves and the predictions-vs-MOS figures from ``curves_csv`` and ``predictions``, the ASNA
    sorters' accuracy from ``sorters`` (their JSON summaries)."""
    from gmc.config import Benchmark
    from gmc.reporting import render_report

    bench = Benchmark.from_dict(config)
    models = _model_metadata(bench, bench.models())
    reported = config.get("report", {}).get("reported_csv")
    render_report(
        scores_csv,
        out_dir,
        datasets=_dataset_metadata(bench, config, bench.prepared_datasets()),
        models=models,
        provenance=_run_provenance(config, runs_csv),
        reported_csv=Path(reported) if reported else None,
        title=bench.config["title"],  # the schema's default when the config has none
        runs=read_run_table(Path(runs_csv)) if runs_csv is not None else None,
        curves_csv=curves_csv,
        predictions=predictions,
        sorters=sorters,
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
        title=bench.config["title"],  # the schema's default when the config has none
        runs=read_run_table(Path(runs_csv)) if runs_csv is not None else None,
        models=_model_metadata(bench, sorted({v.model for a in bench.ablations for v in a.variants})),
    )
