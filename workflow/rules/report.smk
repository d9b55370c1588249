# The report is rebuilt from results/ alone: `snakemake report_only` (or deleting reports/) never retrains.


rule report:
    input:
        scores="results/scores.csv",
        runs="results/runs.csv",
        # published numbers (report.reported_csv): editing them rebuilds the report only
        reported=config["report"]["reported_csv"] or [],
    output:
        html="reports/index.html",
        # a standalone document inputting every table: `cd reports && pdflatex tables.tex`
        document="reports/tables.tex",
        tables=expand("reports/tables/{table}.tex", table=["intra", "cross", "gcc_vs_native"]),
        # one row per model trained with more than two losses (header only when none is)
        loss_comparison="reports/tables/loss_comparison.csv",
    params:
        config=json.dumps(config, sort_keys=True),
    conda:
        CONDA_ENV
    log:
        "results/logs/report.log",
    shell:
        "python -m gmc report --scores {input.scores} --runs {input.runs} --config {params.config:q}"
        " --out-dir reports > {log} 2>&1"


# `snakemake --cores all ablations`: the config's ablation grids -> reports/ablations.html and
# reports/tables/ablation_<name>.tex|csv (not part of the default target: the grids multiply training).
rule ablation_report:
    input:
        unpack(ablation_report_inputs),
    output:
        html="reports/ablations.html",
        tables=expand("reports/tables/ablation_{name}.tex", name=[a.name for a in BENCH.ablations]),
    params:
        inputs=lambda w, input: " ".join(f"--{k} {v}" for k, v in input.items()),
        # key order kept (no sort_keys): the grids and their variants are shown in config order
        config=json.dumps(config),
    conda:
        CONDA_ENV
    log:
        "results/logs/ablation_report.log",
    shell:
        "python -m gmc ablation-report {params.inputs} --config {params.config:q} --out-dir reports > {log} 2>&1"
