"""Snakemake step: evaluate one method (model or baseline) on the test split with one protocol's masks."""

from pathlib import Path

from inpaintbench.data.masks import MaskSource
from inpaintbench.evaluation import evaluate

sm = snakemake  # noqa: F821 (injected by Snakemake)
settings = sm.params.settings
evaluate(sm.wildcards.method, sm.input.test, settings["image_size"], settings["evaluation"],
         model_dir=Path(sm.input.meta).parent if "meta" in sm.input.keys() else None,
         masks=MaskSource(**settings["masks"]), metrics_csv=sm.output.metrics, summary_json=sm.output.summary,
         images_dir=sm.output.images, log=sm.log[0], config=settings, threads=sm.threads)
