"""Snakemake step: each Places365 image's scene category; an empty table if it cannot be had."""

from inpaintbench.data.prepare import write_categories
from inpaintbench.logs import get_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = get_logger("fetch_categories", sm.log[0])
write_categories(sm.output[0], sm.params.url, sm.params.md5, log=log)
