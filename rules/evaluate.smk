# The evaluation stage: every method (enabled models and classical baselines) inpaints the same
# test images with the same holes; per-image metrics, a summary and the first inpainted PNGs.


rule evaluate:
    """Inpaint every test image with one method and measure PSNR, SSIM, hole PSNR/SSIM, L1, MSE, time."""
    input:
        unpack(model_files),
        test=split_files("test"),
    output:
        metrics="results/metrics/{method}.csv",
        summary="results/metrics/{method}.json",
        images=directory("results/inpainted/{method}"),
    params:
        settings=evaluation_params,
    log:
        "results/logs/evaluate/{method}.log",
    benchmark:
        "results/benchmarks/evaluate/{method}.tsv"
    threads: config["evaluation"]["resources"]["threads"]
    resources:
        mem_mb=config["evaluation"]["resources"]["mem_mb"],
        runtime=config["evaluation"]["resources"]["runtime"],
    conda:
        ENV
    script:
        "../scripts/evaluate.py"


rule evaluate_all:
    """Target: every method evaluated."""
    input:
        expand("results/metrics/{method}.json", method=METHODS),
