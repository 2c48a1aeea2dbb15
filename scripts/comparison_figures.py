"""Snakemake step: the comparison grid of every method and PSNR against hole size."""

from inpaintbench import figures
from inpaintbench.logs import get_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
logger = get_logger("figures.comparison", sm.log[0])
methods, dpi = list(sm.params.methods), sm.params.figures["dpi"]
ids = figures.comparison_grid(methods, sm.input.metrics, sm.input.images, sm.input.test, sm.params.image_size,
                              sm.output.grid, sm.params.figures["comparison_images"], dpi)
figures.psnr_vs_hole_size(methods, sm.input.metrics, sm.output.psnr, dpi, sm.params.hole_size_bins)
logger.info("comparison grid of %s; PSNR against hole size of %d methods", ", ".join(ids), len(methods))
