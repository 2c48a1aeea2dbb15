"""The workflow's evaluation of an external method: predictions made elsewhere, one folder per protocol.

The job writes what inpaintbench.evaluation writes for our own methods (the per-image CSV, the summary
JSON, the features of the predictions and the showcase PNGs), so the tables, tests, figures and the
front page read an external method like any other. The reading, checks, known-pixel policy and scoring
are inpaintbench.external's, shared with `inpaintbench score`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from . import external, features, provenance
from .data.masks import MaskSource
from .evaluation import image_filename, means, method_features, save_png, showcase_ids
from .export import scoring_set
from .logs import get_logger, logged_errors
from .runtime import set_threads

KIND = "external"  # the summary's and the tables' kind of a method scored from files
SCORED = "the predictions"  # which output the distribution metrics score
POLARITY_SETTING = "export.mask_polarity"  # what to change when the predictions look made with inverted masks


def check_external(method: str, folder, test_paths, params: dict, *, check_json, log_path=None,
                   threads=None) -> int:
    """Read and check the predictions in `folder` as evaluate_external reads them (names, sizes, colour, polarity)
    and write what was checked to `check_json`; return the number of predictions. Its own job, so that a folder
    that fails leaves the method's earlier scores in place (Snakemake removes a job's outputs before it runs)."""
    masks = MaskSource(**params["masks"])
    logger = get_logger(f"check.{masks.protocol}.{method}", log_path)
    set_threads(threads)
    with logged_errors(logger):
        test = scoring_set(test_paths, params["image_size"], masks, params["evaluation"]["limit"])
        predictions = external.read_predictions(folder, test.stems, test.size, params["external"]["resize"],
                                                report=logger.info)
        external.check_polarity(test, predictions, folder, params["mask_polarity"], POLARITY_SETTING)
        provenance.write_json(check_json, provenance.record(params, method=method, protocol=masks.protocol,
                                                            predictions=str(folder), n=len(test.ids)))
        logger.info("%s on %s: %d predictions in %s read and checked", method, masks.protocol, len(test.ids), folder)
        return len(test.ids)


def evaluate_external(method: str, folder, test_paths, params: dict, *, metrics_csv, summary_json, features_npz,
                      images_dir, real_features_npz, log_path=None, threads=None, extractor=None) -> dict:
    """Score the predictions in `folder` on the test split with the protocol's masks; write the per-image CSV,
    the summary, the features and the showcase PNGs; return the summary. `params` (the rule's): masks
    (protocol, recipe, seed), image_size, evaluation (limit, save_images), external (this method's entry),
    mask_polarity (the export's, which the predictions were made from). `extractor`: for tests only."""
    masks = MaskSource(**params["masks"])
    logger = get_logger(f"evaluate.{masks.protocol}.{method}", log_path)
    set_threads(threads)
    with logged_errors(logger):
        test = scoring_set(test_paths, params["image_size"], masks, params["evaluation"]["limit"])
        logger.info("%s (external, %s): scoring %d predictions in %s with %s masks", method,
                    params["external"]["family"], len(test.ids), folder, masks.protocol)
        rows, pasted = external.score_folder(test, folder, polarity=params["mask_polarity"],
                                             setting=POLARITY_SETTING, resize=params["external"]["resize"],
                                             report=logger.info)
        external.write_rows(metrics_csv, rows)
        saved = _save_showcase(test, pasted, params["evaluation"]["save_images"], Path(images_dir))
        made = method_features(real_features_npz, _batches(test.ids, pasted), extractor,
                               {"config": params, "method": method, "protocol": masks.protocol})
        features.save_features(features_npz, made)
        summary = provenance.record(
            params, method=method, protocol=masks.protocol, kind=KIND, family=params["external"]["family"],
            description=params["external"]["description"], predictions=str(folder), needs_original=False,
            n=len(rows), means=means(rows), known_pixels=external.CAPTION,
            hole_ssim_defined=sum(math.isfinite(row["hole_ssim"]) for row in rows),
            inference_ms_per_image=math.nan, seed=None, saved_images=saved, model_dir=None,
            distribution={"scored": SCORED, "features": str(features_npz), "n": len(made.ids),
                          "unavailable": made.unavailable})
        provenance.write_json(summary_json, summary)
        logger.info("%s on %s: n=%d PSNR %.3f dB SSIM %.4f hole PSNR %.3f dB, known-pixel change %.3f -> %s", method,
                    masks.protocol, len(rows), summary["means"]["psnr"], summary["means"]["ssim"],
                    summary["means"]["hole_psnr"], summary["means"]["known_change"], metrics_csv)
        return summary


def _batches(ids: list[str], images: np.ndarray):
    return [(ids[start:start + external.SCORE_BATCH], images[start:start + external.SCORE_BATCH])
            for start in range(0, len(ids), external.SCORE_BATCH)]


def _save_showcase(test: external.ScoringSet, pasted: np.ndarray, count: int, images_dir: Path) -> int:
    """The same showcase images our methods save (evaluation.showcase_ids), named as theirs are."""
    images_dir.mkdir(parents=True, exist_ok=True)
    chosen = set(showcase_ids(zip(test.ids, test.categories), count))
    for image_id, image in zip(test.ids, pasted):
        if image_id in chosen:
            save_png(images_dir / image_filename(image_id), image / 255.0)  # 8-bit in, 8-bit out
    return len(chosen)
