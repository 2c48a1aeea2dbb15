"""The data stage's steps: manifest with splits, shard writing, and the stage summary."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import tarfile
import tempfile
import urllib.parse
from collections import Counter
from pathlib import Path, PurePosixPath

import pandas as pd

from .. import provenance
from . import download, images, sources
from .layout import SPLITS, VAL_LIST, shard_name

MANIFEST_COLUMNS = ["id", "source", "category", "split", "offset", "nbytes", "crop"]


def _rank(image_id: str, seed: int) -> bytes:
    """A hash of (seed, id): stable per image, whatever else is listed."""
    return hashlib.sha256(f"{seed}:{image_id}".encode()).digest()


def split_of(image_id: str, seed: int, fractions: dict) -> str:
    """train / val / test from a hash of (seed, id): stable per image, whatever else is listed."""
    u = int.from_bytes(_rank(image_id, seed)[:8], "little") / 2**64
    if u < fractions["test"]:
        return "test"
    if u < fractions["test"] + fractions["val"]:
        return "val"
    return "train"


def read_categories(filelist_tar: str | Path, lists=(VAL_LIST,)) -> dict[str, str]:
    """{image path as the lists give it, without the leading `/`: scene category} from Places365's
    filelist archive (`Places365_val_00000001.jpg`, `a/airfield/00000001.jpg`): sources.member_key."""
    wanted = {}
    names_file = "categories_places365.txt"
    with tarfile.open(filelist_tar) as tar:
        for member in tar:
            base = PurePosixPath(member.name).name
            if member.isfile() and base in (names_file, *lists):
                wanted[base] = tar.extractfile(member).read().decode()
    missing = {names_file, *lists} - wanted.keys()
    if missing:
        raise ValueError(f"{filelist_tar}: has no {', '.join(sorted(missing))}")
    try:
        names = {}
        for line in wanted[names_file].splitlines():
            if line.strip():
                path, index = line.rsplit(maxsplit=1)
                parts = path.strip("/").split("/", 1)  # "/a/airfield" -> "airfield"
                names[int(index)] = parts[-1]
        return {fname.lstrip("/"): names.get(int(index), "") for listed in lists for fname, index in
                (line.split() for line in wanted[listed].splitlines() if line.strip())}
    except ValueError as error:
        raise ValueError(f"{filelist_tar}: malformed category list: {error}") from error


def write_categories(path: str | Path, url: str | None, md5: str | None,
                     logger: logging.Logger, lists=(VAL_LIST,)) -> dict[str, str]:
    """categories.csv (file, category) from the filelist archive at `url`, or an empty table.

    Categories only label results, so a filelist that cannot be had (offline, 404, bad md5)
    must not stop the benchmark: the run goes on with empty categories and a warning.
    """
    table = {}
    if not url:
        logger.warning("data.categories_url is not set: scene categories will be empty")
    else:
        name = PurePosixPath(urllib.parse.urlsplit(url).path).name or "filelist.tar"
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=Path(path).parent, prefix=".filelist.") as tmp:
            try:
                filelist = download.fetch(url, Path(tmp) / name, md5, retries=2, report=logger.info)
                table = read_categories(filelist, lists)
            except (download.DownloadError, tarfile.TarError, ValueError, OSError) as error:
                logger.warning(f"scene categories unavailable, categories will be empty: {error}")
    frame = pd.DataFrame(sorted(table.items()), columns=["file", "category"])
    with provenance.atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    logger.info(f"{len(frame)} images with a scene category, "
             f"{frame['category'].nunique()} categories -> {path}")
    return table


def list_source(source_cfg: dict, archive: str | None = None, categories: dict[str, str] | None = None,
                archive_md5: str | None = None, demo: dict | None = None) -> sources.Listing:
    """The images of one source (data, data.train or data.test), the first `limit` of them.

    `archive_md5`, if given, is checked first: a user's archive that is not the expected one
    stops the data stage before anything is written.
    """
    source = source_cfg["source"]
    if source == "places365":
        if archive_md5:
            download.check_md5(archive, archive_md5)
        listing = sources.list_tar(archive, categories)
    elif source == "folder":
        listing = sources.list_folder(source_cfg["folder"])
    else:
        listing = sources.list_demo(demo["scales"], demo["positions"])
    if source_cfg.get("limit"):
        listing.rows = listing.rows[: source_cfg["limit"]]
    if not listing.rows:
        raise ValueError(f"data source {source!r}: found no images")
    return listing


def build_manifest(data_cfg: dict, archive: str | None = None,
                   categories: dict[str, str] | None = None,
                   archive_md5: str | None = None, needs_train: bool = True) -> sources.Listing:
    """The paper's protocol: list the one source's images and give each its split by data.split.

    `needs_train`: some model trains, so the train split must not be empty (the test split never may).
    """
    listing = list_source(data_cfg, archive, categories, archive_md5, data_cfg.get("demo"))
    for row in listing.rows:
        row["split"] = split_of(row["id"], data_cfg["seed"], data_cfg["split"])
    check_split_sizes(Counter(row["split"] for row in listing.rows), data_cfg["split"], needs_train)
    return listing


def build_train_test_manifest(data_cfg: dict, archives: dict, categories: dict[str, str] | None = None,
                              archive_md5s: dict | None = None) -> sources.Listing:
    """data.train's images split into train and val (data.val_images of them, the ones of lowest
    hash of (seed, id): a fixed subset whatever the order of the archive), then data.test's, all test."""
    archive_md5s = archive_md5s or {}
    train, test = (list_source(data_cfg[part], archives.get(part), categories, archive_md5s.get(part))
                   for part in ("train", "test"))
    val = set(sorted((row["id"] for row in train.rows), key=lambda image_id: _rank(image_id, data_cfg["seed"]))
              [: data_cfg["val_images"]])
    if len(val) >= len(train.rows):
        raise ValueError(f"data.val_images {data_cfg['val_images']} leaves no training image of the "
                         f"{len(train.rows)} in data.train: lower it or add images")
    for row in train.rows:
        row["split"] = "val" if row["id"] in val else "train"
    train_ids = {row["id"] for row in train.rows}
    for row in test.rows:
        if row["id"] in train_ids:
            raise ValueError(f"image id {row['id']!r} is in both data.train and data.test: a test image "
                             "must not be trained on")
        row["split"] = "test"
    return sources.Listing(train.rows + test.rows, train.skipped + test.skipped)


