# Datasets -> manifests -> decoded caches -> pinned splits.


rule demo_data:
    output:
        meta="resources/datasets/{dataset}/dataset.json",
        data=directory("resources/datasets/{dataset}/data"),
    wildcard_constraints:
        dataset=one_of(DEMO_DATASETS),
    params:
        preset=lambda w: config["datasets"][w.dataset]["preset"],
        size=lambda w: config["datasets"][w.dataset].get("image_size", 128),
        n=lambda w: config["datasets"][w.dataset].get("n_images", 300),
        seed=config["seed"],
    conda:
        CONDA_ENV
    log:
        "results/logs/demo_data/{dataset}.log",
    threads: 1
    shell:
        "python -m gmc demo-data --preset {params.preset} --out resources/datasets/{wildcards.dataset}"
        " --n-images {params.n} --image-size {params.size} --seed {params.seed} --threads {threads}"
        " > {log} 2>&1"


rule fetch:
    output:
        meta="resources/datasets/{dataset}/dataset.json",
    wildcard_constraints:
        dataset=one_of(REAL_DATASETS),
    params:
        options=dataset_options,
    conda:
        CONDA_ENV
    log:
        "results/logs/fetch/{dataset}.log",
    resources:
        downloads=1,
    shell:
        "python -m gmc fetch --dataset {wildcards.dataset} --options {params.options:q}"
        " --out resources/datasets/{wildcards.dataset} > {log} 2>&1"


rule fetch_all:
    # `snakemake fetch_all`: download every dataset of the config's catalogue, used or not.
    input:
        expand("resources/datasets/{dataset}/dataset.json", dataset=sorted(config["datasets"])),


rule manifest:
    input:
        "resources/datasets/{dataset}/dataset.json",
    output:
        manifest="results/manifests/{dataset}.csv",
        validation="results/manifests/{dataset}.validation.json",
    params:
        options=dataset_options,
        # datasets.<key>.drop_bad_images: true drops missing/undecodable images (listed in the report)
        drop=lambda w: "--drop-bad-images" if config["datasets"][w.dataset].get("drop_bad_images") else "",
    conda:
        CONDA_ENV
    log:
        "results/logs/manifest/{dataset}.log",
    shell:
        "python -m gmc manifest --dataset {wildcards.dataset} --options {params.options:q}"
        " --dataset-json {input} --out {output.manifest} {params.drop} > {log} 2>&1"


rule cache:
    input:
        "results/manifests/{dataset}.csv",
    output:
        npy="results/cache/{dataset}/{size}.npy",
        meta="results/cache/{dataset}/{size}.json",
    wildcard_constraints:
        size=r"\d+|\d+x\d+",
    conda:
        CONDA_ENV
    log:
        "results/logs/cache/{dataset}_{size}.log",
    threads: 2
    shell:
        "python -m gmc cache --manifest {input} --size {wildcards.size} --out {output.npy}"
        " --threads {threads} > {log} 2>&1"


rule split:
    input:
        manifest="results/manifests/{dataset}.csv",
        meta="resources/datasets/{dataset}/dataset.json",
    output:
        "results/splits/{dataset}/{protocol}.csv",
    wildcard_constraints:
        protocol="random|official",
    params:
        options=dataset_options,
        n=BENCH.bench["splits"],
        seed=config["seed"],
        test=BENCH.bench["test_fraction"],
        val=BENCH.bench["val_fraction"],
    conda:
        CONDA_ENV
    log:
        "results/logs/split/{dataset}_{protocol}.log",
    shell:
        "python -m gmc split --manifest {input.manifest} --out {output} --dataset {wildcards.dataset}"
        " --options {params.options:q} --protocol {wildcards.protocol} --n-splits {params.n}"
        " --seed {params.seed} --test-fraction {params.test} --val-fraction {params.val}"
        " --dataset-json {input.meta} > {log} 2>&1"
