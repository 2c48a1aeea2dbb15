# The data stage: Places365-val (or a folder, or the demo) -> manifest -> sharded TFRecords.

from inpaintbench.data.source_state import archive_state, folder_state


rule fetch_archive:
    """Download val_256.tar with resume, retries and md5 verification."""
    output:
        "results/downloads/val_256.tar",
    log:
        "results/logs/data/fetch_archive.log",
    benchmark:
        "results/benchmarks/data/fetch_archive.tsv"
    conda:
        ENV
    resources:
        runtime=240,
    params:
        url=config["data"]["url"],
        md5=config["data"]["md5"],
        size_bytes=config["data"]["size_bytes"],
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
    script:
        "../scripts/fetch_categories.py"


rule manifest:
    """Every image of the source with its id, source path, category and split."""
    input:
        archive=archive_path(),
        categories=f"{DATA}/categories.csv" if config["data"]["source"] == "places365" else [],
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
        data=data_params("source", "folder", "limit", "seed", "split", "demo"),
        folder_state=folder_state(config["data"]),  # rerun trigger only: the script does not read it
        archive_state=archive_state(config["data"]),  # rerun trigger only: the script does not read it
        archive_md5=user_archive_md5(),
    script:
        "../scripts/make_manifest.py"


rule shard:
    """Decode and resize one shard of the images into a TFRecord file per split (no masks: they are drawn when read)."""
    input:
        manifest=f"{DATA}/manifest.csv",
        archive=archive_path(),
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
