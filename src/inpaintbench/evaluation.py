"""Evaluate one method (a trained model or a classical baseline) on the test split under one mask protocol.

Every test image is inpainted with its fixed mask of the protocol (from its id, the protocol and
the mask seed), the known pixels are checked to be the original ones, and per-image metrics are written. Inference time is measured per batch
after a one-image warm-up (so graph tracing is not counted) and shared out per image.
"""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import baselines, metrics, models, provenance
from .aggregate import defined_mean
from .data import tfrecords
from .data.masks import MaskSource, damage
from .logs import get_logger
from .runtime import set_threads

COLUMNS = ("id", "category", "hole_fraction", "psnr", "ssim", "hole_psnr", "hole_ssim", "l1", "hole_l1", "mse",
           "hole_mse", "seconds")
MEANS = ("hole_fraction", "psnr", "ssim", "hole_psnr", "hole_ssim", "l1", "hole_l1", "mse", "hole_mse")


def load_method(method: str, model_dir: str | Path | None):
    """(inpainter, kind): a baseline by name, or the trained model in `model_dir`."""
    if model_dir is None:
        return baselines.get(method), "baseline"
    inpainter = models.load(model_dir)  # a clear ModelLoadError for a bad folder
    return inpainter, json.loads((Path(model_dir) / models.META_FILE).read_text())["kind"]


def showcase_ids(records, count: int) -> list[str]:
    """`count` image ids from as many source photos as possible: (id, category) records grouped by
    category (the demo's source photo, Places' scene; an image without one is its own group),
    then one id of each group in turn, groups and ids in sorted order (so any read order agrees)."""
    groups: dict[str, list[str]] = {}
    for image_id, category in records:
        groups.setdefault(category or f"id:{image_id}", []).append(image_id)
    queues = [sorted(groups[key]) for key in sorted(groups)]
    chosen = []
    for depth in range(max(map(len, queues), default=0)):
        chosen += [queue[depth] for queue in queues if depth < len(queue)]
    return chosen[:count]


def image_filename(image_id: str) -> str:
    """A file name for an image id (ids are plain, but never trust them with a path)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", image_id) + ".png"


def _save_png(path: Path, image: np.ndarray) -> None:
    pixels = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    with provenance.atomic_path(path) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")


def inpaint(inpainter, images, masks, seed: int) -> np.ndarray:
    """Inpaint a batch; the original goes to the method only if its design reads it."""
    damaged = damage(images, masks)
    original = images if inpainter.needs_original else None
    return inpainter(damaged, masks, original=original, seed=seed)


def evaluate(method: str, test_paths, image_size: int, evaluation: dict, *, model_dir=None, masks=None,
             metrics_csv, summary_json, images_dir, log=None, config=None, threads=None) -> dict:
    """Write the per-image CSV, the summary JSON and the showcase PNGs of `method` on the test masks of
    `masks` (a MaskSource; default: the paper's square); return the summary."""
    masks = masks or MaskSource.default()
    logger = get_logger(f"evaluate.{masks.protocol}.{method}", log)
    set_threads(threads)
    try:
        return _evaluate(method, list(test_paths), image_size, evaluation, model_dir, masks,
                         Path(metrics_csv), Path(summary_json), Path(images_dir), logger, config)
    except Exception as error:
        logger.error("%s: %s", type(error).__name__, error)
        raise


def _evaluate(method, test_paths, image_size, evaluation, model_dir, masks, metrics_csv, summary_json,
              images_dir, logger, config) -> dict:
    inpainter, kind = load_method(method, model_dir)
    if inpainter.image_size not in (None, image_size):
        raise ValueError(f"{method}: model trained at {inpainter.image_size} px, test images are {image_size} px")
    limit, keep, seed = evaluation["limit"], evaluation["save_images"], evaluation["seed"]
    dataset = tfrecords.load_dataset(test_paths, evaluation["batch_size"], image_size, with_meta=True, masks=masks)
    images_dir.mkdir(parents=True, exist_ok=True)
    rows, saved, warmed = [], 0, False
    showcase = set(showcase_ids(tfrecords.read_ids(test_paths, limit), keep))  # PNGs kept: distinct photos
    logger.info("%s (%s%s): evaluating %s test images from %d file(s) with %s masks", method, kind,
                ", reads the original" if inpainter.needs_original else "", limit or "all", len(test_paths),
                masks.protocol)
    for batch_index, batch in enumerate(dataset):
        if limit is not None and len(rows) >= limit:
            break
        take = len(batch["id"]) if limit is None else min(len(batch["id"]), limit - len(rows))
        images, holes = batch["image"].numpy()[:take], batch["mask"].numpy()[:take]
        if not warmed:
            inpaint(inpainter, images[:1], holes[:1], seed)
            warmed = True
        start = time.perf_counter()
        outputs = inpaint(inpainter, images, holes, seed + batch_index)
        seconds = (time.perf_counter() - start) / take
        known = holes[..., 0] < 0.5
        if not np.array_equal(outputs[known], images[known]):
            raise AssertionError(f"{method}: the known pixels were changed by inpainting")
        values = metrics.all_metrics(images, outputs, holes)
        for i in range(take):
            image_id = batch["id"][i].numpy().decode()
            rows.append({"id": image_id, "category": batch["category"][i].numpy().decode(),
                         "hole_fraction": float(holes[i].mean()),
                         **{key: float(values[key][i]) for key in values}, "seconds": seconds})
            if image_id in showcase:
                _save_png(images_dir / image_filename(image_id), outputs[i])
                saved += 1
        logger.info("%s: %d images, %.1f ms/image in the last batch", method, len(rows), 1000 * seconds)
    if not rows:
        raise ValueError(f"{method}: the test split ({', '.join(map(str, test_paths))}) holds no image")

    with provenance.atomic_path(metrics_csv) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    summary = provenance.record(
        config, method=method, protocol=masks.protocol, kind=kind, needs_original=bool(inpainter.needs_original),
        n=len(rows),
        means={key: defined_mean([row[key] for row in rows]) for key in MEANS},
        hole_ssim_defined=int(np.count_nonzero(~np.isnan([row["hole_ssim"] for row in rows]))),
        inference_ms_per_image=1000.0 * float(np.mean([row["seconds"] for row in rows])),
        seed=seed, saved_images=saved, model_dir=str(model_dir) if model_dir else None,
    )
    provenance.write_json(summary_json, summary)
    logger.info("%s on %s: n=%d PSNR %.3f dB SSIM %.4f hole PSNR %.3f dB, %.1f ms/image -> %s", method,
                masks.protocol, len(rows), summary["means"]["psnr"], summary["means"]["ssim"], summary["means"]["hole_psnr"],
                summary["inference_ms_per_image"], metrics_csv)
    return summary
