"""Merge the chunks of one (protocol, method)'s evaluation (config evaluation.chunks) into exactly the files one
job writes: the per-image CSV in the test images' order, the summary with the means of every row, the
features in the same order and the showcase PNGs (each chunk saved those of the whole split's showcase that
fall in it). Each chunk evaluated a run of whole batches with the seeds one job gives them
(evaluation.chunk_span), so every number is one job's but the measured `seconds` (and the summary's
inference time, their mean).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

from . import features, provenance
from .evaluation import COLUMNS, FACTS, summary_record, write_rows
from .logs import get_logger

TEXT_COLUMNS = ("id", "category")


@dataclasses.dataclass(frozen=True)
class Chunk:
    """The files one chunk job wrote (rules/evaluate.smk's evaluate_chunk); `features` None when none asked for."""

    metrics: Path
    summary: Path
    features: Path | None
    images: Path


def merge_chunks(chunks: list[Chunk], *, params, metrics_csv, summary_json, features_npz=None, images_dir,
                 log_path=None) -> dict:
    """Write one job's CSV, summary, features (if the chunks have them) and showcase PNGs from `chunks`, in
    order: chunk 1 of n to n of n of one method on one protocol, made with `params` (the rule's params slice,
    the one job's, recorded as the summary's config); return the summary. Stale or missing chunks (another
    config, a gap, a chunk of another split) stop it with a ValueError naming the file."""
    logger = get_logger("evaluate.merge", log_path)
    try:
        summaries = [json.loads(Path(chunk.summary).read_text()) for chunk in chunks]
        _check_chunks(chunks, summaries, params)
        rows = _merge_rows([chunk.metrics for chunk in chunks], Path(metrics_csv), summaries)
        saved = _merge_images([chunk.images for chunk in chunks], Path(images_dir))
        facts = {key: summaries[0][key] for key in FACTS}
        made = None
        if features_npz is not None:
            made = features.concatenate([features.load_features(chunk.features) for chunk in chunks],
                                        config=params, method=facts["method"], protocol=facts["protocol"])
            features.save_features(features_npz, made)
        summary = summary_record(params, facts, rows, saved, (features_npz, made))
        provenance.write_json(Path(summary_json), summary)
        logger.info("%s on %s: %d chunks merged, n=%d PSNR %.3f dB, %d showcase PNGs, features: %s -> %s",
                    facts["method"], facts["protocol"], len(chunks), len(rows), summary["means"]["psnr"], saved,
                    summary["distribution"]["unavailable"] or summary["distribution"]["n"], metrics_csv)
        return summary
    except Exception as error:
        logger.error("%s: %s", type(error).__name__, error)
        raise


def _check_chunks(chunks: list[Chunk], summaries: list[dict], params) -> None:
    """Chunks 1 to n of n, one after the other over the same test images, of one method made with `params`."""
    stop = 0
    for number, (chunk, summary) in enumerate(zip(chunks, summaries, strict=True), start=1):
        where = f"{chunk.summary}: chunk {summary.get('chunk')} of {summary.get('chunks')}"
        if (summary.get("chunk"), summary.get("chunks")) != (number, len(chunks)):
            raise ValueError(f"{where}, expected chunk {number} of {len(chunks)}")
        if summary["config"] != params:
            raise ValueError(f"{where} was made with another config than the merge's (a stale chunk)")
        mismatch = [key for key in (*FACTS, "total") if summary[key] != summaries[0][key]]
        if mismatch:
            raise ValueError(f"{where}: {', '.join(mismatch)} differ from chunk 1's")
        if summary["start"] != stop:
            raise ValueError(f"{where} starts at test image {summary['start']}, the chunk before stops at {stop}")
        stop = summary["stop"]
    if stop != summaries[-1]["total"]:
        raise ValueError(f"{chunks[-1].summary}: the last chunk stops at test image {stop} of "
                         f"{summaries[-1]['total']}")


def _merge_rows(paths: list[Path], metrics_csv: Path, summaries: list[dict]) -> list[dict]:
    """Write the chunks' rows, as they are, one after the other; return them with numbers for the means."""
    rows = []
    for path, summary in zip(paths, summaries, strict=True):
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            chunk_rows = list(reader)
        if tuple(reader.fieldnames or ()) != COLUMNS or len(chunk_rows) != summary["stop"] - summary["start"]:
            raise ValueError(f"{path}: {len(chunk_rows)} rows of columns {reader.fieldnames}, expected "
                             f"{summary['stop'] - summary['start']} of {', '.join(COLUMNS)}")
        rows += chunk_rows
    write_rows(metrics_csv, rows)
    return [{key: value if key in TEXT_COLUMNS else float(value) for key, value in row.items()} for row in rows]


def _merge_images(folders: list[Path], images_dir: Path) -> int:
    """Copy every chunk's showcase PNGs into `images_dir` (nothing else: Snakemake marks a folder output with a
    hidden timestamp file); return how many."""
    images_dir.mkdir(parents=True, exist_ok=True)
    copied = 0
    for folder in folders:
        for path in sorted(Path(folder).glob("*.png")):
            if (images_dir / path.name).exists():
                raise ValueError(f"{path}: a showcase image of that name came from an earlier chunk")
            with provenance.atomic_path(images_dir / path.name) as tmp:
                shutil.copyfile(path, tmp)
            copied += 1
    return copied
