"""Snakemake step: the comparison grid of every method and PSNR against hole size, for one mask protocol."""

from inpaintbench import figures
from inpaintbench.data.masks import MaskSource
from inpaintbench.logs import get_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
logger = get_logger("figures.comparison", sm.log[0])
methods, dpi, masks = list(sm.params.methods), sm.params.figures["dpi"], MaskSource(**sm.params.masks)
ids = figures.comparison_grid(methods, sm.input.metrics, sm.input.images, sm.input.test, sm.params.image_size,
                              sm.output.grid, sm.params.figures["comparison_images"], dpi, masks)
figures.psnr_vs_hole_size(methods, sm.input.metrics, sm.output.psnr, dpi, masks.protocol)
logger.info("%s: comparison grid of %s; PSNR against hole size of %d methods", masks.protocol, ", ".join(ids),
            len(methods))
