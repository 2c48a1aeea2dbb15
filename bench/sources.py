"""Benchmark: listing a tar of Places365-Standard's size, and its 1.8-million-row manifest.

In the same run:
  listing:   sources.list_tar over a synthetic tar laid out like train_256_places365standard.tar
             (`data_256/<letter>/<category>/<n>.jpg`, members of 13 KB, about train_256's mean),
             against the reference of iterating the same tar with tarfile's defaults (a buffered file,
             every TarInfo kept): members per second, bytes read (from /proc/self/io) and peak memory;
  manifest:  a manifest of 1,839,960 rows (train_256 + val_256) built from listing rows, written as CSV
             and read back with prepare.read_manifest (pandas' C parser): seconds and file size.
Times are CPU seconds of this process (the per-core speed, robust to other work on a shared machine).
Writes bench/results/sources.json.

    python bench/sources.py [--members 50000]
"""

from __future__ import annotations

import argparse
import io
import resource
import tarfile
import time
from pathlib import Path

import pandas as pd

from inpaintbench import provenance
from inpaintbench.data import prepare, sources

WORK = Path(__file__).parent / "work"
RESULT = Path(__file__).parent / "results" / "sources.json"
MEMBER_BYTES = 13_000
PLACES_ROWS = 1_803_460 + 36_500


def rchar() -> int:
    return int(next(line for line in open("/proc/self/io") if line.startswith("rchar")).split()[1])


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train_like(path: Path, members: int) -> None:
    """Members with headers and sizes like train_256's; the bytes are zeros (listing never decodes them)."""
    if path.exists() and path.stat().st_size > members * MEMBER_BYTES:
        return
    payload = bytes(MEMBER_BYTES)
    with tarfile.open(path, "w") as tar:
        for n in range(members):
            member = tarfile.TarInfo(f"data_256/{'abcdefgh'[n % 8]}/category_{n % 365}/{n:08d}.jpg")
            member.size = len(payload)
            tar.addfile(member, io.BytesIO(payload))


def timed(function):
    """The value, the CPU seconds of this process (robust to other work on a shared machine), bytes read."""
    start_read, start = rchar(), time.process_time()
    value = function()
    return value, time.process_time() - start, rchar() - start_read


def reference_listing(path: Path) -> int:
    with tarfile.open(path, "r:") as tar:
        return sum(1 for member in tar if member.isfile())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=50_000)
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    archive = WORK / "train_like.tar"
    train_like(archive, args.members)
    size = archive.stat().st_size
    listing, seconds, read = timed(lambda: sources.list_tar(archive))
    memory = peak_mb()
    count, ref_seconds, ref_read = timed(lambda: reference_listing(archive))
    assert len(listing.rows) == count == args.members
    result = {"listing": {
        "members": args.members, "tar_bytes": size,
        "members_per_cpu_s": round(args.members / seconds), "bytes_read": read,
        "reference_members_per_cpu_s": round(args.members / ref_seconds), "reference_bytes_read": ref_read,
        "speed_ratio_to_reference": round(ref_seconds / seconds, 2),
        "peak_rss_mb_after_listing": round(memory), "peak_rss_mb_after_reference": round(peak_mb()),
        "projected_seconds_train_256": round(1_803_460 / (args.members / seconds)),
    }}
    print(f"listing: {result['listing']['members_per_cpu_s']:,} members/CPU-s "
          f"({result['listing']['speed_ratio_to_reference']}x tarfile's defaults), read {read:,} of {size:,} bytes "
          f"(reference {ref_read:,})")

    rows = listing.rows * (PLACES_ROWS // len(listing.rows) + 1)
    rows = [{**row, "id": f"{row['id']}_{i}", "split": "train"} for i, row in enumerate(rows[:PLACES_ROWS])]
    path = WORK / "manifest.csv"
    start = time.process_time()
    frame = prepare.manifest_frame(sources.Listing(rows))
    built = time.process_time() - start
    _, write_seconds, _ = timed(lambda: frame.to_csv(path, index=False))
    back, read_seconds, _ = timed(lambda: prepare.read_manifest(path))
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    result["manifest"] = {"rows": PLACES_ROWS, "format": "csv (pandas C engine)", "bytes": path.stat().st_size,
                          "frame_build_cpu_s": round(built, 2), "write_cpu_s": round(write_seconds, 2),
                          "read_cpu_s": round(read_seconds, 2), "peak_rss_mb": round(peak_mb())}
    print(f"manifest of {PLACES_ROWS:,} rows: built {built:.1f} s, written {write_seconds:.1f} s, "
          f"read {read_seconds:.1f} s (CPU), {path.stat().st_size / 1e6:.0f} MB")
    provenance.write_json(RESULT, {**result, "provenance": provenance.record({})})


if __name__ == "__main__":
    main()
