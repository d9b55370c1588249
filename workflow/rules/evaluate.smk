# Predictions on every test set (the split's test part intra-dataset, the whole set cross-dataset),
# then one long-format score table and one run table.


rule predict:
    # one job per trained run: the model is loaded once and scores every test set, each into its own
    # CSV (the training set's file is the intra-dataset score on its split's test part; when the
    # training set is also a cross-dataset test set, the two output patterns name the same file)
    input:
        unpack(predict_inputs),
    output:
        intra="results/predictions/{model}/{loss}/{train_set}/split{split}/{train_set}.csv",
        cross=[f"results/predictions/{{model}}/{{loss}}/{{train_set}}/split{{split}}/{t}.csv" for t in TEST_SETS],
    wildcard_constraints:
        split=r"\d+",
        train_set=one_of(NR_TRAIN_SETS),
        model=one_of(ENGINE_MODELS),
    params:
        out_dir=run_dir_predictions,
        test_sets=test_set_args,
        device=config["device"],
        batch=lambda w: BENCH.train_settings(w.model).eval_batch_size,
    conda:
        CONDA_ENV
    log:
        "results/logs/predict/{model}/{loss}/{train_set}/split{split}.log",
    benchmark:
        "results/benchmarks/predict/{model}/{loss}/{train_set}/split{split}.tsv"
    threads: 1
    resources:
        gpu=GPU_JOB,
    shell:
        "python -m gmc predict --checkpoint {input.model} {params.test_sets} --splits {input.splits}"
        " --out-dir {params.out_dir} --device {params.device} --batch-size {params.batch}"
        " --threads {threads} > {log} 2>&1"


# the full-reference track: the same job, with the FR grid's cross-dataset test sets
use rule predict as predict_fr with:
    output:
        intra="results/predictions/{model}/{loss}/{train_set}/split{split}/{train_set}.csv",
        cross=[
            f"results/predictions/{{model}}/{{loss}}/{{train_set}}/split{{split}}/{t}.csv" for t in FR_TEST_SETS
        ],
    wildcard_constraints:
        split=r"\d+",
        train_set=one_of(FR_TRAIN_SETS),
        model=one_of(ENGINE_MODELS),


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
    # the run table, and every epoch's validation metrics (from the log.jsonl beside each run.json)
    input:
        runs=RUN_JSONS,
        logs=RUN_LOGS,
    output:
        runs="results/runs.csv",
        curves="results/curves.csv",
    conda:
        CONDA_ENV
    log:
        "results/logs/aggregate.log",
    shell:
        "python -m gmc aggregate {input.runs} --out {output.runs} --curves {output.curves} > {log} 2>&1"


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
