"""Snakemake step: the paper's Figures 3/4 (snapshots) and the training curves of one model."""

from inpaintbench import figures
from inpaintbench.logs import exit_on_error, get_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
logger = get_logger(f"figures.{sm.wildcards.model}", sm.log[0])
with exit_on_error(logger):
    epochs = figures.snapshot_figure(sm.wildcards.model, sm.input.snapshots, sm.output.snapshots, sm.params.dpi)
    losses = figures.training_curves(sm.wildcards.model, sm.input.history, sm.output.curves, sm.params.dpi,
                                     sm.params.losses)
    logger.info("%s: snapshots of epochs %s, curves of %s", sm.wildcards.model, epochs, ", ".join(losses))
