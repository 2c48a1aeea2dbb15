"""Snakemake step: decode and resize one shard of the manifest into TFRecords."""

from pathlib import Path

from inpaintbench.data import prepare
from inpaintbench.logs import get_logger
from inpaintbench.provenance import write_json

sm = snakemake  # noqa: F821 (injected by Snakemake)
log = get_logger("shard", sm.log[0])
stats = prepare.write_shard(
    prepare.read_manifest(sm.input.manifest), int(sm.wildcards.shard), sm.params.shards,
    sm.params.image_size, sm.input.archive or None, Path(sm.output.records[0]).parent, log=log.info,
)
write_json(sm.output.stats, stats)
