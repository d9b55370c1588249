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
    output:
        model="results/runs/{model}/{loss}/{train_set}/split{split}/model.pt",
        log="results/runs/{model}/{loss}/{train_set}/split{split}/log.jsonl",
        run="results/runs/{model}/{loss}/{train_set}/split{split}/run.json",
    wildcard_constraints:
        split=r"\d+",
    params:
        run_config=lambda w: json.dumps(BENCH.run_config(run_of(w)), sort_keys=True),
        out_dir=lambda w: run_of(w).run_dir,
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
        " --threads {threads} > {log} 2>&1"


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
