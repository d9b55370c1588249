# Helpers shared by the rules: names and paths derived from the validated config (no logic here;
# the questions are answered by gmc.config.Benchmark).
import json
import re

from gmc.config import Benchmark

#: the pinned environment every rule runs in (used with --software-deployment-method conda)
CONDA_ENV = "../../environment.yml"

BENCH = Benchmark.from_dict(config)
RUNS = list(BENCH.runs())
PREPARED = BENCH.prepared_datasets()
SPLIT_PROTOCOL = BENCH.bench["split_protocol"]
DEMO_DATASETS = sorted(k for k, v in config["datasets"].items() if v["type"] == "demo")
REAL_DATASETS = sorted(k for k in config["datasets"] if k not in DEMO_DATASETS)


def one_of(names):
    """A wildcard regex matching exactly these names (and nothing when the list is empty)."""
    return "|".join(map(re.escape, names)) if names else "(?!x)x"


def dataset_options(wildcards):
    return json.dumps(config["datasets"][wildcards.dataset], sort_keys=True)


def run_of(wildcards):
    for run in RUNS:
        if (run.model, run.loss, run.train_set, str(run.split)) == (
            wildcards.model,
            wildcards.loss,
            wildcards.train_set,
            str(wildcards.split),
        ):
            return run
    raise ValueError(f"no configured run for {dict(wildcards)}")


def weight_files(model):
    """Weight files the model's options need (fetched by rule fetch_weights before training)."""
    from gmc.models import get_model_card

    entry = config["models"][model]
    return get_model_card(entry["arch"]).weights(**entry.get("options", {}))


def cache_path(dataset, model):
    return f"results/cache/{dataset}/{BENCH.input_size(model)}.npy"


def split_path(dataset):
    return f"results/splits/{dataset}/{SPLIT_PROTOCOL}.csv"


def predict_inputs(w):
    inputs = {
        "model": f"results/runs/{w.model}/{w.loss}/{w.train_set}/split{w.split}/model.pt",
        "manifest": f"results/manifests/{w.test_set}.csv",
        "cache": cache_path(w.test_set, w.model),
    }
    if w.test_set == w.train_set:
        inputs["splits"] = split_path(w.test_set)
    return inputs


def split_part_args(w, input):
    if w.test_set == w.train_set:
        return f"--splits {input.splits} --split {w.split} --part test"
    return ""


PREDICTIONS = [run.prediction(test_set) for run in RUNS for test_set in BENCH.test_sets(run.train_set)]
RUN_JSONS = [f"{run.run_dir}/run.json" for run in RUNS]


# CPU speed: glibc returns large activation buffers to the OS after every step (page-fault churn).
# Raising its mmap/trim thresholds keeps them in the process: CNNIQA at 128 px trained 1.5x faster on
# CPU here with identical numbers (docs/benchmarks.md). A GLIBC_TUNABLES already set by the user wins.
shell.prefix(
    'export GLIBC_TUNABLES="${{GLIBC_TUNABLES:-glibc.malloc.mmap_threshold=33554432:'
    'glibc.malloc.trim_threshold=4294967296}}"; '
)
