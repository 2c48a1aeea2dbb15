"""File names of the data stage, kept free of TensorFlow so the Snakefile parses fast."""

from __future__ import annotations

import re
from pathlib import Path

SPLITS = ("train", "val", "test")
# The file lists of Places365's filelist archive that give the scene categories of val and train_256.
VAL_LIST = "places365_val.txt"
TRAIN_LIST = "places365_train_standard.txt"
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


def source_parts(data: dict) -> dict[str, dict]:
    """The sources a config reads, by the splits they fill: `all` (the paper's protocol: one source
    split by data.split), or `train` (train and val) and `test` when data.train and data.test are given."""
    if data.get("train"):
        return {"train": data["train"], "test": data["test"]}
    return {"all": data}


def part_of(split: str, parts) -> str:
    """The part whose source holds the images of `split`."""
    return "all" if "all" in parts else ("test" if split == "test" else "train")


def download_name(source: dict) -> str:
    """The file name a downloaded archive is kept under: the URL's last path component."""
    return source["url"].rstrip("/").rsplit("/", 1)[-1]
