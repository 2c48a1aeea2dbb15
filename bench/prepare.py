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

    python bench/prepare.py [--images 2000] [--repeats 3]
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
from inpaintbench.data import demo, images, prepare  # noqa: E402
from inpaintbench.workflow import copy_workflow  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"
RESULT = ROOT / "bench" / "results" / "prepare.json"
PLACES_VAL = 36_500
SIZE = 128
DATA = {"source": "places365", "seed": 0, "split": {"train": 0.8, "val": 0.1, "test": 0.1},
        "limit": None}


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
    return {"wall": wall, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timings each")
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
    provenance.write_json(RESULT, result)
    print(f"wrote {RESULT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
