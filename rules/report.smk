# The report stage: the comparison tables and the figures, each with a caption for
# `snakemake --report results/report.html`.

from inpaintbench.families import family
from inpaintbench.models import loss_descriptions

TABLES = "results/tables"
FIGURES = "results/figures"
TABLE_FILES = {
    "csv": f"{TABLES}/comparison.csv",
    "md": f"{TABLES}/comparison.md",
    "tex": f"{TABLES}/comparison.tex",
    "pairwise": f"{TABLES}/pairwise.csv",
    "by_hole_size": f"{TABLES}/by_hole_size.csv",
    "by_category": f"{TABLES}/by_category.csv",
}
COMPARISON_FIGURES = {
    "grid": f"{FIGURES}/{{protocol}}/comparison_grid.png",
    "psnr": f"{FIGURES}/{{protocol}}/psnr_vs_hole_size.png",
}
MODEL_FIGURES = ("snapshots", "training_curves")
# The report's front page (report/workflow.rst includes it) and the comparison table as HTML.
FRONT_PAGE = {"page": "results/report/front_page.html", "table": f"{TABLES}/comparison.html"}
# The models that read the undamaged image as their paper writes (set apart in the figures).
PAPER_EXACT = [model for model in MODELS if config["models"][model]["paper_exact"]]


report: "../report/workflow.rst"


rule aggregate:
    """Table 1 redone with CIs, paired Wilcoxon tests, metrics by hole size and by category, per protocol."""
    input:
        metrics=metric_files("csv"),
        summaries=metric_files("json"),
        features=metric_files("features.npz"),
        real_features=REAL_FEATURES,
        metas=expand("results/models/{model}/meta.json", model=MODELS),
    output:
        csv=report(TABLE_FILES["csv"], caption="../report/comparison.rst", category="Tables"),
        md=TABLE_FILES["md"],
        tex=TABLE_FILES["tex"],
        pairwise=report(TABLE_FILES["pairwise"], caption="../report/pairwise.rst", category="Tables"),
        by_hole_size=report(TABLE_FILES["by_hole_size"], caption="../report/by_hole_size.rst", category="Tables"),
        by_category=report(TABLE_FILES["by_category"], caption="../report/by_category.rst", category="Tables"),
    log:
        "results/logs/report/aggregate.log",
    benchmark:
        "results/benchmarks/report/aggregate.tsv"
    conda:
        ENV
    params:
        protocols=PROTOCOLS,
        methods=METHODS,
        models=MODELS,
        families={method: family(method, config) for method in METHODS},
        aggregation=canonical(config["aggregation"]),
        distribution=canonical(
            {key: config["evaluation"]["distribution"][key] for key in ("kid_subsets", "kid_subset_size", "seed")}
        ),
    script:
        "../scripts/aggregate.py"


rule model_figures:
    """The paper's Figures 3/4 (snapshots) and the training curves of one model."""
    input:
        snapshots="results/models/{model}/snapshots",
        history="results/models/{model}/history.csv",
    output:
        snapshots=report(
            f"{FIGURES}/{{model}}/snapshots.png",
            caption="../report/snapshots.rst",
            category="Models",
            subcategory="{model}",
        ),
        curves=report(
            f"{FIGURES}/{{model}}/training_curves.png",
            caption="../report/training_curves.rst",
            category="Models",
            subcategory="{model}",
        ),
    log:
        "results/logs/report/model_figures_{model}.log",
    benchmark:
        "results/benchmarks/report/model_figures_{model}.tsv"
    conda:
        ENV
    params:
        dpi=config["figures"]["dpi"],
        losses=lambda wildcards: canonical(loss_descriptions(config["models"][wildcards.model]["kind"])),
    script:
        "../scripts/model_figures.py"


rule comparison_figures:
    """The comparison grid of every method and PSNR against hole size, for one mask protocol."""
    input:
        metrics=expand(f"{METRICS_PATTERN}.csv", method=METHODS, allow_missing=True),
        images=expand("results/inpainted/{protocol}/{method}", method=METHODS, allow_missing=True),
        test=split_files("test"),
    output:
        grid=report(COMPARISON_FIGURES["grid"], caption="../report/comparison_grid.rst", category="Protocol {protocol}"),
        psnr=report(
            COMPARISON_FIGURES["psnr"], caption="../report/psnr_vs_hole_size.rst", category="Protocol {protocol}"
        ),
    log:
        "results/logs/report/comparison_figures_{protocol}.log",
    benchmark:
        "results/benchmarks/report/comparison_figures_{protocol}.tsv"
    conda:
        ENV
    params:
        methods=METHODS,
        paper_exact=PAPER_EXACT,
        figures=canonical(config["figures"]),
        image_size=config["data"]["image_size"],
        masks=lambda wildcards: protocol_params(wildcards.protocol),
    script:
        "../scripts/comparison_figures.py"


rule front_page:
    """The report's front page: what was run, the verdict per protocol, headline tables and grids; the comparison as HTML."""
    input:
        table=TABLE_FILES["csv"],
        metrics=metric_files("csv"),
        grids=expand(COMPARISON_FIGURES["grid"], protocol=PROTOCOLS),
    output:
        page=report(FRONT_PAGE["page"], caption="../report/front_page.rst", category="Summary"),
        table=report(FRONT_PAGE["table"], caption="../report/comparison.rst", category="Tables"),
    log:
        "results/logs/report/front_page.log",
    benchmark:
        "results/benchmarks/report/front_page.tsv"
    conda:
        ENV
    params:
        protocols=PROTOCOLS,
        methods=METHODS,
        page=canonical(
            {
                "data": {key: config["data"][key] for key in ("source", "image_size")},
                "confidence": config["aggregation"]["confidence"],
                "without_snapshots": [m for m in MODELS if not config["models"][m]["training"]["snapshot_epochs"]],
            }
        ),
    script:
        "../scripts/front_page.py"
