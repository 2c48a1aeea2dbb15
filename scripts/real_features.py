"""Snakemake step: InceptionV3 features of the test split's original images, or a file saying why there are none."""

from inpaintbench.runtime import start_tensorflow

start_tensorflow()  # before anything loads it: its start-up lines stay out of the job's output
from inpaintbench.evaluation import real_features  # noqa: E402
from inpaintbench.logs import exit_on_error  # noqa: E402

sm = snakemake  # noqa: F821 (injected by Snakemake)
settings = sm.params.settings
with exit_on_error():  # real_features() logs its error
    real_features(sm.input.test, settings["image_size"], settings["evaluation"], sm.output.features,
                  log_path=sm.log[0], params=settings, threads=sm.threads)
