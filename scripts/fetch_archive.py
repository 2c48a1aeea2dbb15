"""Snakemake step: download val_256.tar, resumable and md5-verified, into results/downloads/."""

from inpaintbench.data.download import DownloadError, fetch
from inpaintbench.logs import get_logger

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = get_logger("fetch_archive", sm.log[0])
try:
    fetch(sm.params.url, sm.output[0], sm.params.md5, size=sm.params.size_bytes, log=log.info)
except DownloadError as error:
    log.error(error)
    raise
