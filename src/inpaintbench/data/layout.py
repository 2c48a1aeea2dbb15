"""File names of the data stage, kept free of TensorFlow so the Snakefile parses fast."""

from __future__ import annotations

import re
from pathlib import Path

SPLITS = ("train", "val", "test")
_SHARD = re.compile(r"^(?P<split>\w+)-(?P<shard>\d+)-of-(?P<shards>\d+)\.tfrecord$")


def shard_name(split: str, shard, shards: int) -> str:
    """`{split}-{shard}-of-{shards}.tfrecord`; `shard` may be a Snakemake wildcard."""
    return f"{split}-{shard}-of-{shards}.tfrecord"


def split_paths(directory: str | Path, split: str) -> list[str]:
    """The shards of one split in shard order."""
    found = []
    for path in Path(directory).glob(f"{split}-*-of-*.tfrecord"):
        match = _SHARD.match(path.name)
        if match and match["split"] == split:
            found.append((int(match["shard"]), str(path)))
    if not found:
        raise FileNotFoundError(f"{directory}: no TFRecord shards of split {split!r}")
    return [path for _, path in sorted(found)]
