# GMC-IQA benchmark harness: the table of contents of the workflow.
#   snakemake --cores all                                   the synthetic CPU demo (config/config.yaml)
#   snakemake --cores all --configfile config/paper.yaml    the GMC-IQA reproduction on real datasets
#   snakemake --cores all ablations                         the config's ablation grids (+ their report)
# Rules are thin: each calls one `python -m gmc <command>`; the logic lives in the gmc package. Parsing
# this file imports no torch, timm or pyiqa (tests/test_light_imports.py): `snakemake -n` stays fast.
from snakemake.utils import min_version

from gmc.config import Benchmark, read_yaml

min_version("9.0")

DEFAULT_CONFIG = "config/config.yaml"

# config/config.yaml (the demo) is the default; a --configfile given on the command line replaces it
# instead of being merged into it, so no demo dataset or model leaks into another benchmark.
if not workflow.overwrite_configfiles:
    read_yaml(DEFAULT_CONFIG)  # a YAML syntax error names its line and column

    configfile: DEFAULT_CONFIG


# Everything that can be checked before a job runs is checked here (schema, references, registries):
# a mistake stops `snakemake -n` with the key, the file and line, and the fix.
BENCH = Benchmark.from_dict(config, sources=workflow.overwrite_configfiles or [DEFAULT_CONFIG])
config.update(BENCH.config)  # with the schema's defaults filled in


# `snakemake --report report.html`: Snakemake's own report (the figures and table CSVs of rule report)
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


# On a cluster (profiles/slurm) these run on the submitting machine, not as Slurm jobs: downloads (compute
# nodes often have no internet) and the model-free steps that take seconds (split files, score and run
# tables, reports). Data preparation that decodes every image (demo_data, manifest, cache) stays a job.
localrules:
    fetch,
    fetch_weight_file,
    split,
    score,
    aggregate,
    score_ablations,
    aggregate_ablations,
    report,
    ablation_report,
    check_report,


rule all:
    default_target: True
    input:
        rules.report.output,
        expand("results/splits/{dataset}/{protocol}.csv", dataset=PREPARED, protocol=SPLIT_PROTOCOL),


rule ablations:
    input:
        rules.ablation_report.output,
