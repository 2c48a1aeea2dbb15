"""Evaluate one method (a trained model or a classical baseline) on the test split under one mask protocol.

Every test image is inpainted with its fixed mask of the protocol (from its id, the protocol and
the mask seed), the known pixels are checked to be the original ones, and per-image metrics are
written. Inference time is measured per batch after a one-image warm-up (so graph tracing is not
counted) and shared out per image.

A slow method's evaluation can be split into chunks (config evaluation.chunks), each job a run of whole
batches of the test images in their fixed order (`chunk_span`), so that each batch, its seed and its
features' batches are the one job's, and inpaintbench.chunks merges them into exactly one job's files.

Distribution metrics (FID, KID, P-IDS/U-IDS) need features of whole images. `real_features` makes the
originals' once, in their own job: they do not depend on the mask protocol, and that job alone
fetches or loads the weights. Each evaluation then writes its inpaintings' features beside its
metrics, with the weights file the real features name (never fetched again), from one sample per
image: a model that averages several samples (diffusion, samples > 1) hands over the first it drew.
The metrics themselves are computed from these files by the aggregation (inpaintbench.aggregate),
not here: so editing KID's subsets or seed reruns the aggregation alone, never an evaluation's
inpainting, and they cost seconds per method next to the features' minutes.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import re
import time
from pathlib import Path

import numpy as np
from PIL import Image

from . import baselines, features, metrics, models, provenance
from .aggregate import defined_mean, known_means
from .data import tfrecords
from .data.images import to_uint8
from .data.masks import MaskSource, damage
from .logs import get_logger
from .models.base import Inpainter
from .runtime import set_threads

COLUMNS = ("id", "category", "hole_fraction", "psnr", "ssim", "hole_psnr", "hole_ssim", "l1", "hole_l1", "mse",
           "hole_mse", "sharpness", "known_change", "known_psnr", "seconds")
# What a summary says of the run besides its numbers (_facts), which a chunk's summary hands to the merge.
FACTS = ("method", "protocol", "kind", "needs_original", "seed", "model_dir", "scored")
MEANS = ("hole_fraction", "psnr", "ssim", "hole_psnr", "hole_ssim", "l1", "hole_l1", "mse", "hole_mse", "sharpness")


def inpainter_and_kind(method: str, model_dir: str | Path | None):
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


def save_png(path: Path, image: np.ndarray) -> None:
    pixels = to_uint8(image)
    with provenance.atomic_path(path) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")


def inpaint(inpainter, images, masks, seed: int) -> np.ndarray:
    """Inpaint a batch; the original goes to the method only if its design reads it."""
    return inpaint_with_one_sample(inpainter, images, masks, seed)[0]


def inpaint_with_one_sample(inpainter, images, masks, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(the inpainted batch, one sample of it): as `inpaint`, and the fill the distribution metrics score."""
    original = images if inpainter.needs_original else None
    return inpainter.with_one_sample(damage(images, masks), masks, original=original, seed=seed)


def scored_output(inpainter) -> str:
    """Which of a method's outputs the distribution metrics score, as the table states it."""
    samples = int((getattr(inpainter, "hparams", None) or {}).get("samples", 1))
    return f"one sample of {samples}" if samples > 1 else "the output"


def _original_batches(test_paths, image_size: int, limit: int | None, batch_size: int):
    """(ids, uint8 images) of the test split's first `limit` images, in the evaluation's order (which no
    batch size changes), `batch_size` at a time."""
    count = 0
    for batch in tfrecords.load_dataset(test_paths, batch_size, image_size, with_meta=True):
        take = len(batch["id"]) if limit is None else min(len(batch["id"]), limit - count)
        if take <= 0:
            break
        count += take
        yield [i.decode() for i in batch["id"].numpy()[:take]], to_uint8(batch["image"].numpy()[:take])


