# The report is rebuilt from results/ alone: `snakemake report_only` (or deleting reports/) never retrains.


rule report:
    input:
        scores="results/scores.csv",
        runs="results/runs.csv",
    output:
        html="reports/index.html",
        tables=expand("reports/tables/{table}.tex", table=["intra", "cross", "gcc_vs_native"]),
    params:
        config=json.dumps(config, sort_keys=True),
    conda:
        CONDA_ENV
    log:
        "results/logs/report.log",
    shell:
        "python -m gmc report --scores {input.scores} --runs {input.runs} --config {params.config:q}"
        " --out-dir reports > {log} 2>&1"
