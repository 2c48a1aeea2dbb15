# The evaluation stage: every method (enabled models and classical baselines) inpaints the same
# test images with the same masks, one job per (mask protocol, method); per-image metrics, a
# summary and the first inpainted PNGs.


rule evaluate:
    """Inpaint every test image with one method and one protocol's masks; PSNR, SSIM, their hole versions, L1, MSE, time."""
    input:
        unpack(model_files),
        test=split_files("test"),
    output:
        metrics=f"{METRICS_PATTERN}.csv",
        summary=f"{METRICS_PATTERN}.json",
        images=directory("results/inpainted/{protocol}/{method}"),
    params:
        settings=evaluation_params,
    log:
        "results/logs/evaluate/{protocol}/{method}.log",
    benchmark:
        "results/benchmarks/evaluate/{protocol}/{method}.tsv"
    threads: config["evaluation"]["resources"]["threads"]
    resources:
        mem_mb=config["evaluation"]["resources"]["mem_mb"],
        runtime=config["evaluation"]["resources"]["runtime"],
    conda:
        ENV
    script:
        "../scripts/evaluate.py"


rule evaluate_all:
    """Target: every method evaluated on every protocol."""
    input:
        metric_files("json"),
