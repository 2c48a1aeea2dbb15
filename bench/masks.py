"""Benchmark: mask generation per protocol against the data stage's images/s, and each protocol's holes.

Measured in one run, per CPU second of this process (one core; robust to other work on a shared
machine), at 128 and 256 px:
  masks:     every built-in protocol's test masks (protocol_mask, from image ids) and fresh training
             masks (fresh_mask, from (seed, step, position));
  floor:     the data stage's floor, JPEG decode + antialiased resize of val_256-like images (bench/prepare.py);
and at the demo's 128 px, per wall second:
  training:  the fastest demo model's training step on an in-memory batch (the most masks a step can use);
  evaluation: the cheapest evaluation (the `black` baseline and every metric on a batch);
  pipeline:  tfrecords.load_dataset with each protocol's masks, as training and evaluation read.
Prints masks/s and the ratios to the data stage, a training step and an evaluation job; also the
hole area (mean, spread, share per field bin) of every protocol on the demo's test images, which
the README's protocol table cites, and on 1,000 image ids (a larger sample of the same masks).
Writes bench/results/masks.json.

    python bench/masks.py [--count 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from inpaintbench import baselines, metrics, models, provenance  # noqa: E402
from inpaintbench.aggregate import hole_size_bin, hole_size_label  # noqa: E402
from inpaintbench.config import load_config  # noqa: E402
from inpaintbench.data import masks, prepare, sources, tfrecords  # noqa: E402
from inpaintbench.evaluation import inpaint  # noqa: E402
from prepare import WORK, archive, floor  # noqa: E402  (bench/prepare.py: the data stage's floor)

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "masks.json"
SIZES = (128, 256)


def cpu_rate(function, count: int, repeats: int) -> float:
    """Calls per CPU second of function(i) for i in range(count), best of `repeats`."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for i in range(count):
            function(i)
        best = min(best, time.process_time() - start)
    return count / best


def mask_rates(protocols: dict, seed: int, count: int, repeats: int) -> dict:
    """{protocol: {size: {test, fresh}}} masks per CPU second."""
    rates = {}
    for name, recipe in protocols.items():
        rates[name] = {str(size): {
            "test": round(cpu_rate(lambda i, size=size, name=name, recipe=recipe:
                                   masks.protocol_mask(f"img{i}", size, name, recipe, seed), count, repeats), 1),
            "fresh": round(cpu_rate(lambda i, size=size, recipe=recipe: masks.fresh_mask(size, recipe, 0, i, 0),
                                    count, repeats), 1),
        } for size in SIZES}
    return rates


def floor_rates(count: int, repeats: int) -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive(count)) as handle:
        payloads = [handle.extractfile(m).read() for m in handle if m.isfile()]
    return {str(size): round(cpu_rate(lambda _, size=size: floor(payloads, size), 1, repeats) * len(payloads), 1)
            for size in SIZES}


def demo_test_ids(config: dict) -> list[str]:
    data = config["data"]
    listing = sources.list_demo(data["demo"]["scales"], data["demo"]["positions"])
    return [row["id"] for row in listing.rows if prepare.split_of(row["id"], data["seed"], data["split"]) == "test"]


def hole_areas(config: dict, ids: list[str]) -> dict:
    """Mean, spread and share per field bin of the hole area of every protocol on the images `ids`."""
    size, found = config["data"]["image_size"], {}
    for name, recipe in config["masks"]["protocols"].items():
        areas = np.array([masks.protocol_mask(i, size, name, recipe, config["masks"]["seed"]).mean() for i in ids])
        bins = np.bincount(hole_size_bin(areas), minlength=6)
        found[name] = {"images": len(ids), "mean": round(float(areas.mean()), 4), "sd": round(float(areas.std()), 4),
                       "min": round(float(areas.min()), 4), "max": round(float(areas.max()), 4),
                       "share_per_bin": {hole_size_label(b): round(float(n / len(ids)), 3) for b, n in enumerate(bins)}}
    return found


