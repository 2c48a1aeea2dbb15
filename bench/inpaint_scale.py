"""Benchmark: `inpaintbench inpaint` on large photos, the hole filled at the photo's scale or squashed.

On every photo of /work/shared/places-dev at least 512 px on each side (read from there, at their own
size, never copied) and scikit-image's two large photos the demo never trains on (retina 1411 px,
hubble_deep_field 1000 px), each with two seeded holes, a long thin stroke across the photo and a
box, a demo-size `gan` inpaints through `inpaint.fill_windows`:

- before: one window around the whole hole (CONTEXT times its side, at least a quarter of the
  model's size) scaled to the model's 128 px and back: the inpaint command's path before issue 25,
  with its hole blanked before scaling as now (the old path also let the hidden truth ring in);
- after: `inpaint.windows`, the command's path: the hole filled piece by piece at the photo's scale,
  only a part too thick for a window scaled down.

`pyramid_fill` (a baseline, at any size: the same window either way) is the reference measured in the
same run. Hole MAE in levels (0-255) against the photo, per hole shape; the ratio gan / pyramid_fill
before and after. The model: a folder (--model), or the demo config's `gan` trained here through
`inpaintbench.training.train` on --data's tfrecords (as bench/quality.py does). Writes
bench/results/inpaint_scale.json.

    python bench/inpaint_scale.py --model results/models/gan
    python bench/inpaint_scale.py --data results/data/tfrecords
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from scipy import ndimage  # noqa: E402
from skimage import data as skdata  # noqa: E402

from inpaintbench import baselines, inpaint, models, training  # noqa: E402
from inpaintbench.config import load_config  # noqa: E402
from inpaintbench.data.images import to_uint8  # noqa: E402
from inpaintbench.data.tfrecords import split_paths  # noqa: E402
from inpaintbench.train_config import training_masks  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PLACES = Path("/work/shared/places-dev")
MIN_SIDE = 512
SKIMAGE_PHOTOS = ("retina", "hubble_deep_field")  # large, real, and not among the demo's photos


def photos(folder: Path) -> dict[str, np.ndarray]:
    """name -> uint8 RGB of every photo at least MIN_SIDE px on each side, at its own size."""
    found = {}
    for path in sorted(folder.glob("*.jpg")):
        with Image.open(path) as image:
            if min(image.size) >= MIN_SIDE:
                found[path.stem] = np.asarray(image.convert("RGB"))
    for name in SKIMAGE_PHOTOS:
        found[name] = np.asarray(getattr(skdata, name)())[..., :3]
    return found


def long_stroke(shape, seed: int) -> np.ndarray:
    """A thin stroke (12-20 px) through five random points from one side of the photo to the other."""
    rng = np.random.default_rng(seed)
    height, width = shape[:2]
    xs = np.linspace(0.05, 0.95, 5) * width
    ys = rng.uniform(0.15, 0.85, 5) * height
    canvas = Image.new("L", (width, height))
    ImageDraw.Draw(canvas).line(list(zip(xs, ys)), fill=255, width=int(rng.integers(12, 21)), joint="curve")
    return np.asarray(canvas) > 0


def box(shape, seed: int) -> np.ndarray:
    """A box of a fifth of the photo's shorter side at a random place."""
    rng = np.random.default_rng(seed)
    height, width = shape[:2]
    side = min(height, width) // 5
    top, left = int(rng.integers(0, height - side)), int(rng.integers(0, width - side))
    hole = np.zeros((height, width), bool)
    hole[top:top + side, left:left + side] = True
    return hole


HOLES = {"long_stroke": long_stroke, "box": box}


