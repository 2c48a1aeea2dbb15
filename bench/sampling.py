"""DDPM over all T steps against DDIM at 10, 25, 50 and 100 steps, for one trained diffusion model.

Same test images, masks and seed for every sampler, in one run: whole-image PSNR, SSIM (the
evaluation stage's, checked against scikit-image) and seconds per image; the speed-up and PSNR gap
of each DDIM run are relative to the T-step DDPM run measured here, the gap with a 95% interval
over the images (paired). One sample per image whatever the model's `samples`: the samplers are
compared, not the averaging. Writes bench/results/sampling.json.

    python bench/sampling.py --model results/models/diffusion --data results/data/tfrecords [--images 16]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from inpaintbench import metrics, models  # noqa: E402
from inpaintbench.data.masks import damage  # noqa: E402
from inpaintbench.data.tfrecords import load_dataset, split_paths  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def scores(outputs, original):
    """Per-image whole-image PSNR and SSIM, computed as the evaluation stage computes them."""
    return metrics.psnr(original, outputs), metrics.ssim(original, outputs)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "results" / "models" / "diffusion"))
    parser.add_argument("--data", default=str(ROOT / "results" / "data" / "tfrecords"))
    parser.add_argument("--images", type=int, default=16, help="first N test images (one batch)")
    parser.add_argument("--ddim", type=int, nargs="+", default=[10, 25, 50, 100])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "sampling.json"))
    args = parser.parse_args()

    inpainter = models.load(args.model)
    batch = next(iter(load_dataset(split_paths(args.data, "test"), args.images, inpainter.image_size)))
    original, masks = batch[0].numpy(), batch[1].numpy()
    damaged = np.asarray(damage(original, masks))
    inpainter(damaged[:1], masks[:1], sampler="ddim", steps=2, seed=0)  # trace the step once, untimed

    runs = [("ddpm", inpainter.diffusion.steps)] + [("ddim", steps) for steps in args.ddim]
    rows, per_image = [], {}
    for sampler, steps in runs:
        start = time.perf_counter()
        eta = 0.0 if sampler == "ddim" else None  # DDPM takes no eta
        outputs = inpainter(damaged, masks, sampler=sampler, steps=steps, eta=eta, seed=0, samples=1)
        seconds = time.perf_counter() - start
        psnr, ssim = scores(outputs, original)
        per_image[(sampler, steps)] = psnr
        psnr, ssim = float(psnr.mean()), float(ssim.mean())
        rows.append({"sampler": sampler, "steps": steps, "psnr": round(psnr, 3), "ssim": round(ssim, 4),
                     "seconds_per_image": round(seconds / len(original), 4)})
        print(f"{sampler:5s} {steps:5d} steps  PSNR {psnr:7.3f} dB  SSIM {ssim:.4f}  "
              f"{seconds / len(original):8.4f} s/image", flush=True)
    ddpm = rows[0]
    for row in rows[1:]:
        row["speedup_vs_ddpm"] = round(ddpm["seconds_per_image"] / row["seconds_per_image"], 2)
        gaps = per_image[(row["sampler"], row["steps"])] - per_image[(ddpm["sampler"], ddpm["steps"])]
        half_width = 1.96 * gaps.std(ddof=1) / np.sqrt(len(gaps)) if len(gaps) > 1 else float("nan")
        row["psnr_gap_vs_ddpm"] = round(float(gaps.mean()), 3)
        row["psnr_gap_95ci"] = [round(float(gaps.mean() - half_width), 3), round(float(gaps.mean() + half_width), 3)]
    ddim50 = next((row for row in rows if row["sampler"] == "ddim" and row["steps"] == 50), None)
    result = {"model": args.model, "test_images": int(len(original)), "image_size": inpainter.image_size,
              "timesteps": inpainter.diffusion.steps, "hparams": inpainter.hparams,
              "cpu_threads": os.cpu_count(), "eta": 0.0, "seed": 0, "runs": rows}
    if ddim50:
        result["ddim50_at_least_10x_faster"] = ddim50["speedup_vs_ddpm"] >= 10
        result["ddim50_psnr_within_0.5dB"] = abs(ddim50["psnr_gap_vs_ddpm"]) <= 0.5
        result["ddim50_psnr_at_most_0.5dB_below"] = ddim50["psnr_gap_vs_ddpm"] >= -0.5
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
