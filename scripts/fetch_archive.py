"""Snakemake step: download a source's tar, resumable and md5-verified, into results/downloads/."""

from inpaintbench.data.download import fetch
from inpaintbench.logs import exit_on_error, get_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
logger = get_logger("fetch_archive", sm.log[0])
with exit_on_error(logger):
    if not sm.params.md5:
        logger.warning(f"{sm.output[0]}: no md5 in the config, the download is not checked (size only, if known)")
    fetch(sm.params.url, sm.output[0], sm.params.md5, size=sm.params.size_bytes, report=logger.info)
