# The report stage: the comparison tables and the figures, each with a caption for
# `snakemake --report results/report.html`.

report: "../report/workflow.rst"


rule aggregate:
    """Table 1 redone with CIs, paired Wilcoxon tests, metrics by hole size and by category."""
    input:
        metrics=method_files("csv"),
        summaries=method_files("json"),
        metas=expand("results/models/{model}/meta.json", model=MODELS),
    output:
        csv=report(TABLE_FILES["csv"], caption="../report/comparison.rst", category="Tables"),
        md=TABLE_FILES["md"],
        tex=TABLE_FILES["tex"],
        pairwise=report(TABLE_FILES["pairwise"], caption="../report/pairwise.rst", category="Tables"),
        by_hole_size=report(TABLE_FILES["by_hole_size"], caption="../report/by_hole_size.rst", category="Tables"),
        by_category=report(TABLE_FILES["by_category"], caption="../report/by_category.rst", category="Tables"),
    params:
        methods=METHODS,
        models=MODELS,
        aggregation=canonical(config["aggregation"]),
    log:
        "results/logs/report/aggregate.log",
    benchmark:
        "results/benchmarks/report/aggregate.tsv"
    conda:
        ENV
    script:
        "../scripts/aggregate.py"


rule model_figures:
    """The paper's Figures 3/4 (snapshots) and the training curves of one model."""
    input:
        snapshots="results/models/{model}/snapshots",
        history="results/models/{model}/history.csv",
    output:
        snapshots=report(f"{FIGURES}/{{model}}/snapshots.png", caption="../report/snapshots.rst",
                         category="Models", subcategory="{model}"),
        curves=report(f"{FIGURES}/{{model}}/training_curves.png", caption="../report/training_curves.rst",
                      category="Models", subcategory="{model}"),
    params:
        dpi=config["figures"]["dpi"],
    log:
        "results/logs/report/model_figures_{model}.log",
    benchmark:
        "results/benchmarks/report/model_figures_{model}.tsv"
    conda:
        ENV
    script:
        "../scripts/model_figures.py"


rule comparison_figures:
    """The comparison grid of every method and PSNR against hole size."""
    input:
        metrics=method_files("csv"),
        images=expand("results/inpainted/{method}", method=METHODS),
        test=split_files("test"),
    output:
        grid=report(COMPARISON_FIGURES["grid"], caption="../report/comparison_grid.rst", category="Figures"),
        psnr=report(COMPARISON_FIGURES["psnr"], caption="../report/psnr_vs_hole_size.rst", category="Figures"),
    params:
        methods=METHODS,
        figures=canonical(config["figures"]),
        image_size=config["data"]["image_size"],
        hole_size_bins=config["aggregation"]["hole_size_bins"],
    log:
        "results/logs/report/comparison_figures.log",
    benchmark:
        "results/benchmarks/report/comparison_figures.tsv"
    conda:
        ENV
    script:
        "../scripts/comparison_figures.py"
