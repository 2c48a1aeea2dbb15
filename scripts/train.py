"""Snakemake step: train one model (resumes from its state folder) and write its model folder."""

from pathlib import Path

from inpaintbench.training import train

sm = snakemake  # noqa: F821 (injected by Snakemake)
train(sm.wildcards.model, sm.params.model, sm.params.image_size, sm.input.train, sm.input.val,
      Path(sm.output.model).parent, sm.params.state_dir, log=sm.log[0], threads=sm.threads,
      gpus=sm.resources.gpu)
