"""The frozen test set as files, per mask protocol: what another project's model inpaints, and the referee scores.

`<stem>.png` holds the RGB pixels the benchmark scores, `<stem>_mask.png` the protocol's hole (8-bit, one
channel, 0/255 in the polarity asked for), with stem = external.file_stem(id); manifest.csv lists every
image (sorted by id) with its category, hole fraction and the files' sha256, export.json what made it.
No time, host or PNG metadata goes in: the same config gives the same bytes, whatever the shard layout.
"""

from __future__ import annotations

import csv
import io
from importlib import metadata
from pathlib import Path

import numpy as np

from . import provenance
from .data import tfrecords
from .data.images import to_uint8
from .data.masks import MaskSource
from .external import EXPORT_JSON, MANIFEST, POLARITIES, ScoringSet, file_stem, mask_image, png_bytes, sha256
from .logs import get_logger, logged_errors
from .runtime import set_threads

MANIFEST_COLUMNS = ("id", "category", "hole_fraction", "image_file", "mask_file", "image_sha256", "mask_sha256")
POLARITY_MEANING = {"hole_white": "255 = hole, 0 = known (LaMa, LDM, mmagic)",
                    "keep_white": "255 = known, 0 = hole (MAT, MI-GAN, RePaint)"}


def _write(path: Path, data: bytes) -> str:
    with provenance.atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return sha256(data)


def _test_images(test_paths, image_size: int, masks: MaskSource, limit: int | None, batch_size: int = 32):
    """(id, category, uint8 image, boolean hole) of the test split's first `limit` images, as evaluation reads them."""
    count = 0
    for batch in tfrecords.load_dataset(test_paths, batch_size, image_size, with_meta=True, masks=masks):
        for image_id, category, image, mask in zip(batch["id"].numpy(), batch["category"].numpy(),
                                                   to_uint8(batch["image"].numpy()), batch["mask"].numpy()):
            if limit is not None and count >= limit:
                return
            count += 1
            yield image_id.decode(), category.decode(), image, mask[..., 0] >= 0.5


def scoring_set(test_paths, image_size: int, masks: MaskSource, limit: int | None) -> ScoringSet:
    """The test set an external method is scored on, read from the tfrecords exactly as the export writes it."""
    ids, categories, images, holes = zip(*_test_images(list(test_paths), image_size, masks, limit))
    return ScoringSet(list(ids), [file_stem(image_id) for image_id in ids], list(categories), np.stack(images),
                      np.stack(holes))


def export_record(params: dict, images: int) -> dict:
    """export.json: the protocol and its recipe, the mask seed and polarity, the data, the version and commit."""
    masks = params["masks"]
    return {"protocol": masks["protocol"], "recipe": masks["recipe"], "masks_seed": masks["seed"],
            "image_size": params["image_size"], "mask_polarity": params["mask_polarity"],
            "mask_values": POLARITY_MEANING[params["mask_polarity"]], "data": params["data"],
            "evaluation_limit": params["limit"], "images": images,
            "file_names": "<stem>.png and <stem>_mask.png, stem = the id percent-encoded (urllib.parse.quote, "
                          "safe=''; a leading '.' as %2E)",
            "inpaintbench_version": metadata.version("inpaintbench"), "git_commit": provenance.git_commit()}


def export_protocol(test_paths, out_dir, params: dict, *, log_path=None, threads=None) -> int:
    """Write the test set of one protocol to `out_dir` (see the module); return the number of images.

    `params` (the rule's): masks (protocol, recipe, seed), image_size, limit (evaluation.limit), mask_polarity,
    data (the data keys the test split depends on, recorded).
    """
    logger = get_logger(f"export.{params['masks']['protocol']}", log_path)
    set_threads(threads)
    with logged_errors(logger):
        if params["mask_polarity"] not in POLARITIES:
            raise ValueError(f"export.mask_polarity: {params['mask_polarity']!r}, not one of {', '.join(POLARITIES)}")
        out_dir = Path(out_dir)
        rows = []
        for image_id, category, image, hole in _test_images(list(test_paths), params["image_size"],
                                                            MaskSource(**params["masks"]), params["limit"]):
            stem = file_stem(image_id)
            rows.append({"id": image_id, "category": category, "hole_fraction": float(hole.mean()),
                         "image_file": f"{stem}.png", "mask_file": f"{stem}_mask.png",
                         "image_sha256": _write(out_dir / f"{stem}.png", png_bytes(image)),
                         "mask_sha256": _write(out_dir / f"{stem}_mask.png",
                                               png_bytes(mask_image(hole, params["mask_polarity"])))})
        if not rows:
            raise ValueError(f"the test split ({', '.join(map(str, test_paths))}) holds no image")
        rows.sort(key=lambda row: row["id"])
        _write(out_dir / MANIFEST, _manifest_bytes(rows))
        provenance.write_json(out_dir / EXPORT_JSON, export_record(params, len(rows)))
        logger.info("%s: %d test images and %s masks (%s) -> %s", params["masks"]["protocol"], len(rows),
                    params["mask_polarity"], POLARITY_MEANING[params["mask_polarity"]], out_dir)
        return len(rows)


def _manifest_bytes(rows: list[dict]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode()
