# GMC-IQA benchmark harness: the table of contents of the workflow.
#   snakemake --cores all                                   the synthetic CPU demo (config/config.yaml)
#   snakemake --cores all --configfile config/paper.yaml    the GMC-IQA reproduction on real datasets
#   snakemake --cores all ablations                         the config's ablation grids (+ their report)
# Rules are thin: each calls one `python -m gmc <command>`; the logic lives in the gmc package.
from snakemake.utils import min_version, validate

min_version("9.0")


# config/config.yaml (the demo) is the default; a --configfile given on the command line replaces it
# instead of being merged into it, so no demo dataset or model leaks into another benchmark.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        rules.report.output,
        expand("results/splits/{dataset}/{protocol}.csv", dataset=PREPARED, protocol=SPLIT_PROTOCOL),


rule ablations:
    input:
        rules.ablation_report.output,
