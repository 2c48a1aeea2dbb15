"""Does the TFRecord input pipeline keep training fed? Images/s of each model's training steps
fed by the pipeline, against the same steps on one in-memory batch (the compute floor), and of the
pipeline alone; demo sizes (config/demo.yaml), measured in the same run.

Target: the pipeline costs <= 5% of training throughput, and alone delivers >= 10x what the
fastest model consumes. Fed and in-memory steps alternate one by one and the median step time
counts, so that load from other processes on a shared machine hits both alike.

    python bench/train_throughput.py [--steps 30] [--kinds gan_paper diffusion_paper]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from inpaintbench import models, provenance  # noqa: E402
from inpaintbench.config import load_config  # noqa: E402
from inpaintbench.data import demo, images, tfrecords  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "train_throughput.json"


def write_records(folder: Path, config: dict, count: int, shards: int = 2) -> list[str]:
    """`count` demo crops at the demo's image size, in `shards` files (the loader adds the square holes)."""
    size, data = config["data"]["image_size"], config["data"]["demo"]
    boxes = [(name, box) for name in sorted(demo.PHOTOS)
             for box in demo.crops(name, data["scales"], data["positions"])]
    paths = [str(folder / f"train-{i}-of-{shards}.tfrecord") for i in range(shards)]
    writers = [tfrecords.writer(path) for path in paths]
    for i in range(count):
        name, box = boxes[i % len(boxes)]
        writers[i % shards].write(tfrecords.serialize(images.from_array(demo.crop(name, box), size),
                                                      f"{name}-{i}", name))
    for writer in writers:
        writer.close()
    return paths


def step_seconds(step, batches) -> float:
    """Seconds of one training step, fetching its batch included, synchronised like the training
    loop (losses read)."""
    start = time.perf_counter()
    {key: float(value) for key, value in step(next(batches)).items()}
    return time.perf_counter() - start


def pipeline_alone(paths, batch_size: int, size: int, batches: int) -> float:
    dataset = tfrecords.load_dataset(paths, batch_size, size, shuffle=True, repeat=True, drop_remainder=True)
    iterator = iter(dataset)
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        images_, masks_ = next(iterator)
        images_.numpy(), masks_.numpy()
    return batches * batch_size / (time.perf_counter() - start)


def measure(kind: str, entry: dict, size: int, paths, steps: int) -> dict:
    """Median step time of in-memory and pipeline-fed steps, taken alternately, so that load from
    other processes on a shared machine hits both alike."""
    training = entry["training"]
    batch_size = training["batch_size"]
    trainer = models.build_trainer(kind, size, entry["hparams"], entry["paper_exact"], training["seed"])
    step = tf.function(trainer.train_step)
    fed = iter(tfrecords.load_dataset(paths, batch_size, size, shuffle=True, repeat=True, drop_remainder=True))
    in_memory = itertools.repeat(next(fed))
    for _ in range(3):  # trace and warm up
        step_seconds(step, in_memory), step_seconds(step, fed)
    floor_s, fed_s = [], []
    for _ in range(steps):
        floor_s.append(step_seconds(step, in_memory))
        fed_s.append(step_seconds(step, fed))
    floor = batch_size / statistics.median(floor_s)
    with_pipeline = batch_size / statistics.median(fed_s)
    return {"kind": kind, "batch_size": batch_size, "parameters": int(trainer.export().count_params()),
            "steps": steps, "in_memory_images_per_s": round(floor, 2),
            "pipeline_fed_images_per_s": round(with_pipeline, 2),
            "pipeline_cost": round(1.0 - with_pipeline / floor, 4)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "config" / "demo.yaml"))
    parser.add_argument("--steps", type=int, default=30, help="steps of each kind per model")
    parser.add_argument("--records", type=int, default=256)
    parser.add_argument("--kinds", nargs="*", default=list(models.KINDS))
    parser.add_argument("--output", default=str(RESULT))
    args = parser.parse_args(argv)
    config = load_config(args.config)
    size = config["data"]["image_size"]
    entries = {}
    for entry in config["models"].values():
        kind = entry["kind"]
        if kind in args.kinds and kind not in entries and not entry["paper_exact"]:
            try:
                models.module(kind)
            except ImportError as error:  # a kind still being written
                print(f"{kind}: skipped, cannot import it: {error}")
                continue
            entries[kind] = entry

    batch_size = max(entry["training"]["batch_size"] for entry in entries.values())
    with tempfile.TemporaryDirectory() as folder:
        paths = write_records(Path(folder), config, args.records)
        results, alone_runs = [], [pipeline_alone(paths, batch_size, size, batches=100)]
        for kind, entry in entries.items():
            result = measure(kind, entry, size, paths, args.steps)
            results.append(result)
            alone_runs.append(pipeline_alone(paths, batch_size, size, batches=100))
            print(f"{kind:16s} {result['parameters']:>11,d} params  in memory {result['in_memory_images_per_s']:8.1f}"
                  f" images/s  TFRecord-fed {result['pipeline_fed_images_per_s']:8.1f} images/s"
                  f"  pipeline cost {100 * result['pipeline_cost']:5.1f}%")
    alone = statistics.median(alone_runs)  # measured between the models, under the same load
    fastest = max(r["in_memory_images_per_s"] for r in results)
    worst_cost = max(r["pipeline_cost"] for r in results)
    summary = {
        "image_size": size, "config_file": args.config, "records": args.records,
        "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
        "gpu": bool(tf.config.list_physical_devices("GPU")),
        "models": results,
        "pipeline_alone_images_per_s": round(alone, 1),
        "pipeline_alone_runs_images_per_s": [round(r, 1) for r in alone_runs],
        "fastest_model_images_per_s": fastest,
        "pipeline_over_fastest_model": round(alone / fastest, 2),
        "worst_pipeline_cost": worst_cost,
        "targets": {"pipeline_cost_at_most": 0.05, "pipeline_over_fastest_model_at_least": 10},
        "targets_met": {"pipeline_cost": worst_cost <= 0.05, "pipeline_over_fastest_model": alone / fastest >= 10},
    }
    print(f"pipeline alone {alone:.1f} images/s = {alone / fastest:.1f}x the fastest model ({fastest:.1f} images/s);"
          f" worst pipeline cost {100 * worst_cost:.1f}% (targets: <= 5%, >= 10x)")
    provenance.write_json(args.output, provenance.record(None, **summary))
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
