"""Snakemake step: decode and resize one shard of the manifest into TFRecords."""

from pathlib import Path

from inpaintbench.runtime import start_tensorflow

start_tensorflow()  # before anything loads it: its start-up lines stay out of the job's output
from inpaintbench.data import prepare  # noqa: E402
from inpaintbench.logs import exit_on_error, get_logger  # noqa: E402
from inpaintbench.provenance import write_json  # noqa: E402

sm = snakemake  # noqa: F821 (injected by Snakemake)
logger = get_logger("shard", sm.log[0])
with exit_on_error(logger):
    stats = prepare.write_shard(
        prepare.read_manifest(sm.input.manifest), int(sm.wildcards.shard), sm.params.shards,
        sm.params.image_size, sm.params.archives, Path(sm.output.records[0]).parent,
        encoding=sm.params.encoding, report=logger.info,
    )
    write_json(sm.output.stats, stats)
