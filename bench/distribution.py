"""What the distribution metrics (FID, KID, P-IDS/U-IDS) cost an evaluation job.

Measured in one run on this CPU:
  - InceptionV3 feature extraction, ms per 128-px uint8 image (the PIL resize to 299 included), at
    batch sizes 16 and 64, and the fixed cost of a job: building the network and loading the
    weights file, and the first call's trace;
  - the reference: one batch of each strong model's inference (`gan`, `diffusion`, untrained: the
    same layers and arithmetic as trained) at the demo's and the full config's sizes; the full
    diffusion's 50 DDIM steps are projected from timed runs of 1 and 3 steps (labelled projections);
  - FID, KID and IDS on random features of the demo's and the full config's test split sizes.
The network has random weights (FeatureExtractor(None), written to and loaded back from a file in
the layout of Keras's): its cost is the real one's. No number here is a metric of images.

Each job kind's share: the features of its n test images plus the metrics, over the evaluation
job's time: for the demo the jobs' wall times in bench/results/demo_run.json, for the full config
n x the measured inference per image (a projection, and a lower bound of the job, so the share is
an upper bound). Writes bench/results/distribution.json.

    python bench/distribution.py [--images 128]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from inpaintbench import features, metrics, models, provenance  # noqa: E402
from inpaintbench.config import load_config  # noqa: E402
from inpaintbench.data.masks import damage  # noqa: E402
from inpaintbench.data.prepare import build_manifest  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "distribution.json"
PLACES365_VAL_IMAGES = 36500
TARGET_DIFFUSION_SHARE = 0.10
MODEL_BATCH = 16  # images per timed inference batch (ms per image is what is compared)


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def random_images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 128, 128, 3), dtype=np.uint8)


def extraction(batch_size: int, images: int, weights_dir: Path) -> dict:
    """ms/image at `batch_size`; the fixed seconds of a job's extractor: build + load, the first call's trace."""
    path = weights_dir / features.WEIGHTS_FILE
    features.FeatureExtractor(None, batch_size).save_weights(path)
    extractor, load = timed(features.FeatureExtractor, path, batch_size)
    _, first = timed(extractor, random_images(batch_size, seed=1))
    count = -(-images // batch_size) * batch_size  # whole batches only
    stream = random_images(count)
    _, seconds = timed(extractor.extract, (stream[i:i + 16] for i in range(0, count, 16)))
    _, resize_seconds = timed(features.resize, stream)
    per_image = seconds / count
    trace = max(first - batch_size * per_image, 0.0)
    print(f"features, batch {batch_size:3d}: {1000 * per_image:7.1f} ms/image (resize "
          f"{1000 * resize_seconds / count:.1f}); build + load {load:.1f} s, first call +{trace:.1f} s", flush=True)
    return {"ms_per_image": round(1000 * per_image, 2), "resize_ms_per_image": round(1000 * resize_seconds / count, 2),
            "build_and_load_seconds": round(load, 2), "first_call_extra_seconds": round(trace, 2),
            "job_fixed_seconds": round(load + trace, 2), "images_timed": count}


def inpainter(entry: dict, image_size: int):
    exact = entry.get("paper_exact", False)
    trainer = models.build_trainer(entry["kind"], image_size, entry["hparams"], exact)
    hparams = models.resolve_hparams(entry["kind"], entry["hparams"])
    return models.module(entry["kind"]).Inpainter(trainer.export(), image_size, hparams, exact)


def inference_ms(entry: dict, image_size: int, project_steps: bool) -> dict:
    """ms/image of one batch of the model's evaluation call, after a call on a batch of the same shape
    (so no tracing is timed; a diffusion model's warm-up runs one step of one sample).

    With `project_steps`, a diffusion model runs 1 and 3 DDIM steps and its configured steps x samples
    are projected from the per-step time.
    """
    model = inpainter(entry, image_size)
    images = random_images(MODEL_BATCH, seed=2).astype(np.float32) / 255.0
    masks = np.zeros((MODEL_BATCH, image_size, image_size, 1), np.float32)
    masks[:, 40:90, 30:80] = 1.0
    damaged = damage(images, masks)
    diffusion = entry["kind"] == "diffusion"
    model(damaged, masks, seed=0, **({"steps": 1, "samples": 1} if diffusion else {}))
    if not project_steps:
        _, seconds = timed(model, damaged, masks, seed=0)
        return {"ms_per_image": round(1000 * seconds / MODEL_BATCH, 2), "projected": False}
    _, one = timed(model, damaged, masks, seed=0, steps=1, samples=1)
    _, three = timed(model, damaged, masks, seed=0, steps=3, samples=1)
    per_step = (three - one) / 2
    steps, samples = model.hparams["sampling_steps"], model.hparams["samples"]
    seconds = samples * (one + (steps - 1) * per_step)
    return {"ms_per_image": round(1000 * seconds / MODEL_BATCH, 2), "projected": True,
            "ms_per_image_per_step": round(1000 * per_step / MODEL_BATCH, 2), "steps": steps, "samples": samples}


def metric_seconds(n: int, dimensions: int, settings: dict) -> dict:
    """Seconds of FID, KID and IDS on n pairs of random non-negative features (Inception's are too)."""
    rng = np.random.default_rng(3)
    real, fake = rng.gamma(1.0, 0.3, (n, dimensions)), rng.gamma(1.0, 0.3, (n, dimensions))
    times = {}
    _, times["fid"] = timed(metrics.fid, real, fake)
    _, times["kid"] = timed(metrics.kid, real, fake, settings["kid_subsets"], settings["kid_subset_size"],
                            settings["seed"])
    scores = None
    if n > dimensions + 1:
        scores, times["ids"] = timed(metrics.ids, real, fake)
    result = {"n": n, **{f"{name}_seconds": round(value, 2) for name, value in times.items()},
              "total_seconds": round(sum(times.values()), 2)}
    if scores:  # two samples of one distribution: the best a method can score at this n
        result["ids_of_one_distribution"] = {"p_ids": round(scores.p_ids, 3), "u_ids": round(scores.u_ids, 3)}
    print(f"metrics on {n} x {dimensions}: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()), flush=True)
    return result


def demo_run_inference_ms(demo_run: dict) -> dict:
    """Each method's inference ms/image in the demo run's comparison table."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in demo_run["comparison_markdown"].splitlines() if line.startswith("| ")]
    column = rows[0].index("Inference (ms/image)")
    return {row[0]: float(row[column]) for row in rows[1:]}


def shares(sizes: dict, extract: dict, inference: dict, metric_cost: dict, demo_run: dict, batch_size: int) -> dict:
    """Per job kind and size: the seconds features + metrics add to one evaluation job, and their fraction.

    Demo: over the job's wall time in demo_run.json, with this run's seconds rescaled to that run's
    speed by the diffusion model's inference ms/image (its table against this run), so that a loaded
    machine now does not inflate the share. Full: over n x this run's inference (a projection).
    """
    speed = demo_run_inference_ms(demo_run)["diffusion"] / inference["demo"]["diffusion"]["ms_per_image"]
    result = {}
    for size, n in sizes.items():
        added = extract[batch_size]["job_fixed_seconds"] + n * extract[batch_size]["ms_per_image"] / 1000
        added += metric_cost[size]["total_seconds"]
        for kind in ("gan", "diffusion"):
            row = {"test_images": n, "distribution_seconds": round(added, 1)}
            if size == "demo":
                job = demo_run["job_wall_seconds"]["evaluate"][kind]
                row.update(speed_factor=round(speed, 3), distribution_seconds_at_demo_run_speed=round(added * speed, 1),
                           job_source="bench/results/demo_run.json job wall seconds",
                           added_fraction_unscaled=round(added / job, 3))
                added_here = added * speed
            else:
                job, added_here = n * inference[size][kind]["ms_per_image"] / 1000, added
                row["job_source"] = "projection: n x inference ms/image measured in this run"
            row.update(evaluation_job_seconds=round(job, 1), added_fraction=round(added_here / job, 3))
            result[f"{kind}_{size}"] = row
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=128, help="images timed per batch size")
    args = parser.parse_args()
    load = os.getloadavg()
    demo, full = load_config(ROOT / "config" / "demo.yaml"), load_config(ROOT / "config" / "config.yaml")
    demo_run = json.loads((ROOT / "bench" / "results" / "demo_run.json").read_text())
    sizes = {"demo": sum(row["split"] == "test" for row in build_manifest(demo["data"]).rows),
             "full": round(PLACES365_VAL_IMAGES * full["data"]["split"]["test"])}
    batch_size = full["evaluation"]["distribution"]["batch_size"]
    with tempfile.TemporaryDirectory() as folder:
        extract = {size: extraction(size, args.images, Path(folder)) for size in sorted({16, 64, batch_size})}
    inference = {}
    for size, config in (("demo", demo), ("full", full)):
        inference[size] = {kind: inference_ms(config["models"][kind], config["data"]["image_size"],
                                              project_steps=(size == "full" and kind == "diffusion"))
                           for kind in ("gan", "diffusion")}
        for kind, row in inference[size].items():
            ratio = extract[batch_size]["ms_per_image"] / row["ms_per_image"]
            print(f"{kind:9s} {size}: {row['ms_per_image']:9.1f} ms/image{' (projected)' if row['projected'] else ''}; "
                  f"features cost {ratio:.3f} of it per image", flush=True)
    metric_cost = {size: metric_seconds(n, features.DIMENSIONS, full["evaluation"]["distribution"])
                   for size, n in sizes.items()}
    added = shares(sizes, extract, inference, metric_cost, demo_run, batch_size)
    for name, row in added.items():
        seconds = row.get("distribution_seconds_at_demo_run_speed", row["distribution_seconds"])
        print(f"{name:15s}: +{seconds:.1f} s on a {row['evaluation_job_seconds']:.1f} s job "
              f"= +{row['added_fraction']:.1%} ({row['job_source']})")
    within = {size: added[f"diffusion_{size}"]["added_fraction"] <= TARGET_DIFFUSION_SHARE for size in sizes}
    result = provenance.record(
        {"demo": demo["evaluation"], "full": full["evaluation"]}, benchmark="distribution",
        weights="random (FeatureExtractor(None)): the real weights' cost", test_images=sizes,
        feature_batch_size=batch_size, features=extract, inference=inference, model_batch=MODEL_BATCH,
        metrics=metric_cost, added=added, target_diffusion_added_fraction=TARGET_DIFFUSION_SHARE,
        diffusion_within_target=within, demo_run_commit=demo_run["git_commit"], cpu_threads=os.cpu_count(),
        load_average={"before": [round(v, 2) for v in load], "after": [round(v, 2) for v in os.getloadavg()]},
        note="A diffusion model with samples > 1 is scored on single samples: taken from the samples "
             "evaluation draws, nothing is added; drawn apart, one more sample adds 1/samples of its inference.")
    provenance.write_json(RESULT, result)
    print(f"diffusion within +{TARGET_DIFFUSION_SHARE:.0%}: {within}; load average {load[0]:.1f} -> "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; wrote {RESULT}")


if __name__ == "__main__":
    main()
