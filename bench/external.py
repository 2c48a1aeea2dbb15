"""Benchmark: scoring a folder of predictions made elsewhere (`inpaintbench score`'s work) against decoding its PNGs.

A folder like `snakemake export`'s (demo photos, LaMa-thick masks, hole_white) and a prediction folder (the holes
filled with noise) at 128 and 256 px; measured in one run, per CPU second of this process (all its threads;
robust to other work on a shared machine), best of `--repeats`:
  decode:  Pillow decoding every PNG the scorer reads (image, mask, prediction per id) to arrays;
  score:   external.read_test_folder + external.score_folder (pairing, checks, known-pixel change, pasting,
           every per-image metric), without distribution features; and the share of it that is
           metrics.ssim_map_8bit alone (the scorer's SSIM, exact integer window sums, image by image as
           metrics.all_metrics_8bit computes it);
  features: the same with InceptionV3 features of the originals and the predictions, only when Keras's weights
           are in its cache (never fetched here); otherwise the JSON says so.
Prints images/s and the ratio score/decode time (target: at most 3). Writes bench/results/external.json.

    python bench/external.py [--count 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from inpaintbench import external, features, metrics, provenance  # noqa: E402
from inpaintbench.config import default_masks  # noqa: E402
from inpaintbench.data import masks, sources  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "external.json"
SIZES = (128, 256)
PROTOCOL = "lama_thick"


def make_folders(folder: Path, size: int, count: int) -> tuple[Path, Path]:
    """(test folder, predictions folder) of `count` demo crops at `size` px, as the export and a method write them."""
    test, predicted = folder / "test", folder / "predicted"
    test.mkdir(parents=True)
    predicted.mkdir()
    listing = sources.list_demo([1.0, 0.7, 0.5, 0.35], 4)
    recipe, rng = default_masks()["protocols"][PROTOCOL], np.random.default_rng(0)
    with sources.Reader(None, size) as reader:
        for i in range(count):
            row = listing.rows[i % len(listing.rows)]
            image, stem = reader.read(row), external.file_stem(f"{row['id']}-{i}")
            hole = masks.protocol_mask(stem, size, PROTOCOL, recipe, 1234).astype(bool)
            prediction = image.copy()
            prediction[hole] = rng.integers(0, 256, (int(hole.sum()), 3))
            Image.fromarray(image).save(test / f"{stem}.png")
            Image.fromarray(external.mask_image(hole, "hole_white")).save(test / f"{stem}_mask.png")
            Image.fromarray(prediction).save(predicted / f"{stem}.png")
    return test, predicted


def cpu_seconds(function, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        function()
        best = min(best, time.process_time() - start)
    return best


def decode_all(test: Path, predicted: Path) -> None:
    for folder in (test, predicted):
        for path in sorted(folder.glob("*.png")):
            with Image.open(path) as image:
                np.asarray(image)


def score(test: Path, predicted: Path, weights: str | None) -> None:
    data = external.read_test_folder(test, test, "hole_white")
    _, pasted = external.score_folder(data, predicted, polarity="hole_white", setting="--mask-polarity",
                                      report=lambda line: None)
    if weights:
        settings = {"batch_size": 32, "kid_subsets": 10, "kid_subset_size": 50, "seed": 0}
        external.distribution(data, pasted, weights, settings, report=lambda line: None)


def measure(size: int, count: int, repeats: int, weights: str | None) -> dict:
    """Images/s of decoding and of scoring (and with features if `weights`) a folder of `count` images at `size` px."""
    with tempfile.TemporaryDirectory() as folder:
        test, predicted = make_folders(Path(folder), size, count)
        score(test, predicted, None)  # warm-up: TensorFlow's start and graph building are not timed
        decode = cpu_seconds(lambda: decode_all(test, predicted), repeats)
        scoring = cpu_seconds(lambda: score(test, predicted, None), repeats)
        data = external.read_test_folder(test, test, "hole_white")
        pasted = external.read_predictions(predicted, data.stems, size, report=lambda line: None)
        reference, filled = data.images.astype(np.int32), pasted.astype(np.int32)
        ssim = cpu_seconds(lambda: [metrics.ssim_map_8bit(reference[i], filled[i]) for i in range(count)], repeats)
        result = {"decode_images_per_s": round(count / decode, 1), "score_images_per_s": round(count / scoring, 1),
                  "score_over_decode": round(scoring / decode, 2), "ssim_map_share_of_score": round(ssim / scoring, 2)}
        if weights:
            result["score_with_features_images_per_s"] = round(
                count / cpu_seconds(lambda: score(test, predicted, weights), 1), 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cached = features.keras_cache() / "models" / features.WEIGHTS_FILE
    weights = str(cached) if cached.is_file() else None
    sizes = {}
    for size in SIZES:
        sizes[str(size)] = result = measure(size, args.count, args.repeats, weights)
        print(f"{size} px: decode {result['decode_images_per_s']} images/s, score {result['score_images_per_s']} "
              f"images/s: {result['score_over_decode']}x the decode time (target <= 3); the SSIM map "
              f"{result['ssim_map_share_of_score']:.0%} of the scoring")
    record = provenance.record(
        vars(args), protocol=PROTOCOL, clock="CPU seconds of this process (all threads), best of repeats",
        decode="Pillow decode of the image, mask and prediction PNG of every id", sizes=sizes, target_ratio=3.0,
        features=("measured with " + str(cached)) if weights else
        f"not measured: no InceptionV3 weights in the Keras cache ({cached}); the benchmark never fetches them")
    provenance.write_json(RESULT, record)
    print(f"features: {record['features']}\n-> {RESULT}")


if __name__ == "__main__":
    main()
