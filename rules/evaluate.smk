# The evaluation stage: every method (enabled models and classical baselines) inpaints the same
# test images with the same masks, one job per (mask protocol, method); per-image metrics, a
# summary and the first inpainted PNGs. A method given evaluation.chunks > 1 is evaluated in that
# many jobs, each a run of whole batches, merged into the same files (the same numbers but the
# seconds). An external method (config `external`) is scored from the files it made elsewhere, into
# the same outputs.


rule real_features:
    """InceptionV3 features of the whole test images, once for every protocol and method (or why there are none)."""
    input:
        test=split_files("test"),
    output:
        features=REAL_FEATURES,
    log:
        "results/logs/evaluate/real_features.log",
    benchmark:
        "results/benchmarks/evaluate/real_features.tsv"
    conda:
        ENV
    threads: config["evaluation"]["resources"]["threads"]
    resources:
        mem_mb=config["evaluation"]["resources"]["mem_mb"],
        runtime=config["evaluation"]["resources"]["runtime"],
    params:
        settings=real_features_params(),
    script:
        "../scripts/real_features.py"


rule evaluate:
    """Inpaint every test image with one method and one protocol's masks; PSNR, SSIM, their hole versions, L1, MSE,
    sharpness, time, and the InceptionV3 features of one sample per image."""
    input:
        unpack(model_files),
        test=split_files("test"),
        real_features=REAL_FEATURES,
    output:
        metrics=f"{METRICS_PATTERN}.csv",
        summary=f"{METRICS_PATTERN}.json",
        features=f"{METRICS_PATTERN}.features.npz",
        images=directory("results/inpainted/{protocol}/{method}"),
    log:
        "results/logs/evaluate/{protocol}/{method}.log",
    benchmark:
        "results/benchmarks/evaluate/{protocol}/{method}.tsv"
    wildcard_constraints:
        method="|".join(method for method in OWN_METHODS if method not in CHUNKED) or "NO_METHOD",
    conda:
        ENV
    threads: config["evaluation"]["resources"]["threads"]
    resources:
        gpu=evaluation_gpus,
        mem_mb=config["evaluation"]["resources"]["mem_mb"],
        runtime=config["evaluation"]["resources"]["runtime"],
    params:
        settings=evaluation_params,  # its "model" entry is a rerun trigger only (see evaluation_params)
    script:
        "../scripts/evaluate.py"


rule evaluate_chunk:
    """Chunk k of n of a chunked method's evaluation: a run of whole batches of the test images, with the seeds
    one job gives them; its rows, features and the showcase PNGs that fall in it."""
    input:
        unpack(model_files),
        test=split_files("test"),
        real_features=REAL_FEATURES,
    output:
        metrics=f"{CHUNK_PATTERN}/metrics.csv",
        summary=f"{CHUNK_PATTERN}/summary.json",
        features=f"{CHUNK_PATTERN}/features.npz",
        images=directory(f"{CHUNK_PATTERN}/images"),
    log:
        "results/logs/evaluate/{protocol}/{method}/{chunk}-of-{chunks}.log",
    benchmark:
        "results/benchmarks/evaluate/{protocol}/{method}/{chunk}-of-{chunks}.tsv"
    wildcard_constraints:
        method="|".join(CHUNKED) or "NO_CHUNKED",
        chunk=r"\d+",
        chunks=r"\d+",
    conda:
        ENV
    threads: config["evaluation"]["resources"]["threads"]
    resources:
        gpu=evaluation_gpus,
        mem_mb=config["evaluation"]["resources"]["mem_mb"],
        runtime=config["evaluation"]["resources"]["runtime"],
    params:
        settings=evaluation_params,
    script:
        "../scripts/evaluate_chunk.py"


rule merge_evaluation:
    """One job's files from a chunked method's chunks: the rows in order, the means of all, the features, the
    showcase PNGs."""
    input:
        metrics=chunk_files("metrics.csv"),
        summaries=chunk_files("summary.json"),
        features=chunk_files("features.npz"),
        images=chunk_files("images"),
    output:
        metrics=f"{METRICS_PATTERN}.csv",
        summary=f"{METRICS_PATTERN}.json",
        features=f"{METRICS_PATTERN}.features.npz",
        images=directory("results/inpainted/{protocol}/{method}"),
    log:
        "results/logs/evaluate/{protocol}/{method}.log",
    benchmark:
        "results/benchmarks/evaluate/{protocol}/{method}.tsv"
    wildcard_constraints:
        method="|".join(CHUNKED) or "NO_CHUNKED",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=config["evaluation"]["resources"]["mem_mb"],
        runtime=config["evaluation"]["resources"]["runtime"],
    params:
        settings=evaluation_params,  # one job's: the merged summary records it as its config
    script:
        "../scripts/merge_evaluation.py"


rule check_external:
    """Read and check one external method's predictions on one protocol (names, sizes, colour, polarity): a folder
    that fails stops here, and the method's earlier scores stay."""
    input:
        predictions=prediction_files,
        test=split_files("test"),
    output:
        check=f"{CHECKS}/{{protocol}}/{{method}}.json",
    log:
        "results/logs/check/{protocol}/{method}.log",
    benchmark:
        "results/benchmarks/check/{protocol}/{method}.tsv"
    wildcard_constraints:
        method="|".join(EXTERNAL) or "NO_EXTERNAL",
    conda:
        ENV
    threads: config["evaluation"]["resources"]["threads"]
    resources:
        mem_mb=config["evaluation"]["resources"]["mem_mb"],
        runtime=config["evaluation"]["resources"]["runtime"],
    params:
        folder=prediction_folder,
        settings=external_params,
    script:
        "../scripts/check_external.py"


rule evaluate_external:
    """Score one external method's predictions (made elsewhere, one folder per protocol) as our methods are scored:
    the same per-image CSV, summary, features and showcase PNGs."""
    input:
        predictions=prediction_files,
        checked=f"{CHECKS}/{{protocol}}/{{method}}.json",
        test=split_files("test"),
        real_features=REAL_FEATURES,
    output:
        metrics=f"{METRICS_PATTERN}.csv",
        summary=f"{METRICS_PATTERN}.json",
        features=f"{METRICS_PATTERN}.features.npz",
        images=directory("results/inpainted/{protocol}/{method}"),
    log:
        "results/logs/evaluate/{protocol}/{method}.log",
    benchmark:
        "results/benchmarks/evaluate/{protocol}/{method}.tsv"
    wildcard_constraints:
        method="|".join(EXTERNAL) or "NO_EXTERNAL",
    conda:
        ENV
    threads: config["evaluation"]["resources"]["threads"]
    resources:
        mem_mb=config["evaluation"]["resources"]["mem_mb"],
        runtime=config["evaluation"]["resources"]["runtime"],
    params:
        folder=prediction_folder,
        settings=external_params,
    script:
        "../scripts/evaluate_external.py"


rule evaluate_all:
    """Target: every method evaluated on every protocol."""
    input:
        metric_files("json"),
