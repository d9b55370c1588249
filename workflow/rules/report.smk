# The report is rebuilt from results/ alone: `snakemake report_only` (or deleting reports/) never retrains.


REPORT_FIGURES = [
    "intra_srocc", "gcc_vs_native", "gcc_differences", "cross_srocc", "validation_srocc",
    *[f"scatter_{model}" for model in BENCH.models()],
]  # fmt: skip
REPORT_TABLES = [
    "intra", "cross", "gcc_vs_native", "loss_comparison", "statistics", "summary", "full_reference",
]  # fmt: skip
# the pre-trained ASNA sorters the runs use: their held-out accuracy is shown in the FR table
REPORT_SORTERS = sorted({f"{p}.json" for run in RUNS for p in BENCH.sorter_files(run.model, run.loss)})
if config["report"]["reported_csv"]:
    REPORT_TABLES.append("reported")


rule report:
    input:
        scores="results/scores.csv",
        runs="results/runs.csv",
        curves="results/curves.csv",
        # predictions vs MOS: one run per model, loss and test set (first split)
        predictions=SCATTER_PREDICTIONS,
        sorters=REPORT_SORTERS,
        # published numbers (report.reported_csv): editing them rebuilds the report only
        reported=config["report"]["reported_csv"] or [],
        # the report's formatting code and templates: editing a table's style rebuilds the report only
        style=REPORT_STYLE,
    output:
        html="reports/index.html",
        # a standalone document inputting every table: `cd reports && pdflatex tables.tex`
        document="reports/tables.tex",
        tables=expand("reports/tables/{table}.tex", table=["intra", "cross", "gcc_vs_native", "full_reference"]),
        # the raw numbers of every table; in Snakemake's own report (`snakemake --report report.html`) too
        table_csvs=[
            report(
                f"reports/tables/{table}.csv",
                caption="../report/table.rst",
                category="Tables",
                labels={"table": table},
            )
            for table in REPORT_TABLES
        ],
        figures=[
            report(
                f"reports/figures/{fig}.png",
                caption=f"../report/{fig.split('_')[0] if fig.startswith('scatter_') else fig}.rst",
                category="Figures",
                labels={"figure": fig},
            )
            for fig in REPORT_FIGURES
        ],
        figure_pdfs=expand("reports/figures/{fig}.pdf", fig=REPORT_FIGURES),
    params:
        config=json.dumps(config, sort_keys=True),
    conda:
        CONDA_ENV
    log:
        "results/logs/report.log",
    shell:
        "python -m gmc report --scores {input.scores} --runs {input.runs} --curves {input.curves}"
        " --predictions {input.predictions} --sorters {input.sorters} --config {params.config:q}"
        " --out-dir reports > {log} 2>&1"


# `snakemake --cores all ablations`: the config's ablation grids -> reports/ablations.html and
# reports/tables/ablation_<name>.tex|csv (not part of the default target: the grids multiply training).
rule ablation_report:
    input:
        unpack(ablation_report_inputs),
        style=REPORT_STYLE,
    output:
        html="reports/ablations.html",
        tables=expand("reports/tables/ablation_{name}.tex", name=[a.name for a in BENCH.ablations]),
    params:
        inputs=lambda w, input: " ".join(f"--{k} {v}" for k, v in input.items() if k in ("scores", "runs")),
        # key order kept (no sort_keys): the grids and their variants are shown in config order
        config=json.dumps(config),
    conda:
        CONDA_ENV
    log:
        "results/logs/ablation_report.log",
    shell:
        "python -m gmc ablation-report {params.inputs} --config {params.config:q} --out-dir reports > {log} 2>&1"


# `snakemake --cores all check_report`: open reports/index.html in headless Chromium (Debian's package),
# fail on console errors, unloaded figures, dead links or empty tables, and save a full-page screenshot.
# Not part of the default target: it needs Chromium (gmc/reporting/browser.py).
rule check_report:
    input:
        "reports/index.html",
    output:
        "reports/index.png",
    conda:
        CONDA_ENV
    log:
        "results/logs/check_report.log",
    shell:
        "python -m gmc check-report {input} --screenshot {output} > {log} 2>&1"
