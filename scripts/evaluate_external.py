"""Snakemake step: score one external method's predictions (made elsewhere) on one protocol's test set."""

from inpaintbench.runtime import start_tensorflow

start_tensorflow()  # before anything loads it: its start-up lines stay out of the job's output
from inpaintbench.external_evaluation import evaluate_external  # noqa: E402
from inpaintbench.logs import exit_on_error  # noqa: E402

sm = snakemake  # noqa: F821 (injected by Snakemake)
with exit_on_error():  # evaluate_external() logs its error
    evaluate_external(sm.wildcards.method, sm.params.folder, sm.input.test, sm.params.settings,
                      metrics_csv=sm.output.metrics, summary_json=sm.output.summary, features_npz=sm.output.features,
                      images_dir=sm.output.images, real_features_npz=sm.input.real_features, log_path=sm.log[0],
                      threads=sm.threads)
