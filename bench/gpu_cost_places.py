"""What config/places-standard.yaml costs on GPUs: bench/gpu_cost.py's projection at 256 px.

bench/gpu_cost.py projects the full config (128 px, 29,200 training photos) and takes a timed CPU
step of each model besides; at 256 px those steps take minutes on this machine. This counts, in one
run, each places-standard model's FLOPs per training and per test image at the config's 256 px and,
as the reference, at 128 px (gpu_cost.py's size, its figures in bench/results/gpu_cost.json), with
gpu_cost.py's own counting, then projects them as gpu_cost.py does (H200, the same utilisation
assumption) over the config's steps: its training photos (train_256 less data.val_images) x epochs,
and all 36,500 test photos for evaluation. Writes bench/results/gpu_cost_places_standard.json.

    python bench/gpu_cost_places.py [--utilisation 0.25]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_cost import H200_TFLOPS, PLACES365_VAL_IMAGES, graph_flops, hours, inference_flops, specs, train_steps  # noqa: E402,I001

import keras  # noqa: E402

from inpaintbench import models, provenance  # noqa: E402
from inpaintbench.config import load_config  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config" / "places-standard.yaml"
RESULT = ROOT / "bench" / "results" / "gpu_cost_places_standard.json"
TRAIN_256_PHOTOS = 1_803_460
REFERENCE_SIZE = 128


def flops(entry: dict, size: int) -> tuple[float, float]:
    """(FLOPs per training image, FLOPs per test image) of the model at `size` px."""
    kind, hparams = entry["kind"], models.resolve_hparams(entry["kind"], entry["hparams"])
    batch = entry["training"]["batch_size"]
    keras.backend.clear_session()
    gc.collect()
    trainer = models.build_trainer(kind, size, hparams, entry["paper_exact"], entry["training"]["seed"])
    inpainter = models.module(kind).Inpainter(trainer.export(), size, hparams, entry["paper_exact"])
    train = graph_flops(trainer.train_step, specs(batch, size)) / batch
    return train, inference_flops(inpainter, hparams, batch, size)[0]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utilisation", type=float, default=0.25,
                        help="share of the H200's 790 TFLOP/s the training and sampling steps achieve")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    config = load_config(CONFIG)
    keras.mixed_precision.set_global_policy("float32")
    size = config["data"]["image_size"]
    train_images = TRAIN_256_PHOTOS - config["data"]["val_images"]
    test_images = config["evaluation"]["limit"] or PLACES365_VAL_IMAGES
    results = []
    for name, entry in config["models"].items():
        if not entry["enabled"]:
            continue
        (train, infer), (train_ref, infer_ref) = flops(entry, size), flops(entry, REFERENCE_SIZE)
        steps = train_steps(entry, train_images)
        total_train, total_eval = train * entry["training"]["batch_size"] * steps, infer * test_images
        row = {"name": name, "kind": entry["kind"], "batch_size": entry["training"]["batch_size"],
               "epochs": entry["training"]["epochs"], "train_steps": steps,
               "train_gflops_per_image": round(train / 1e9, 3), "inference_gflops_per_image": round(infer / 1e9, 3),
               f"train_gflops_per_image_{REFERENCE_SIZE}px": round(train_ref / 1e9, 3),
               f"inference_gflops_per_image_{REFERENCE_SIZE}px": round(infer_ref / 1e9, 3),
               "train_over_128px": round(train / train_ref, 3), "inference_over_128px": round(infer / infer_ref, 3),
               **{f"{what}_hours_{gpus}_gpu{'s' if gpus > 1 else ''}":
                  float(f"{hours(total, args.utilisation, gpus):.3g}")
                  for what, total in (("train", total_train), ("eval", total_eval)) for gpus in (1, 8, 64)}}
        results.append(row)
        print(f"{name}: {row['train_gflops_per_image']:.1f} GFLOP per training image at {size} px "
              f"({row['train_over_128px']:.2f}x its {REFERENCE_SIZE} px count), {steps:,d} steps x "
              f"{row['batch_size']}: PROJECTED {row['train_hours_1_gpu']:.3g} h on 1 H200, "
              f"{row['train_hours_8_gpus']:.3g} h on 8; evaluating {test_images:,d} test photos "
              f"{row['eval_hours_1_gpu']:.3g} h on 1 ({row['inference_over_128px']:.2f}x the 128 px count per image)")
    summary = {"config_file": "config/places-standard.yaml", "image_size": size, "reference_image_size": REFERENCE_SIZE,
               "train_images": train_images, "test_images": test_images, "label": "projection, not a measurement",
               "assumptions": {"gpu": "H200", "gpu_tflops": H200_TFLOPS, "utilisation": args.utilisation,
                               "gpus": "n-GPU hours = one-GPU hours / n (ideal data-parallel scaling)",
                               "flop_count": "bench/gpu_cost.py's (tf.compat.v1.profiler float_operation, float32)"},
               "models": results, "cpu_count": os.cpu_count(), "load_average_1min_before": load_before,
               "load_average_1min_after": os.getloadavg()[0]}
    provenance.write_json(RESULT, provenance.record(config, **summary))
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
