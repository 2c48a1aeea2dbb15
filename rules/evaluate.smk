# The evaluation stage: every method (enabled models and classical baselines) inpaints the same
# test images with the same masks, one job per (mask protocol, method); per-image metrics, a
# summary and the first inpainted PNGs. An external method (config `external`) is scored from the
# files it made elsewhere, into the same outputs.


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
        method="|".join(OWN_METHODS) or "NO_METHOD",
    conda:
        ENV
    threads: config["evaluation"]["resources"]["threads"]
    resources:
        mem_mb=config["evaluation"]["resources"]["mem_mb"],
        runtime=config["evaluation"]["resources"]["runtime"],
    params:
        settings=evaluation_params,  # its "model" entry is a rerun trigger only (see evaluation_params)
    script:
        "../scripts/evaluate.py"


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
