# Predictions on every test set (the split's test part intra-dataset, the whole set cross-dataset),
# then one long-format score table and one run table.


rule predict:
    input:
        unpack(predict_inputs),
    output:
        "results/predictions/{model}/{loss}/{train_set}/split{split}/{test_set}.csv",
    wildcard_constraints:
        split=r"\d+",
    params:
        part=split_part_args,
        device=config["device"],
        batch=config["train"]["eval_batch_size"],
    conda:
        CONDA_ENV
    log:
        "results/logs/predict/{model}/{loss}/{train_set}/split{split}/{test_set}.log",
    benchmark:
        "results/benchmarks/predict/{model}/{loss}/{train_set}/split{split}/{test_set}.tsv"
    threads: 1
    resources:
        gpu=1 if config["device"] == "cuda" else 0,
    shell:
        "python -m gmc predict --checkpoint {input.model} --manifest {input.manifest} --cache {input.cache}"
        " --test-set {wildcards.test_set} {params.part} --out {output} --device {params.device}"
        " --batch-size {params.batch} --threads {threads} > {log} 2>&1"


rule score:
    input:
        PREDICTIONS,
    output:
        "results/scores.csv",
    conda:
        CONDA_ENV
    log:
        "results/logs/score.log",
    shell:
        "python -m gmc score {input} --out {output} > {log} 2>&1"


rule aggregate:
    input:
        RUN_JSONS,
    output:
        "results/runs.csv",
    conda:
        CONDA_ENV
    log:
        "results/logs/aggregate.log",
    shell:
        "python -m gmc aggregate {input} --out {output} > {log} 2>&1"


rule score_ablations:
    input:
        ABLATION_PREDICTIONS,
    output:
        "results/ablations/scores.csv",
    conda:
        CONDA_ENV
    log:
        "results/logs/score_ablations.log",
    shell:
        "python -m gmc score {input} --out {output} > {log} 2>&1"


rule aggregate_ablations:
    input:
        ABLATION_RUN_JSONS,
    output:
        "results/ablations/runs.csv",
    conda:
        CONDA_ENV
    log:
        "results/logs/aggregate_ablations.log",
    shell:
        "python -m gmc aggregate {input} --out {output} > {log} 2>&1"
