# One job per run: model x loss x training set x split. Rerunning an interrupted job resumes from
# results/runs/.../checkpoints/last.pt (profiles/default sets rerun-incomplete).


rule train:
    input:
        manifest="results/manifests/{train_set}.csv",
        cache=lambda w: cache_path(w.train_set, w.model),
        splits=lambda w: split_path(w.train_set),
        weights=lambda w: weight_files(w.model),
        # ASNA's surrogate loss reads the pre-trained sorter (rule pretrain_sorter)
        sorter=lambda w: BENCH.sorter_files(w.model, w.loss),
        # a warm start (models.<key>.init_from, e.g. LP-FT) reads the init run's model.pt
        init=init_checkpoint,
    output:
        model="results/runs/{model}/{loss}/{train_set}/split{split}/model.pt",
        log="results/runs/{model}/{loss}/{train_set}/split{split}/log.jsonl",
        run="results/runs/{model}/{loss}/{train_set}/split{split}/run.json",
    wildcard_constraints:
        split=r"\d+",
        model=one_of(ENGINE_MODELS),
    params:
        run_config=lambda w: json.dumps(BENCH.run_config(run_of(w)), sort_keys=True),
        out_dir=lambda w: run_of(w).run_dir,
        init_arg=lambda w: " ".join(f"--init-from {p}" for p in init_checkpoint(w)),
    conda:
        CONDA_ENV
    log:
        "results/logs/train/{model}/{loss}/{train_set}/split{split}.log",
    benchmark:
        "results/benchmarks/train/{model}/{loss}/{train_set}/split{split}.tsv"
    threads: 1
    resources:
        gpu=GPU_JOB,
    shell:
        "python -m gmc train --run-config {params.run_config:q} --manifest {input.manifest}"
        " --cache {input.cache} --splits {input.splits} --out-dir {params.out_dir}"
        " --threads {threads} {params.init_arg} > {log} 2>&1"


# `snakemake fetch_weights`: every weight file the configured runs need (ablation runs included), so that
# training can then run with the hubs offline; `snakemake -n fetch_weights` lists them.
rule fetch_weights:
    input:
        WEIGHT_FILES,


rule fetch_weight_file:
    output:
        "resources/weights/{name}",
    wildcard_constraints:
        # timm's <arch>.<tag>.safetensors, or a declared non-timm file (gmc.models.weight_files)
        name=r"[^/]+\.(safetensors|pth)",
    conda:
        CONDA_ENV
    log:
        "results/logs/fetch_weights/{name}.log",
    resources:
        downloads=1,
    shell:
        "python -m gmc fetch-weights --out {output} > {log} 2>&1"


# ASNA's sorter (asna.md s. 2): a 1-D CNN pre-trained on synthetic score vectors to output their ranks,
# frozen inside the asna_surrogate loss of every ASNA run; its held-out accuracy goes to the report.
rule pretrain_sorter:
    output:
        model="results/sorters/sorter{length}.pt",
        summary="results/sorters/sorter{length}.pt.json",
    wildcard_constraints:
        length=r"\d+",
    params:
        s=config["sorter"],
    conda:
        CONDA_ENV
    log:
        "results/logs/pretrain_sorter/sorter{length}.log",
    benchmark:
        "results/benchmarks/pretrain_sorter/sorter{length}.tsv"
    threads: 1
    shell:
        "python -m gmc pretrain-sorter --length {wildcards.length} --vectors {params.s[vectors]}"
        " --epochs {params.s[epochs]} --batch-size {params.s[batch_size]} --lr {params.s[lr]}"
        " --lr-step {params.s[lr_step]} --lr-gamma {params.s[lr_gamma]} --seed {params.s[seed]}"
        " --threads {threads} --out {output.model} > {log} 2>&1"


# Frozen-feature models (issue #15): the backbone's features of each dataset are computed once per
# backbone x weights x input size x pooling; every probe run fits on them (rule probe), and every head-only
# run (MoNet with freeze_backbone, pooling grid<S> or grid<S>-tail<N>) trains and predicts on them (rules
# train, predict). Shared pass: when a dataset needs several poolings of one backbone x weights x size,
# the job of the first computes them all in one backbone pass; the others wait for it and take theirs.
rule features:
    input:
        manifest="results/manifests/{dataset}.csv",
        cache="results/cache/{dataset}/{size}.npy",
        first_pass=shared_pass_first,
    output:
        npy="results/features/{dataset}/{backbone}.{weights}.{size}.{pooling}.npy",
        meta="results/features/{dataset}/{backbone}.{weights}.{size}.{pooling}.json",
    wildcard_constraints:
        backbone=r"[A-Za-z0-9_-]+",
        weights=r"[A-Za-z0-9_-]+",
        size=r"\d+",
        pooling=r"[A-Za-z0-9_-]+",
    params:
        pretrained=lambda w: "none" if w.weights == "random" else w.weights,
        device=config["device"],
        also=shared_pass_args,
    conda:
        CONDA_ENV
    log:
        "results/logs/features/{dataset}/{backbone}.{weights}.{size}.{pooling}.log",
    benchmark:
        "results/benchmarks/features/{dataset}/{backbone}.{weights}.{size}.{pooling}.tsv"
    threads: 1
    resources:
        gpu=GPU_JOB,
    shell:
        "python -m gmc features --manifest {input.manifest} --cache {input.cache}"
        " --backbone {wildcards.backbone} --pretrained {params.pretrained} --input-size {wildcards.size}"
        " --pooling {wildcards.pooling} --out {output.npy} --batch-size 32 --device {params.device}"
        " --threads {threads} {params.also} > {log} 2>&1"


rule probe:
    # ridge on the cached features, alpha by cross-validation on the split's training part only; writes
    # the run record and the predictions of every test set, as train + predict do for the other models
    input:
        unpack(probe_inputs),
    output:
        log="results/runs/{model}/{loss}/{train_set}/split{split}/log.jsonl",
        run="results/runs/{model}/{loss}/{train_set}/split{split}/run.json",
        intra="results/predictions/{model}/{loss}/{train_set}/split{split}/{train_set}.csv",
        cross=[f"results/predictions/{{model}}/{{loss}}/{{train_set}}/split{{split}}/{t}.csv" for t in TEST_SETS],
    wildcard_constraints:
        split=r"\d+",
        model=one_of(PROBE_MODELS),
    params:
        run_config=lambda w: json.dumps(BENCH.run_config(run_of(w)), sort_keys=True),
        out_dir=lambda w: run_of(w).run_dir,
        pred_dir=run_dir_predictions,
        tests=probe_test_args,
    conda:
        CONDA_ENV
    log:
        "results/logs/probe/{model}/{loss}/{train_set}/split{split}.log",
    benchmark:
        "results/benchmarks/probe/{model}/{loss}/{train_set}/split{split}.tsv"
    threads: 1
    shell:
        "python -m gmc probe --run-config {params.run_config:q} --features {input.features}"
        " --manifest {input.manifest} --splits {input.splits} --out-dir {params.out_dir}"
        " --predictions-dir {params.pred_dir} {params.tests} --threads {threads} > {log} 2>&1"
