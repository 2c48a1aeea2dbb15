"""Snakemake step: the comparison grid of every method and PSNR against hole size, for one mask protocol."""

from inpaintbench.runtime import start_tensorflow

start_tensorflow()  # before anything loads it: its start-up lines stay out of the job's output
from inpaintbench import figures  # noqa: E402
from inpaintbench.data.masks import MaskSource  # noqa: E402
from inpaintbench.logs import exit_on_error, get_logger  # noqa: E402

sm = snakemake  # noqa: F821 (injected by Snakemake)
logger = get_logger("figures.comparison", sm.log[0])
with exit_on_error(logger):
    methods, dpi, masks = list(sm.params.methods), sm.params.figures["dpi"], MaskSource(**sm.params.masks)
    ids = figures.comparison_grid(methods, sm.input.metrics, sm.input.images, sm.input.test, sm.params.image_size,
                                  sm.output.grid, images=sm.params.figures["comparison_images"], dpi=dpi,
                                  masks=masks, reads_answer=sm.params.paper_exact)
    figures.psnr_vs_hole_size(methods, sm.input.metrics, sm.output.psnr, dpi, masks.protocol)
    logger.info("%s: comparison grid of %s; PSNR against hole size of %d methods", masks.protocol, ", ".join(ids),
                len(methods))