def real_features(test_paths, image_size: int, evaluation_cfg: dict, features_npz, *, log_path=None, params=None,
                  threads=None, extractor=None) -> features.Features:
    """Write the InceptionV3 features of the test split's original images (whole images, the first
    evaluation.limit, read in the network's batches: evaluation.batch_size plays no part) to
    `features_npz`, with the weights of evaluation.distribution.weights; when those cannot be had, a
    features file that says why (one log line), and no number anywhere.

    `params` (the rule's params slice) is recorded in the file as its config. `extractor` replaces the
    weights' loading: for tests only (a network with random weights).
    """
    logger = get_logger("real_features", log_path)
    set_threads(threads)
    settings = evaluation_cfg["distribution"]
    try:
        record = {"config": params}
        if extractor is None:
            try:
                path = features.resolve_weights(settings["weights"], report=logger.info)
                extractor = features.load_extractor(str(path), settings["batch_size"], report=logger.info)
            except features.WeightsUnavailable as error:
                logger.warning("FID, KID, P-IDS and U-IDS unavailable: %s", error)
                made = features.unavailable_features(str(error), **record)
                features.save_features(features_npz, made)
                return made
            record["weights_file"] = str(path)  # what the evaluations load, never fetching it again
        originals = _original_batches(list(test_paths), image_size, evaluation_cfg["limit"], extractor.batch_size)
        made = features.extract_features(extractor, originals, batch_size=extractor.batch_size, **record)
        features.save_features(features_npz, made)
        logger.info("features of %d test images (weights md5 %s) -> %s", len(made.ids), made.weights_md5,
                    features_npz)
        return made
    except Exception as error:
        logger.error("%s: %s", type(error).__name__, error)
        raise


def method_features(real_npz, one_samples, extractor, record: dict) -> features.Features:
    """Features of a method's one-sample inpaintings [(ids, uint8 images)], with the real features' weights;
    unavailable (with the real features' reason, or the weights file's) when there are none."""
    real = features.load_features(real_npz)
    if real.unavailable:
        return features.unavailable_features(real.unavailable, **record)
    if extractor is None:
        weights_file = real.provenance.get("weights_file")
        try:
            extractor = features.load_extractor(str(weights_file), real.provenance["batch_size"])
        except features.WeightsUnavailable as error:  # the file the real features came from is gone or changed
            return features.unavailable_features(str(error), **record)
    return features.extract_features(extractor, one_samples, **record)


@dataclasses.dataclass(kw_only=True)
class _Run:
    """One evaluate() call as it settled it: the method, its masks and settings, its showcase folder."""

    method: str
    inpainter: Inpainter
    kind: str  # the model's kind, or "baseline"
    masks: MaskSource
    evaluation_cfg: dict  # the config's evaluation section (no seed for a method that draws none)
    params: dict | None  # the rule's params slice, recorded in the summary
    model_dir: Path | None
    images_dir: Path
    logger: logging.Logger
    chunk: dict | None  # where the job's chunk lies (_chunk_of); None: the whole evaluation


