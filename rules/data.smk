# The data stage: Places365-val (or a folder, or the demo; or training photos from one source and
# test photos from another: data.train, data.test) -> manifest -> sharded TFRecords.

import re

from inpaintbench.data.layout import TRAIN_LIST, VAL_LIST
from inpaintbench.data.source_state import archive_state, folder_state

DOWNLOADS = {download_name(s): s for s in SOURCE_PARTS.values() if s["source"] == "places365" and not s["archive"]}
PLACES = {part for part, s in SOURCE_PARTS.items() if s["source"] == "places365"}


wildcard_constraints:
    download="|".join(map(re.escape, DOWNLOADS)) or "NO_DOWNLOAD",


def category_lists():
    """The file lists of the filelist archive a run needs: val's, and train_standard's when data.train is Places365."""
    return [VAL_LIST] + ([TRAIN_LIST] if "train" in PLACES else [])


def data_keys():
    """The data.* keys the manifest depends on (data.train, data.test and data.val_images only when given)."""
    keys = ["source", "folder", "limit", "seed", "split", "demo"]
    return data_params(*keys, *(["train", "test", "val_images"] if "all" not in SOURCE_PARTS else []))


rule fetch_archive:
    """Download a source's tar (val_256.tar, train_256_places365standard.tar) with resume, retries and md5 verification."""
    output:
        "results/downloads/{download}",
    log:
        "results/logs/data/fetch_archive_{download}.log",
    benchmark:
        "results/benchmarks/data/fetch_archive_{download}.tsv"
    conda:
        ENV
    resources:
        runtime=240,
    params:
        url=lambda w: DOWNLOADS[w.download]["url"],
        md5=lambda w: DOWNLOADS[w.download]["md5"],
        size_bytes=lambda w: DOWNLOADS[w.download]["size_bytes"],
    script:
        "../scripts/fetch_archive.py"


rule fetch_categories:
    """Scene category of each Places365 image; an empty table (and a log line) if unavailable."""
    output:
        f"{DATA}/categories.csv",
    log:
        "results/logs/data/fetch_categories.log",
    benchmark:
        "results/benchmarks/data/fetch_categories.tsv"
    conda:
        ENV
    params:
        url=config["data"]["categories_url"],
        md5=config["data"]["categories_md5"],
        lists=category_lists(),
    script:
        "../scripts/fetch_categories.py"


rule manifest:
    """Every image of the source with its id, source path, category and split."""
    input:
        archives=list(archives().values()),
        categories=f"{DATA}/categories.csv" if PLACES else [],
    output:
        manifest=f"{DATA}/manifest.csv",
        skipped=f"{DATA}/skipped_listing.csv",
    log:
        "results/logs/data/manifest.log",
    benchmark:
        "results/benchmarks/data/manifest.tsv"
    conda:
        ENV
    params:
        data=data_keys(),
        folder_state=per_part(folder_state),  # rerun trigger only: the script does not read it
        archive_state=per_part(archive_state),  # rerun trigger only: the script does not read it
        archives=archives(),
        archive_md5=user_archive_md5(),
    script:
        "../scripts/make_manifest.py"


rule shard:
    """Decode and resize one shard of the images into a TFRecord file per split (no masks: they are drawn when read)."""
    input:
        manifest=f"{DATA}/manifest.csv",
        archives=list(archives().values()),
    output:
        records=shard_files("{shard}"),
        stats=f"{DATA}/tfrecords/shard-{{shard}}.json",
    log:
        "results/logs/data/shard_{shard}.log",
    benchmark:
        "results/benchmarks/data/shard_{shard}.tsv"
    conda:
        ENV
    threads: config["data"]["resources"]["threads"]
    resources:
        mem_mb=config["data"]["resources"]["mem_mb"],
        runtime=config["data"]["resources"]["runtime"],
    params:
        shards=SHARDS,
        image_size=config["data"]["image_size"],
        encoding=config["data"]["encoding"],
        archives=split_archives(),
    script:
        "../scripts/write_shard.py"


rule data_summary:
    """Images per split and every image skipped with its reason."""
    input:
        stats=expand(f"{DATA}/tfrecords/shard-{{shard}}.json", shard=range(SHARDS)),
        skipped=f"{DATA}/skipped_listing.csv",
    output:
        f"{DATA}/summary.json",
    log:
        "results/logs/data/summary.log",
    benchmark:
        "results/benchmarks/data/summary.tsv"
    conda:
        ENV
    params:
        data=data_params("source", "limit", "seed", "split", "image_size", "shards"),
    script:
        "../scripts/summarize_data.py"


rule data:
    """Target: the whole data stage alone."""
    input:
        f"{DATA}/summary.json",
        expand(f"{DATA}/tfrecords/shard-{{shard}}.json", shard=range(SHARDS)),