def check_split_sizes(counts: Counter, fractions: dict, needs_train: bool) -> None:
    """A ValueError naming data.split and the counts if it leaves a split the run needs empty: found
    by the manifest job, before any shard is written or any model trains."""
    needed = ("train", "test") if needs_train else ("test",)
    empty = [split for split in needed if not counts[split]]
    if empty:
        sizes = ", ".join(f"{split} {counts[split]}" for split in SPLITS)
        raise ValueError(f"data.split {fractions} leaves the {' and '.join(empty)} split empty (of "
                         f"{sum(counts.values())} images: {sizes}): add images or change data.split")


def manifest_frame(listing: sources.Listing) -> pd.DataFrame:
    return pd.DataFrame(listing.rows)[MANIFEST_COLUMNS]


def read_manifest(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"id": str, "category": str, "crop": str},
                       keep_default_na=False)


def write_shard(manifest: pd.DataFrame, shard: int, shards: int, image_size: int,
                archive: str | dict | None, out_dir: str | Path, *, encoding: str = "png", report=print) -> dict:
    """Decode and resize every `shards`-th image into one TFRecord file per split, each image
    stored as `encoding` (tfrecords.ENCODINGS; masks are drawn when the shards are read, so no
    mask setting rebuilds them). `archive`: the tar the rows' offsets point into, or {split: tar}
    when the splits come from different sources (data.train, data.test).

    Undecodable images are skipped and reported with the reason; the rest go on. The shard
    files appear only once complete: a failed job leaves no partial file behind.
    """
    from . import tfrecords  # TensorFlow only here, so listing and categories start fast

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    finals = {split: out_dir / shard_name(split, shard, shards) for split in SPLITS}
    partials = {split: path.with_name(f".{path.name}.partial") for split, path in finals.items()}
    writers = {split: tfrecords.writer(path) for split, path in partials.items()}
    counts, skipped = Counter(), []
    try:
        archives = archive if isinstance(archive, dict) else dict.fromkeys(SPLITS, archive)
        with contextlib.ExitStack() as stack:
            readers = {split: stack.enter_context(sources.Reader(archives.get(split), image_size))
                       for split in SPLITS}
            for row in manifest.iloc[shard::shards].to_dict("records"):
                try:
                    image = readers[row["split"]].read(row)
                except images.BadImage as error:
                    skipped.append({"id": row["id"], "source": row["source"], "reason": str(error)})
                    report(f"skipped {row['source']}: {error}")
                    continue
                writers[row["split"]].write(tfrecords.serialize(image, row["id"], row["category"], encoding))
                counts[row["split"]] += 1
        for writer in writers.values():
            writer.close()
        for split in SPLITS:
            partials[split].replace(finals[split])
    finally:
        for split in SPLITS:
            writers[split].close()
            partials[split].unlink(missing_ok=True)
    stats = {"shard": shard, "shards": shards, "images": dict(counts), "skipped": skipped}
    report(f"shard {shard}/{shards}: wrote {dict(counts)}, skipped {len(skipped)}")
    return stats


def summarize(shard_stats: list[dict], listing_skipped: pd.DataFrame) -> dict:
    """Images per split and every image passed over, with its reason, across the stage."""
    per_split = Counter()
    skipped = [dict(row) for row in listing_skipped.to_dict("records")]
    for stats in shard_stats:
        per_split.update(stats["images"])
        skipped.extend(stats["skipped"])
    reasons = Counter(item["reason"].split(":")[0] for item in skipped)
    return {"images": {split: per_split.get(split, 0) for split in SPLITS},
            "total": sum(per_split.values()), "skipped": len(skipped),
            "skipped_by_reason": dict(reasons), "skipped_items": skipped}


def write_summary(path, summary: dict, config: dict) -> None:
    provenance.write_json(path, {**summary, "provenance": provenance.record(config)})


def load_json(path) -> dict:
    return json.loads(Path(path).read_text())
