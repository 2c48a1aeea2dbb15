"""Demo quality of the strong models: whole-image PSNR on the demo's test split.

Trains each named model of a config (default: every enabled model of config/demo.yaml, the
paper's too) through the training job's code (`inpaintbench.training.train`) on the train split for
the steps its `training` section gives (epochs x steps_per_epoch, batch_size), on this machine's CPU
(its threads: TensorFlow's default), reloads the model folder with models.load and inpaints the
test split; the baselines (black, mean_fill, biharmonic) are scored on the same
images and the config's square masks, and so is the pull-push pyramid fill the strong models start from, to show what
their training adds. A diffusion model that averages several samples is also scored on one.
Writes bench/results/quality.json; a model's training_seconds and final_losses are its meta.json's
(the seconds of its epochs; the means of its last epoch's steps).

    python bench/quality.py --data results/data/tfrecords [--config config/demo.yaml] [model ...]
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

from inpaintbench import baselines, metrics, models, training  # noqa: E402
from inpaintbench.config import enabled_models, load_config  # noqa: E402
from inpaintbench.data.masks import MaskSource, damage  # noqa: E402
from inpaintbench.data.tfrecords import load_dataset, split_paths  # noqa: E402
from inpaintbench.models import layers  # noqa: E402
from inpaintbench.train_config import training_masks  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def test_split(data_dir, image_size, source: MaskSource):
    images, masks = [], []
    for image, mask in load_dataset(split_paths(data_dir, "test"), 64, image_size, masks=source):
        images.append(image.numpy())
        masks.append(mask.numpy())
    return np.concatenate(images), np.concatenate(masks)


def train(name, entry, data_dir, image_size, folder: Path, masks: dict):
    """Train `entry` with training.train on `masks` ({protocol, recipe, seed}) into the model folder `folder`,
    its working state in a temporary folder; return its row of quality.json's training columns."""
    with tempfile.TemporaryDirectory(prefix="quality-state-") as state:
        meta = training.train(name, entry, image_size, split_paths(data_dir, "train"), split_paths(data_dir, "val"),
                              folder, state_dir=Path(state), masks=masks)
    return {"steps": meta["steps"], "batch_size": entry["training"]["batch_size"],
            "training_seconds": round(meta["training_seconds"], 1),
            "final_losses": {key: round(float(value), 4) for key, value in meta["final_losses"].items()},
            "parameters": meta["parameters"]}


def evaluate(inpainter, damaged, masks, original, batch_size=16, **options):
    start = time.perf_counter()
    outputs = np.concatenate([
        inpainter(damaged[i:i + batch_size], masks[i:i + batch_size],
                  original=original[i:i + batch_size] if inpainter.needs_original else None, seed=0, **options)
        for i in range(0, len(damaged), batch_size)])
    return outputs, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="models of the config to train (default: every enabled one)")
    parser.add_argument("--config", default=str(ROOT / "config" / "demo.yaml"))
    parser.add_argument("--data", default=str(ROOT / "results" / "data" / "tfrecords"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "quality.json"))
    parser.add_argument("--keep", help="folder to keep the trained models in (results/models layout)")
    args = parser.parse_args()

    config = load_config(args.config)
    args.models = args.models or enabled_models(config)
    image_size = config["data"]["image_size"]
    square = MaskSource("square", config["masks"]["protocols"]["square"], config["masks"]["seed"])
    original, masks = test_split(args.data, image_size, square)
    damaged = np.asarray(damage(original, masks))
    rows = {}
    for name in config["evaluation"]["baselines"]:
        outputs, seconds = evaluate(baselines.get(name), damaged, masks, original)
        rows[name] = {"psnr": round(float(metrics.psnr(original, outputs).mean()), 3),
                      "eval_seconds": round(seconds, 1)}
        print(f"{name:22s} PSNR {rows[name]['psnr']:7.3f} dB", flush=True)
    filled = np.asarray(layers.prefill("pyramid")([damaged, masks]))
    rows["pyramid_prefill"] = {"psnr": round(float(metrics.psnr(original, filled).mean()), 3),
                               "note": "the fixed pull-push fill the strong models refine (reference, no training)"}
    print(f"{'pyramid_prefill':22s} PSNR {rows['pyramid_prefill']['psnr']:7.3f} dB", flush=True)
    models_dir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="quality-"))
    for name in args.models:
        if name not in config["models"]:
            raise SystemExit(f"{args.config}: no model {name!r} under models:")
        row = train(name, config["models"][name], args.data, image_size, models_dir / name,
                    training_masks(config, name))
        inpainter = models.load(models_dir / name)
        outputs, seconds = evaluate(inpainter, damaged, masks, original)
        row.update(psnr=round(float(metrics.psnr(original, outputs).mean()), 3), eval_seconds=round(seconds, 1),
                   hparams=config["models"][name]["hparams"])
        rows[name] = row
        print(f"{name:22s} PSNR {row['psnr']:7.3f} dB  trained {row['steps']} steps in "
              f"{row['training_seconds']} s, evaluated in {row['eval_seconds']} s", flush=True)
        if inpainter.hparams.get("samples", 1) > 1:  # what one sample scores, beside the configured average
            outputs, _ = evaluate(inpainter, damaged, masks, original, samples=1)
            row["psnr_one_sample"] = round(float(metrics.psnr(original, outputs).mean()), 3)
            print(f"{name + ' (1 sample)':22s} PSNR {row['psnr_one_sample']:7.3f} dB", flush=True)
    paper_models = [name for name in args.models if config["models"][name]["kind"].endswith("_paper")]
    honest_paper = [name for name in paper_models if not config["models"][name]["paper_exact"]]
    config_path = Path(args.config).resolve()
    result = {"config": str(config_path.relative_to(ROOT)) if ROOT in config_path.parents else args.config,
              "data": args.data, "test_images": int(len(original)), "image_size": image_size,
              "metric": "whole-image PSNR (dB), mean over the test split", "cpu_threads": os.cpu_count(),
              "methods": rows,
              "beats_mean_fill": {name: rows[name]["psnr"] > rows["mean_fill"]["psnr"]
                                  for name in args.models if "mean_fill" in rows},
              "beats_honest_paper_models": {
                  name: all(rows[name]["psnr"] > rows[paper]["psnr"] for paper in honest_paper)
                  for name in args.models if name not in paper_models}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
