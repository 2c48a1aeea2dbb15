"""Benchmark: the data stage's speed against the bare floor of JPEG decode + resize.

Builds a tar laid out like Places365's val_256.tar (>= 2,000 256x256 JPEG crops of the demo
photos) in bench/work/, then times in the same run:
  floor:     PIL JPEG decode + antialiased resize of the same images held in memory, nothing else;
  stage:     the data stage's per-image path in one process (listing the tar, reading each member,
             decode, RGB, centre crop, resize, serialize, TFRecord write) = prepare.write_shard
             over the whole manifest;
  workflow:  the whole `snakemake data` (all jobs, process start-up included) with 1 and 2 cores.
Prints images/s, the stage/floor ratio (target >= 0.6 per core) and projected times for the
36,500 images of Places365-val; writes bench/results/prepare.json. Floor and stage rates are per
CPU second of this process (the per-core speed, robust to other work on a shared machine);
wall-clock rates are recorded beside them.

At 256 px, for config/places-standard.yaml (issue 24), it also times on the first --scale-images
images: one shard job's write (prepare.write_shard, manifest already built) in each shard format
(PNG, JPEG) against the 256 px floor, and the bytes each image takes; hashlib's md5 of the tar
against a plain read of it (the page cache holds it: the CPU's speed, not the disk's). From these,
bench/results/sources.json's listing and manifest figures (not re-measured) and the job start-up
measured in the workflow runs, it projects the whole data stage's wall time for that config on 1, 8
and 64 cores (target: under 1 hour on 64), the download itself left out.

    python bench/prepare.py [--images 2000] [--repeats 3] [--scale-images 600]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from PIL import Image  # noqa: E402

import inpaintbench.data.tfrecords  # noqa: E402,F401 (TensorFlow imported before timing)
from inpaintbench import provenance  # noqa: E402
from inpaintbench.config import load_config  # noqa: E402
from inpaintbench.data import demo, download, images, prepare  # noqa: E402
from inpaintbench.workflow import copy_workflow  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"
RESULT = ROOT / "bench" / "results" / "prepare.json"
PLACES_VAL = 36_500
SIZE = 128
DATA = {"source": "places365", "seed": 0, "split": {"train": 0.8, "val": 0.1, "test": 0.1},
        "limit": None}
SOURCES = ROOT / "bench" / "results" / "sources.json"
PLACES_STANDARD = ROOT / "config" / "places-standard.yaml"
TRAIN_PHOTOS = 1_803_460
TRAIN_TAR_BYTES = 24e9  # "about 24 GB": the config does not know its exact size
CORES = (1, 8, 64)


def archive(count: int) -> Path:
    """The val_256-like tar, rebuilt only if it does not hold `count` images."""
    path = WORK / f"val_256_like_{count}.tar"
    if not path.exists():
        partial = path.with_suffix(".partial")
        demo.val_like_tar(partial, count)
        partial.replace(path)
    return path


def timed(function, *args) -> dict:
    """CPU seconds of this process and wall seconds of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    function(*args)
    return {"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}


def floor(payloads: list[bytes], size: int = SIZE) -> None:
    for payload in payloads:
        Image.open(io.BytesIO(payload)).resize((size, size), images.RESAMPLE)


def stage(tar: Path, out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    listing = prepare.build_manifest(DATA, archive=str(tar))
    prepare.write_shard(prepare.manifest_frame(listing), 0, 1, SIZE, str(tar), out,
                        report=lambda message: None)


def shard_write(manifest, tar: Path, out: Path, size: int, encoding: str) -> None:
    shutil.rmtree(out, ignore_errors=True)
    prepare.write_shard(manifest, 0, 1, size, str(tar), out, encoding=encoding, report=lambda message: None)


def read_file(path: Path) -> None:
    with open(path, "rb") as handle:
        while handle.read(download.CHUNK):
            pass


def scale_formats(tar: Path, count: int, repeats: int) -> dict:
    """Per shard format at 256 px: images per CPU second of one shard job's write, its ratio to the
    256 px floor timed interleaved with it, and bytes per stored image."""
    listing = prepare.build_manifest({**DATA, "limit": count}, archive=str(tar))
    manifest = prepare.manifest_frame(listing)
    with tarfile.open(tar) as handle:
        payloads = [handle.extractfile(handle.getmember(name)).read() for name in manifest["source"]]
    size = load_config(PLACES_STANDARD)["data"]["image_size"]
    out = {encoding: WORK / f"scale_{encoding}" for encoding in ("png", "jpeg")}
    floor_t, write_t = [], {encoding: [] for encoding in out}
    for _ in range(repeats):
        floor_t.append(timed(floor, payloads, size))
        for encoding, folder in out.items():
            write_t[encoding].append(timed(shard_write, manifest, tar, folder, size, encoding))
    floor_rate = len(manifest) / min(t["cpu"] for t in floor_t)
    result = {"images": len(manifest), "image_size": size, "floor_images_per_cpu_s": round(floor_rate, 1),
              "raw_bytes_per_image": size * size * 3}
    for encoding, folder in out.items():
        rate = len(manifest) / min(t["cpu"] for t in write_t[encoding])
        stored = sum(path.stat().st_size for path in folder.glob("*.tfrecord"))
        result[encoding] = {"images_per_cpu_s": round(rate, 1), "over_floor": round(rate / floor_rate, 3),
                            "bytes_per_image": round(stored / len(manifest)),
                            "over_raw": round(stored / len(manifest) / (size * size * 3), 3)}
    result["timings_seconds"] = {"floor": floor_t, **write_t}
    return result


def md5_speed(tar: Path, repeats: int) -> dict:
    """MB per CPU second of download.md5sum and of reading the same bytes (the reference), same run."""
    read_t, md5_t = [], []
    for _ in range(repeats):
        read_t.append(timed(read_file, tar))
        md5_t.append(timed(download.md5sum, tar))
    megabytes = tar.stat().st_size / 1e6
    md5_rate = megabytes / min(t["cpu"] for t in md5_t)
    read_rate = megabytes / min(t["cpu"] for t in read_t)
    return {"megabytes": round(megabytes, 1), "md5_mb_per_cpu_s": round(md5_rate, 1),
            "md5_mb_per_wall_s": round(megabytes / min(t["wall"] for t in md5_t), 1),
            "read_mb_per_cpu_s": round(read_rate, 1), "md5_over_read": round(md5_rate / read_rate, 3),
            "projected_seconds_24gb": round(TRAIN_TAR_BYTES / 1e6 / md5_rate)}


def projection(formats: dict, md5: dict, job_start_s: float) -> dict:
    """Wall seconds of places-standard.yaml's data stage, download excluded, on `CORES` cores: the
    fetch job's md5, then the manifest job (listing both tars, writing the manifest), then the shard
    jobs in waves of `cores` (each reads the manifest and writes its share), then the summary."""
    data = load_config(PLACES_STANDARD)["data"]
    scale = json.loads(SOURCES.read_text())
    listing, manifest = scale["listing"], scale["manifest"]
    test_photos = 36_500
    per_job = ((TRAIN_PHOTOS + test_photos) / data["shards"] / formats[data["encoding"]]["images_per_cpu_s"]
               + manifest["read_cpu_s"] + job_start_s)
    before = (md5["projected_seconds_24gb"] + job_start_s + listing["projected_seconds_train_256"]
              + test_photos / listing["members_per_cpu_s"] + manifest["frame_build_cpu_s"]
              + manifest["write_cpu_s"] + job_start_s)
    walls = {cores: before + -(-data["shards"] // cores) * per_job + job_start_s for cores in CORES}
    return {"label": "projection, not a measurement", "shards": data["shards"], "encoding": data["encoding"],
            "photos": TRAIN_PHOTOS + test_photos, "job_start_s": round(job_start_s, 1),
            "md5_and_manifest_s": round(before), "shard_job_s": round(per_job),
            **{f"wall_s_{cores}_cores": round(wall) for cores, wall in walls.items()},
            "target_wall_s_64_cores": 3600}


def workflow(tar: Path, cores: int, shards: int) -> dict:
    """Wall seconds and CPU seconds (all jobs) of `snakemake data` from scratch in a workflow copy."""
    workdir = WORK / "workflow"
    shutil.rmtree(workdir, ignore_errors=True)
    copy_workflow(ROOT, workdir)
    config = {"data": {**DATA, "archive": str(tar), "md5": None, "categories_url": None, "image_size": SIZE,
                       "shards": shards}, "masks": {}, "models": {}}
    (workdir / "bench.yaml").write_text(json.dumps(config))
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "data", "--cores", str(cores),
                    "--configfile", "bench.yaml", "--quiet"], cwd=workdir, check=True,
                   capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = json.loads((workdir / "results/data/summary.json").read_text())
    assert summary["skipped"] == 0, summary["skipped_items"][:3]
    cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    jobs = len(list((workdir / "results/benchmarks/data").glob("*.tsv")))
    return {"wall": wall, "cpu": cpu, "jobs": jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timings each")
    parser.add_argument("--scale-images", type=int, default=600,
                        help="images of the 256 px shard format timings (fewer than --images: the bench stays short)")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    tar = archive(args.images)
    with tarfile.open(tar) as handle:
        payloads = [handle.extractfile(m).read() for m in handle if m.isfile()]
    count = len(payloads)
    load = os.getloadavg()

    floor_t, stage_t = [], []
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        floor_t.append(timed(floor, payloads))
        stage_t.append(timed(stage, tar, WORK / "stage"))
    floor_rate = count / min(t["cpu"] for t in floor_t)
    stage_rate = count / min(t["cpu"] for t in stage_t)
    runs = {cores: workflow(tar, cores, shards=2) for cores in (1, 2)}
    # a job's start-up: the one-core workflow's CPU beyond the in-process stage, shared by its jobs
    job_start = (runs[1]["cpu"] - min(t["cpu"] for t in stage_t)) / runs[1]["jobs"]
    formats = scale_formats(tar, args.scale_images, args.repeats)
    md5 = md5_speed(tar, args.repeats)
    projected = projection(formats, md5, job_start)

    result = {
        "images": count,
        "image_size": SIZE,
        "floor_images_per_cpu_s": round(floor_rate, 1),
        "stage_images_per_cpu_s": round(stage_rate, 1),
        "stage_over_floor": round(stage_rate / floor_rate, 3),
        "target_stage_over_floor": 0.6,
        "floor_images_per_wall_s": round(count / min(t["wall"] for t in floor_t), 1),
        "stage_images_per_wall_s": round(count / min(t["wall"] for t in stage_t), 1),
        "workflow": {f"{cores}_cores": {"wall_s": round(run["wall"], 2), "cpu_s": round(run["cpu"], 2),
                                        "images_per_wall_s": round(count / run["wall"], 1)}
                     for cores, run in runs.items()},
        "workflow_speedup_2_over_1_cores": round(runs[1]["wall"] / runs[2]["wall"], 3),
        "projected_seconds_places365_val": {
            "floor_1_core": round(PLACES_VAL / floor_rate, 1),
            "stage_1_core": round(PLACES_VAL / stage_rate, 1),
            "stage_2_cores_ideal": round(PLACES_VAL / stage_rate / 2, 1),
        },
        "timings_seconds": {"floor": floor_t, "stage": stage_t},
        "places_standard": {"shard_formats_256": formats, "md5": md5, "projected_data_stage": projected},
        "load_average_at_start": [round(v, 2) for v in load],
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "provenance": provenance.record({"data": DATA}),
    }
    print(f"{count} images of 256x256 JPEG -> {SIZE} px (best of {args.repeats}; "
          f"load average {load[0]:.1f} on {os.cpu_count()} cores)")
    print(f"  floor (decode + resize):  {floor_rate:8.1f} images per CPU second")
    print(f"  data stage, one process:  {stage_rate:8.1f} images per CPU second "
          f"= {stage_rate / floor_rate:.0%} of the floor (target >= 60%)")
    for cores, run in runs.items():
        print(f"  snakemake data, {cores} core(s): {run['wall']:6.1f} s wall, {run['cpu']:6.1f} s CPU "
              f"= {count / run['wall']:6.1f} images/s (job start-up included)")
    print(f"  projected for {PLACES_VAL} images: stage {PLACES_VAL / stage_rate / 60:.1f} min on one "
          f"core ({PLACES_VAL / stage_rate / 120:.1f} min on two), floor "
          f"{PLACES_VAL / floor_rate / 60:.1f} min")
    print(f"{formats['images']} images -> {formats['image_size']} px, one shard job's write (floor "
          f"{formats['floor_images_per_cpu_s']:.0f} images per CPU second):")
    for encoding in ("png", "jpeg"):
        row = formats[encoding]
        print(f"  {encoding:4s}: {row['images_per_cpu_s']:7.1f} images per CPU second = {row['over_floor']:.0%} of "
              f"the floor; {row['bytes_per_image'] / 1e3:.1f} KB per image = {row['over_raw']:.2f} of raw")
    print(f"md5: {md5['md5_mb_per_cpu_s']:.0f} MB per CPU second = {md5['md5_over_read']:.2f} of a plain read's "
          f"speed ({md5['read_mb_per_cpu_s']:.0f} MB/s); projection: 24 GB checked in "
          f"{md5['projected_seconds_24gb'] / 60:.1f} min")
    print(f"PROJECTION, places-standard.yaml's data stage without the download ({projected['shards']} "
          f"{projected['encoding']} shard jobs of {projected['shard_job_s']} s, job start-up "
          f"{projected['job_start_s']} s): " + ", ".join(
              f"{projected[f'wall_s_{cores}_cores'] / 60:.0f} min on {cores} cores" for cores in CORES)
          + " (target < 60 min on 64)")
    provenance.write_json(RESULT, result)
    print(f"wrote {RESULT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
