"""Snakemake step: train one model (resumes from its state folder) and write its model folder."""

from pathlib import Path

from inpaintbench.runtime import start_tensorflow

start_tensorflow()  # before anything loads it: its start-up lines stay out of the job's output
from inpaintbench.logs import exit_on_error  # noqa: E402
from inpaintbench.training import train  # noqa: E402

sm = snakemake  # noqa: F821 (injected by Snakemake)
with exit_on_error():  # train() logs its error
    train(sm.wildcards.model, sm.params.model, sm.params.image_size, sm.input.train, sm.input.val,
          Path(sm.output.model).parent, state_dir=sm.params.state_dir, log_path=sm.log[0], threads=sm.threads,
          masks=sm.params.masks, gpus=sm.resources.gpu, mem_mb=sm.resources.mem_mb, runtime=sm.resources.runtime)
