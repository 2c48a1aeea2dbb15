"""Does the TFRecord input pipeline keep training fed, in each shard encoding? Images/s of the paper
models' training steps fed by the pipeline (PNG shards, JPEG shards), against the same steps on one
in-memory batch (the compute floor), and of the pipeline alone; bytes per image of each encoding
against the old raw uint8 records; at 128 and 256 px, all in the same run.

Target: the pipeline costs <= 5% of the fastest model's training step, and alone delivers >= 10x
what it consumes. Beside wall rates, the CPU time per image of the pipeline and of its stages (read
and shuffle; + parse and decode per record; + the per-batch cast, masks and prefetch), which the
load from other processes disturbs far less: on a CPU the pipeline takes that time from the step.
Fed and in-memory steps alternate one by one and the median step time counts, so that load from
other processes on a shared machine hits both alike. The strong models (gan, diffusion) are 10-30x
slower per image than the paper models, so the paper models bound the cost; pass --kinds to add
them (minutes more).

    python bench/train_throughput.py [--steps 30] [--sizes 128 256] [--kinds gan_paper diffusion_paper]
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


def write_records(folder: Path, config: dict, size: int, encoding: str, count: int, shards: int = 2) -> list[str]:
    """`count` demo crops at `size` px stored as `encoding`, in `shards` files (the loader adds the square holes)."""
    data = config["data"]["demo"]
    boxes = [(name, box) for name in sorted(demo.PHOTOS)
             for box in demo.crops(name, data["scales"], data["positions"])]
    paths = [str(folder / f"{encoding}-{size}-{i}-of-{shards}.tfrecord") for i in range(shards)]
    writers = [tfrecords.writer(path) for path in paths]
    for i in range(count):
        name, box = boxes[i % len(boxes)]
        writers[i % shards].write(tfrecords.serialize(images.from_array(demo.crop(name, box), size),
                                                      f"{name}-{i}", name, encoding))
    for writer in writers:
        writer.close()
    return paths


def image_bytes(paths) -> float:
    """Mean stored bytes of an image's pixels in the shards (the record's other fields aside)."""
    sizes = [len(tf.train.Example.FromString(record).features.feature["image"].bytes_list.value[0])
             for path in paths for record in tf.data.TFRecordDataset(path).as_numpy_iterator()]
    return statistics.mean(sizes)


def step_seconds(step, batches) -> float:
    """Seconds of one training step, fetching its batch included, synchronised like the training
    loop (losses read)."""
    start = time.perf_counter()
    {key: float(value) for key, value in step(next(batches)).items()}
    return time.perf_counter() - start


def training_batches_dataset(paths, batch_size: int, size: int) -> tf.data.Dataset:
    return tfrecords.load_dataset(paths, batch_size, size, shuffle=True, repeat=True, drop_remainder=True)


def training_batches(paths, batch_size: int, size: int):
    return iter(training_batches_dataset(paths, batch_size, size))


def pipeline_alone(paths, batch_size: int, size: int, batches: int) -> float:
    iterator = training_batches(paths, batch_size, size)
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)  # computed tensors, as a training step takes them: no copy to numpy
    return batches * batch_size / (time.perf_counter() - start)


def cpu_us_per_image(dataset, batch_size: int, batches: int = 50) -> float:
    """Process CPU time (all threads) per image of pulling `batches` batches of `dataset`."""
    iterator = iter(dataset)
    next(iterator)
    start = time.process_time()
    for _ in range(batches):
        next(iterator)
    return 1e6 * (time.process_time() - start) / (batches * batch_size)


def stage_costs(paths, batch_size: int, size: int, runs: int = 3) -> dict:
    """Median CPU microseconds per image of the training pipeline cut after each stage, in turn."""
    records = tfrecords._records(paths, shuffle=True).shuffle(tfrecords.SHUFFLE_BUFFER, seed=0).repeat()
    stages = {"read_shuffle_batch": records.batch(batch_size, drop_remainder=True),
              "plus_parse_decode": records.map(tfrecords._decoder(size, ("id",)), num_parallel_calls=tf.data.AUTOTUNE,
                                               deterministic=True).batch(batch_size, drop_remainder=True),
              "full": training_batches_dataset(paths, batch_size, size)}
    times = {name: [cpu_us_per_image(dataset, batch_size) for _ in range(runs)] for name, dataset in stages.items()}
    return {name: round(statistics.median(values), 1) for name, values in times.items()}


def measure(kind: str, entry: dict, size: int, paths: dict, steps: int) -> dict:
    """Median step time of in-memory steps and of steps fed from each encoding's shards, taken in
    turn, so that load from other processes on a shared machine hits them alike."""
    training = entry["training"]
    batch_size = training["batch_size"]
    trainer = models.build_trainer(kind, size, entry["hparams"], entry["paper_exact"], training["seed"])
    step = tf.function(trainer.train_step)
    fed = {encoding: training_batches(files, batch_size, size) for encoding, files in paths.items()}
    sources = {"in_memory": itertools.repeat(next(fed["png"])), **fed}
    for _ in range(3):  # trace and warm up
        for batches in sources.values():
            step_seconds(step, batches)
    seconds = {name: [] for name in sources}
    for _ in range(steps):
        for name, batches in sources.items():
            seconds[name].append(step_seconds(step, batches))
    rates = {name: batch_size / statistics.median(times) for name, times in seconds.items()}
    return {"kind": kind, "image_size": size, "batch_size": batch_size,
            "parameters": int(trainer.export().count_params()), "steps": steps,
            "in_memory_images_per_s": round(rates["in_memory"], 2),
            **{f"{encoding}_fed_images_per_s": round(rates[encoding], 2) for encoding in paths},
            **{f"{encoding}_pipeline_cost": round(1.0 - rates[encoding] / rates["in_memory"], 4) for encoding in paths}}


def paper_entries(config: dict, kinds) -> dict:
    """{kind: its first non-paper-exact entry in `config`} for the kinds asked."""
    entries = {}
    for entry in config["models"].values():
        kind = entry["kind"]
        if kind in kinds and kind not in entries and not entry["paper_exact"]:
            entries[kind] = entry
    return entries


def at_size(folder: Path, config: dict, entries: dict, size: int, records: int, steps: int) -> dict:
    """Bytes per image, the pipeline alone and every model fed from each encoding, at `size` px."""
    paths = {encoding: write_records(folder, config, size, encoding, records) for encoding in tfrecords.ENCODINGS}
    batch_size = max(entry["training"]["batch_size"] for entry in entries.values())
    stages = {encoding: stage_costs(files, batch_size, size) for encoding, files in paths.items()}
    alone = {encoding: [pipeline_alone(files, batch_size, size, batches=50)] for encoding, files in paths.items()}
    results = []
    for kind, entry in entries.items():
        result = measure(kind, entry, size, paths, steps)
        results.append(result)
        for encoding, files in paths.items():
            alone[encoding].append(pipeline_alone(files, batch_size, size, batches=50))
        print(f"{size:4d} px {kind:16s} in memory {result['in_memory_images_per_s']:8.1f} images/s  " + "  ".join(
            f"{e}-fed {result[f'{e}_fed_images_per_s']:8.1f} (cost {100 * result[f'{e}_pipeline_cost']:5.1f}%)"
            for e in paths))
    fastest = max(results, key=lambda r: r["in_memory_images_per_s"])
    raw = size * size * 3
    summary = {"image_size": size, "fastest_model": fastest["kind"],
               "fastest_model_images_per_s": fastest["in_memory_images_per_s"],
               "bytes_per_image": {"raw_uint8_old": raw, **{e: round(image_bytes(f)) for e, f in paths.items()}},
               "models": results}
    for encoding in paths:
        rate = statistics.median(alone[encoding])  # measured between the models, under the same load
        summary[encoding] = {
            "bytes_over_raw": round(summary["bytes_per_image"][encoding] / raw, 3),
            "pipeline_alone_images_per_s": round(rate, 1),
            "pipeline_alone_runs_images_per_s": [round(r, 1) for r in alone[encoding]],
            "pipeline_over_fastest_model": round(rate / fastest["in_memory_images_per_s"], 2),
            "cpu_us_per_image": stages[encoding],
            # the share of the machine's CPU the pipeline takes while feeding the fastest model at its speed
            "cpu_share_at_fastest_model": round(stages[encoding]["full"] * fastest["in_memory_images_per_s"]
                                                / (1e6 * os.cpu_count()), 4),
            "fastest_model_pipeline_cost": fastest[f"{encoding}_pipeline_cost"],
            "worst_pipeline_cost": max(r[f"{encoding}_pipeline_cost"] for r in results)}
        print(f"{size:4d} px {encoding}: {summary['bytes_per_image'][encoding]:,} bytes/image = "
              f"{summary[encoding]['bytes_over_raw']:.3f} of raw; alone {rate:.1f} images/s = "
              f"{rate / fastest['in_memory_images_per_s']:.1f}x the fastest model ({fastest['kind']}); "
              f"its pipeline cost {100 * fastest[f'{encoding}_pipeline_cost']:.1f}%; CPU us/image by stage "
              f"{stages[encoding]}")
    return summary


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "config" / "demo.yaml"))
    parser.add_argument("--steps", type=int, default=30, help="steps of each kind per model and size")
    parser.add_argument("--records", type=int, default=256)
    parser.add_argument("--sizes", nargs="*", type=int, default=[128, 256])
    parser.add_argument("--kinds", nargs="*", default=["gan_paper", "diffusion_paper"])
    parser.add_argument("--output", default=str(RESULT))
    args = parser.parse_args(argv)
    config = load_config(args.config)
    entries = paper_entries(config, args.kinds)
    with tempfile.TemporaryDirectory() as folder:
        sizes = [at_size(Path(folder), config, entries, size, args.records, args.steps) for size in args.sizes]
    # The 128 px rows (the paper's size) first: bench/places_cpu_estimate.py reads the paper models' rates.
    models_128 = [row for size in sizes if size["image_size"] == 128 for row in size["models"]]
    costs = [size[e]["fastest_model_pipeline_cost"] for size in sizes for e in tfrecords.ENCODINGS]
    ratios = [size[e]["pipeline_over_fastest_model"] for size in sizes for e in tfrecords.ENCODINGS]
    summary = {
        "config_file": args.config, "records": args.records, "steps": args.steps,
        "cpu_count": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
        "gpu": bool(tf.config.list_physical_devices("GPU")),
        "models": models_128, "sizes": sizes,
        "targets": {"fastest_model_pipeline_cost_at_most": 0.05, "pipeline_over_fastest_model_at_least": 10,
                    "bytes_over_raw_at_most": round(1 / 3, 3)},
        "targets_met": {"pipeline_cost": max(costs) <= 0.05, "pipeline_over_fastest_model": min(ratios) >= 10,
                        "bytes": {e: all(size[e]["bytes_over_raw"] <= 1 / 3 for size in sizes)
                                  for e in tfrecords.ENCODINGS}},
    }
    provenance.write_json(args.output, provenance.record(None, **summary))
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