def chunk_span(total: int, unit: int, chunk: int, chunks: int) -> tuple[int, int]:
    """(start, stop) of chunk `chunk` (1 to `chunks`) of `total` test images in their fixed order: contiguous,
    starting at a multiple of `unit` (whole batches: each batch, its seed and its images' features are the one
    job's), the units shared as evenly as possible; a chunk is empty when there are fewer units than chunks."""
    if not 1 <= chunk <= chunks:
        raise ValueError(f"chunk {chunk} of {chunks}: a chunk is numbered 1 to {chunks}")
    units = -(-total // unit)
    return (min(total, unit * (units * (chunk - 1) // chunks)), min(total, unit * (units * chunk // chunks)))


def _chunk_of(test_paths: list, settings: dict, chunk) -> dict | None:
    """Where chunk (k, n) of the first evaluation.limit test images lies: {chunk, chunks, start, stop, total}, in
    runs of whole batches of the evaluation and of the features (their least common multiple). None: no chunk."""
    if chunk is None:
        return None
    total = tfrecords.count_records(test_paths)
    if settings["limit"] is not None:
        total = min(total, settings["limit"])
    unit = math.lcm(settings["batch_size"], settings.get("distribution", {}).get("batch_size", 1))
    start, stop = chunk_span(total, unit, *chunk)
    return {"chunk": chunk[0], "chunks": chunk[1], "start": start, "stop": stop, "total": total}


def evaluate(method: str, test_paths, image_size: int, evaluation_cfg: dict, *, model_dir=None, masks=None,
             metrics_csv, summary_json, images_dir, log_path=None, params=None, threads=None,
             real_features_npz=None, features_npz=None, extractor=None, chunk=None) -> dict:
    """Write the per-image CSV, the summary JSON and the showcase PNGs of `method` on the test masks of
    `masks` (a MaskSource; default: the paper's square); return the summary. `params` (the rule's params
    slice) is recorded in the summary as its config. With `real_features_npz` (real_features' file), also
    the features of one sample per image to `features_npz`; `extractor` replaces the loading of that
    file's weights, for tests only. `evaluation_cfg` holds a seed only for a model whose kind draws
    with it (models.reads_seed): the rule leaves it out for the others, so its edit reruns none of them.
    With `chunk` (k, n), only chunk k of n (chunk_span): its rows, features and showcase PNGs, and a chunk
    summary (what the merge needs, no means), which inpaintbench.chunks merges into one job's files."""
    masks = masks or MaskSource.default()
    logger = get_logger(f"evaluate.{masks.protocol}.{method}", log_path)
    set_threads(threads)
    try:
        inpainter, kind = inpainter_and_kind(method, model_dir)
        if kind != "baseline" and models.reads_seed(kind) and evaluation_cfg.get("seed") is None:
            raise ValueError(f"{method}: kind {kind} draws with evaluation.seed, and none was given")
        if inpainter.image_size not in (None, image_size):
            raise ValueError(f"{method}: model trained at {inpainter.image_size} px, test images are {image_size} px")
        run = _Run(method=method, inpainter=inpainter, kind=kind, masks=masks, evaluation_cfg=evaluation_cfg,
                   params=params, model_dir=model_dir, images_dir=Path(images_dir), logger=logger,
                   chunk=_chunk_of(list(test_paths), evaluation_cfg, chunk))
        rows, one_samples, saved = _inpaint_test_split(run, list(test_paths), image_size,
                                                       keep_one_samples=real_features_npz is not None)
        write_rows(Path(metrics_csv), rows)
        made = None
        if real_features_npz is not None:
            made = _write_features(run, one_samples, Path(real_features_npz), Path(features_npz), extractor)
        if chunk is not None:
            summary = _chunk_summary(run, rows, saved)
        else:
            summary = summary_record(params, _facts(run), rows, saved, (features_npz, made))
        provenance.write_json(Path(summary_json), summary)
        _log_summary(run, summary, metrics_csv)
        return summary
    except Exception as error:
        logger.error("%s: %s", type(error).__name__, error)
        raise


def _log_summary(run: _Run, summary: dict, metrics_csv) -> None:
    if run.chunk is not None:
        run.logger.info("%s on %s, chunk %d of %d: test images [%d, %d) of %d, %d showcase PNGs -> %s", run.method,
                        run.masks.protocol, summary["chunk"], summary["chunks"], summary["start"], summary["stop"],
                        summary["total"], summary["saved_images"], metrics_csv)
        return
    means = summary["means"]
    run.logger.info("%s on %s: n=%d PSNR %.3f dB SSIM %.4f hole PSNR %.3f dB, %.1f ms/image -> %s", run.method,
                    run.masks.protocol, summary["n"], means["psnr"], means["ssim"], means["hole_psnr"],
                    summary["inference_ms_per_image"], metrics_csv)


def _inpaint_test_split(run: _Run, test_paths: list, image_size: int, keep_one_samples: bool):
    """Inpaint and score the job's test images (its chunk's, else the first evaluation.limit), batch by batch:
    (per-image rows, [(ids, uint8 one-sample images)] per batch if `keep_one_samples`, showcase PNGs saved).
    Batch i of the whole evaluation draws with evaluation.seed + i, whichever chunk it falls in."""
    settings = run.evaluation_cfg
    limit, seed = settings["limit"], settings.get("seed")
    start, stop = (run.chunk["start"], run.chunk["stop"]) if run.chunk else (0, limit)
    dataset = tfrecords.load_dataset(test_paths, settings["batch_size"], image_size, with_meta=True, masks=run.masks,
                                     span=(start, stop))
    run.images_dir.mkdir(parents=True, exist_ok=True)
    showcase = set(showcase_ids(tfrecords.read_ids(test_paths, limit), settings["save_images"]))  # distinct photos
    run.logger.info("%s (%s%s): evaluating test images [%d, %s) from %d file(s) with %s masks", run.method, run.kind,
                    ", reads the original" if run.inpainter.needs_original else "", start,
                    "end" if stop is None else stop, len(test_paths), run.masks.protocol)
    rows, one_samples, saved = [], [], 0
    for batch_index, batch in enumerate(dataset, start=start // settings["batch_size"]):
        if not rows:  # a one-image warm-up, so graph tracing is not timed
            inpaint(run.inpainter, batch["image"].numpy()[:1], batch["mask"].numpy()[:1], seed)
        batch_seed = None if seed is None else seed + batch_index
        batch_rows, outputs, one_sample = _score_batch(run, batch, batch_seed)
        rows += batch_rows
        if keep_one_samples:
            one_samples.append(([row["id"] for row in batch_rows], to_uint8(one_sample)))
        for row, output in zip(batch_rows, outputs):
            if row["id"] in showcase:
                save_png(run.images_dir / image_filename(row["id"]), output)
                saved += 1
        run.logger.info("%s: %d images, %.1f ms/image in the last batch", run.method, len(rows),
                        1000 * batch_rows[-1]["seconds"])
    if not rows and (run.chunk is None or run.chunk["total"] == 0):  # a chunk past the last batch is empty
        raise ValueError(f"{run.method}: the test split ({', '.join(map(str, test_paths))}) holds no image")
    return rows, one_samples, saved


def _score_batch(run: _Run, batch: dict, seed: int):
    """(per-image rows, inpainted images, one-sample images) of a batch, once the known pixels are checked
    to be the original ones; inference time shared out per image. Scored as 8-bit images, as a method's
    PNG files would be (inpaintbench.external): a round trip changes nothing."""
    images, holes = batch["image"].numpy(), batch["mask"].numpy()
    take = len(images)
    start = time.perf_counter()
    outputs, one_sample = inpaint_with_one_sample(run.inpainter, images, holes, seed)
    seconds = (time.perf_counter() - start) / take
    known = holes[..., 0] < 0.5
    if not np.array_equal(outputs[known], images[known]):
        raise AssertionError(f"{run.method}: the known pixels were changed by inpainting")
    originals, delivered = to_uint8(images), to_uint8(outputs)
    in_hole = holes[..., 0] >= 0.5
    change, change_psnr = metrics.known_pixel_change(originals, delivered, in_hole)
    values = metrics.all_metrics_8bit(originals, delivered, in_hole)
    rows = [{"id": batch["id"][i].numpy().decode(), "category": batch["category"][i].numpy().decode(),
             "hole_fraction": float(holes[i].mean()), **{key: float(values[key][i]) for key in values},
             "known_change": float(change[i]), "known_psnr": float(change_psnr[i]), "seconds": seconds}
            for i in range(take)]
    return rows, outputs, one_sample


def write_rows(metrics_csv: Path, rows: list[dict]) -> None:
    with provenance.atomic_path(metrics_csv) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)


def means(rows: list[dict]) -> dict:
    """The mean of every metric column (NaN hole SSIMs left out; an infinite known PSNR is its own mean)."""
    result = {key: defined_mean([row[key] for row in rows]) for key in MEANS}
    return {**result, **known_means([row["known_change"] for row in rows], [row["known_psnr"] for row in rows])}


def _facts(run: _Run) -> dict:
    """What the summary says of the run besides its numbers (FACTS; a chunk's summary hands them to the merge)."""
    return dict(zip(FACTS, (run.method, run.masks.protocol, run.kind, bool(run.inpainter.needs_original),
                            run.evaluation_cfg.get("seed"), str(run.model_dir) if run.model_dir else None,
                            scored_output(run.inpainter)), strict=True))


def summary_record(params: dict | None, facts: dict, rows: list[dict], saved: int, features_file) -> dict:
    """The summary JSON: provenance (`params` as its config), `facts` (_facts), the means and the inference
    time of `rows`, the showcase PNGs `saved`, and `features_file` (path, Features or None if none asked for)."""
    facts = dict(facts)
    scored = facts.pop("scored")
    summary = provenance.record(
        params, **facts, n=len(rows), means=means(rows),
        hole_ssim_defined=int(np.count_nonzero(~np.isnan([row["hole_ssim"] for row in rows]))),
        inference_ms_per_image=1000.0 * float(np.mean([row["seconds"] for row in rows])), saved_images=saved)
    path, made = features_file
    summary["distribution"] = {"scored": scored, "features": None, "n": 0, "unavailable": "no features asked for"}
    if made is not None:
        summary["distribution"].update(features=str(path), n=len(made.ids), unavailable=made.unavailable)
    return summary


def _chunk_summary(run: _Run, rows: list[dict], saved: int) -> dict:
    """A chunk's summary: the run's facts, which test images it evaluated and the showcase PNGs it saved."""
    return provenance.record(run.params, **_facts(run), **run.chunk, n=len(rows), saved_images=saved)


def _write_features(run: _Run, one_samples, real_npz: Path, features_npz: Path, extractor) -> features.Features:
    """Write the features of the one-sample inpaintings to `features_npz`; return them."""
    made = method_features(real_npz, one_samples, extractor,
                           {"config": run.params, "method": run.method, "protocol": run.masks.protocol})
    features.save_features(features_npz, made)
    run.logger.info("%s: features of %s for the distribution metrics: %s", run.method, scored_output(run.inpainter),
                    f"none ({made.unavailable})" if made.unavailable else f"{len(made.ids)} images")
    return made
