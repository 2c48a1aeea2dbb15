"""Snakemake step: evaluate chunk k of n of one method on the test split with one protocol's masks (its own
script: an edit of scripts/evaluate.py would rerun every unchunked evaluation, Snakemake going by its mtime)."""

from pathlib import Path

from inpaintbench.runtime import start_tensorflow

start_tensorflow()  # before anything loads it: its start-up lines stay out of the job's output
from inpaintbench.data.masks import MaskSource  # noqa: E402
from inpaintbench.evaluation import evaluate  # noqa: E402
from inpaintbench.logs import exit_on_error  # noqa: E402

sm = snakemake  # noqa: F821 (injected by Snakemake)
settings = sm.params.settings
with exit_on_error():  # evaluate() logs its error
    evaluate(sm.wildcards.method, sm.input.test, settings["image_size"], settings["evaluation"],
             model_dir=Path(sm.input.meta).parent if "meta" in sm.input.keys() else None,
             masks=MaskSource(**settings["masks"]), metrics_csv=sm.output.metrics, summary_json=sm.output.summary,
             images_dir=sm.output.images, log_path=sm.log[0], params=settings, threads=sm.threads,
             real_features_npz=sm.input.real_features, features_npz=sm.output.features,
             chunk=(int(sm.wildcards.chunk), int(sm.wildcards.chunks)))