def squashed(mask: np.ndarray, image_size: int) -> list[inpaint.Window]:
    """The command's window before issue 25: one around the whole hole, CONTEXT times its side (at least
    a quarter of the model's), which the model's input is scaled to."""
    ((rows, cols),) = ndimage.find_objects(mask.astype(np.int8))
    side = max(math.ceil(max(rows.stop - rows.start, cols.stop - cols.start) * inpaint.CONTEXT), image_size // 4)
    top, left, bottom, right = inpaint.window_around(rows, cols, mask.shape, side)
    return [inpaint.Window(top, left, bottom, right, mask[top:bottom, left:right])]


def hole_mae(method, image: np.ndarray, mask: np.ndarray, found) -> tuple[float, float]:
    """(hole MAE in levels of the uint8 fill, seconds)."""
    start = time.perf_counter()
    filled = to_uint8(inpaint.fill_windows(method, image.astype(np.float32) / 255.0, mask, found))
    seconds = time.perf_counter() - start
    return float(np.abs(filled[mask].astype(float) - image[mask]).mean()), seconds


def trained_gan(data_dir: str, config_path: str, folder: Path) -> Path:
    """The config's `gan` trained through training.train on data_dir's train split into `folder`."""
    config = load_config(config_path)
    with tempfile.TemporaryDirectory(prefix="inpaint-scale-state-") as state:
        training.train("gan", config["models"]["gan"], config["data"]["image_size"], split_paths(data_dir, "train"),
                       split_paths(data_dir, "val"), folder, state_dir=Path(state), masks=training_masks(config, "gan"))
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a trained demo-size gan folder (default: train the config's gan)")
    parser.add_argument("--data", default=str(ROOT / "results" / "data" / "tfrecords"))
    parser.add_argument("--config", default=str(ROOT / "config" / "demo.yaml"))
    parser.add_argument("--photos", default=str(PLACES))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "inpaint_scale.json"))
    args = parser.parse_args()

    model_dir = Path(args.model) if args.model else trained_gan(args.data, args.config,
                                                                Path(tempfile.mkdtemp(prefix="inpaint-scale-")) / "gan")
    gan, pyramid = models.load(model_dir), baselines.get("pyramid_fill")
    meta = json.loads((model_dir / models.META_FILE).read_text())
    rows = {hole: {"gan_before": [], "gan_after": [], "pyramid_fill": [], "windows_after": [], "scaled_after": [],
                   "seconds_before": [], "seconds_after": []} for hole in HOLES}
    pictures = photos(Path(args.photos))
    for index, (name, image) in enumerate(pictures.items()):
        for hole_name, make in HOLES.items():
            mask = make(image.shape, index)
            after = inpaint.windows(mask, gan.image_size)
            row = rows[hole_name]
            mae, seconds = hole_mae(gan, image, mask, squashed(mask, gan.image_size))
            row["gan_before"].append(mae)
            row["seconds_before"].append(seconds)
            mae, seconds = hole_mae(gan, image, mask, after)
            row["gan_after"].append(mae)
            row["seconds_after"].append(seconds)
            row["pyramid_fill"].append(hole_mae(pyramid, image, mask, inpaint.windows(mask, None))[0])
            row["windows_after"].append(len(after))
            row["scaled_after"].append(sum(w.scale(gan.image_size) != (1.0, 1.0) for w in after))
            print(f"{name:28s} {image.shape[1]}x{image.shape[0]} {hole_name:11s} hole MAE gan before "
                  f"{row['gan_before'][-1]:6.2f} after {row['gan_after'][-1]:6.2f} ({len(after)} windows, "
                  f"{row['scaled_after'][-1]} scaled)  pyramid_fill {row['pyramid_fill'][-1]:6.2f}", flush=True)
    summary = {}
    for hole_name, row in rows.items():
        means = {key: round(float(np.mean(values)), 2) for key, values in row.items()}
        means["ratio_gan_to_pyramid_fill_before"] = round(means["gan_before"] / means["pyramid_fill"], 3)
        means["ratio_gan_to_pyramid_fill_after"] = round(means["gan_after"] / means["pyramid_fill"], 3)
        before, after = np.array(row["gan_before"]), np.array(row["gan_after"])
        means["after_better_on"], means["after_equal_on"] = int(np.sum(after < before)), int(np.sum(after == before))
        summary[hole_name] = means
        print(f"{hole_name}: hole MAE gan {means['gan_before']} before, {means['gan_after']} after; pyramid_fill "
              f"{means['pyramid_fill']}; gan / pyramid_fill {means['ratio_gan_to_pyramid_fill_before']} before, "
              f"{means['ratio_gan_to_pyramid_fill_after']} after; after better on {means['after_better_on']}, "
              f"the same on {means['after_equal_on']} of {len(pictures)} photos")
    result = {"photos": {name: list(image.shape[:2]) for name, image in pictures.items()},
              "photo_source": f"{args.photos} (at least {MIN_SIDE} px a side), skimage.data "
                              f"{', '.join(SKIMAGE_PHOTOS)}",
              "model": {"folder": str(model_dir), "kind": meta["kind"], "image_size": meta["image_size"],
                        "steps": meta.get("steps"), "hparams": meta["hparams"]},
              "metric": "hole mean absolute error in levels (0-255) of the uint8 fill against the photo, "
                        "mean over photos",
              "cpu_threads": os.cpu_count(), "holes": summary,
              "per_photo": {hole: {key: [round(v, 3) for v in values] for key, values in row.items()}
                            for hole, row in rows.items()}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
