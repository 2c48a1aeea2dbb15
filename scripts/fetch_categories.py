"""Snakemake step: each Places365 image's scene category; an empty table if it cannot be had."""

from inpaintbench.data.prepare import write_categories
from inpaintbench.logs import exit_on_error, get_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
logger = get_logger("fetch_categories", sm.log[0])
with exit_on_error(logger):
    write_categories(sm.output[0], sm.params.url, sm.params.md5, logger=logger, lists=sm.params.lists)