def demo_batch(config: dict, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """`batch` demo test images and their square masks, float32."""
    with tempfile.TemporaryDirectory() as folder:
        paths = write_records(Path(folder), config, batch)
        images, holes = next(iter(tfrecords.load_dataset(paths, batch, config["data"]["image_size"])))
    return images.numpy(), holes.numpy()


def write_records(folder: Path, config: dict, count: int) -> list[str]:
    """The first `count` demo images (cycling) in two TFRecord shards, as the data stage writes them."""
    data, size = config["data"], config["data"]["image_size"]
    listing = sources.list_demo(data["demo"]["scales"], data["demo"]["positions"])
    paths = [str(folder / f"test-{i}-of-2.tfrecord") for i in range(2)]
    writers = [tfrecords.writer(path) for path in paths]
    with sources.Reader(None, size) as reader:
        for i in range(count):
            row = listing.rows[i % len(listing.rows)]
            writers[i % 2].write(tfrecords.serialize(reader.read(row), f"{row['id']}-{i}", row["category"]))
    for writer in writers:
        writer.close()
    return paths


def training_need(config: dict, images: np.ndarray, holes: np.ndarray, steps: int) -> dict:
    """Images per second of the fastest demo model's training step (median step, in-memory batch)."""
    rates = {}
    for name, entry in config["models"].items():
        if entry["kind"] not in ("gan_paper", "diffusion_paper") or entry["paper_exact"]:
            continue  # the strong models are far slower: the paper's set the highest demand
        size, batch = config["data"]["image_size"], entry["training"]["batch_size"]
        trainer = models.build_trainer(entry["kind"], size, entry["hparams"], False, 0)
        step = tf.function(trainer.train_step)
        data = (tf.constant(images[:batch]), tf.constant(holes[:batch]))
        seconds = []
        for _ in range(steps + 3):
            start = time.perf_counter()
            {key: float(value) for key, value in step(data).items()}
            seconds.append(time.perf_counter() - start)
        rates[name] = round(batch / statistics.median(seconds[3:]), 1)
    return rates


def evaluation_need(images: np.ndarray, holes: np.ndarray, repeats: int) -> float:
    """Images per second of the cheapest evaluation: `black` inpainting plus every metric."""
    black = baselines.get("black")
    best = float("inf")
    for _ in range(repeats + 1):
        start = time.perf_counter()
        metrics.all_metrics(images, inpaint(black, images, holes, 0), holes)
        best = min(best, time.perf_counter() - start)
    return round(len(images) / best, 1)


def pipeline_rates(config: dict, protocols: dict, batches: int) -> dict:
    """Images per wall second of load_dataset at the demo's size and batch with each protocol's masks."""
    size, batch = config["data"]["image_size"], 16
    rates = {}
    with tempfile.TemporaryDirectory() as folder:
        paths = write_records(Path(folder), config, 256)
        for name, fresh in (("square", False), ("lama_thick", False), ("lama_thin", False), ("mixed", True)):
            source = masks.MaskSource(name, protocols[name], config["masks"]["seed"])
            source = source.for_training(0) if fresh else source
            dataset = tfrecords.load_dataset(paths, batch, size, shuffle=fresh, repeat=True, drop_remainder=True,
                                             masks=source)
            iterator = iter(dataset)
            next(iterator)
            start = time.perf_counter()
            for _ in range(batches):
                next(iterator)[1].numpy()
            rates[f"{name} ({'fresh, training' if fresh else 'test masks'})"] = round(
                batches * batch / (time.perf_counter() - start), 1)
    return rates


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "config" / "demo.yaml"))
    parser.add_argument("--count", type=int, default=200, help="masks timed per protocol, size and kind")
    parser.add_argument("--images", type=int, default=500, help="val_256-like images of the floor")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many timings")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    protocols, load = config["masks"]["protocols"], os.getloadavg()

    rates = mask_rates(protocols, config["masks"]["seed"], args.count, args.repeats)
    floors = floor_rates(args.images, args.repeats)
    images, holes = demo_batch(config, 16)
    training = training_need(config, images, holes, steps=20)
    evaluation = evaluation_need(images, holes, args.repeats)
    pipeline = pipeline_rates(config, protocols, batches=30)
    fastest = max(training.values())
    slowest = {size: min(min(r[size].values()) for r in rates.values()) for size in map(str, SIZES)}
    result = {
        "masks_per_cpu_s": rates, "floor_images_per_cpu_s": floors,
        "training_images_per_s": training, "evaluation_images_per_s": evaluation,
        "pipeline_images_per_s": pipeline,
        "slowest_protocol_masks_per_cpu_s": slowest,
        "ratios_of_the_slowest_protocol": {
            "to_the_data_stage_floor": {size: round(slowest[size] / floors[size], 2) for size in slowest},
            "to_the_fastest_training_step_128": round(slowest["128"] / fastest, 2),
            "to_the_cheapest_evaluation_128": round(slowest["128"] / evaluation, 2)},
        "hole_area_on_demo_test_images": hole_areas(config, demo_test_ids(config)),
        "hole_area_on_1000_image_ids": hole_areas(config, [f"Places365_val_{i:08d}" for i in range(1, 1001)]),
        "config_file": args.config, "count": args.count, "repeats": args.repeats, "cpu_count": os.cpu_count(),
        "load_average_at_start": [round(v, 2) for v in load],
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
    }
    for name, by_size in rates.items():
        print(f"{name:12s} " + "  ".join(f"{size} px: {r['test']:7.1f} test / {r['fresh']:7.1f} fresh masks/s"
                                         for size, r in by_size.items()))
    print(f"data stage floor (decode + resize): {floors['128']:.1f} images/s at 128 px, {floors['256']:.1f} at 256 px "
          "(per CPU second)")
    print(f"slowest protocol: {slowest['128']:.1f} masks/s at 128 px = "
          f"{slowest['128'] / floors['128']:.2f}x the floor, "
          f"{slowest['128'] / fastest:.2f}x the fastest training step ({fastest:.1f} images/s), "
          f"{slowest['128'] / evaluation:.2f}x the cheapest evaluation ({evaluation:.1f} images/s)")
    print("pipeline (images/s): " + ", ".join(f"{k} {v:.1f}" for k, v in pipeline.items()))
    for name, area in result["hole_area_on_demo_test_images"].items():
        large = result["hole_area_on_1000_image_ids"][name]
        print(f"{name:12s} hole area on {area['images']} demo test images: mean {area['mean']:.3f} "
              f"sd {area['sd']:.3f} [{area['min']:.3f}, {area['max']:.3f}]; on 1000 ids: mean {large['mean']:.3f} "
              f"sd {large['sd']:.3f}")
    provenance.write_json(RESULT, provenance.record({"masks": config["masks"]}, **result))
    print(f"wrote {RESULT.relative_to(ROOT)}")
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
