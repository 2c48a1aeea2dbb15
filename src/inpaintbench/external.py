"""The referee: predictions made elsewhere scored by the benchmark's rules (its test set as files: inpaintbench.export).

One implementation for every caller (the `inpaintbench score` command, and the workflow's evaluation of
external methods): predictions are paired with test images by file name (the id), never by order; a
missing, unreadable or mis-sized file stops the scoring with one line naming the folder and the first
five files; grey and alpha are converted and said; the pixels a method changed outside the hole are
measured ("known-pixel change") and then pasted back, so that methods differ only inside holes; a folder
whose predictions look made with the other mask polarity is refused. Every image is scored as the 8-bit
file it is, with inpaintbench.metrics, the per-image metric set of inpaintbench.evaluation.

Names: an image id becomes a file stem by percent-encoding every character but letters, digits, '_', '-'
and '.' (and a leading '.'), so '/' is '%2F' and the mapping is reversible: urllib.parse.unquote gives
the id back.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
from PIL import Image

from . import evaluation, features, metrics, provenance
from .data import images as image_io

POLARITIES = ("hole_white", "keep_white")  # LaMa, LDM, mmagic: 255 = hole; MAT, MI-GAN, RePaint: 255 = keep
MASK_SUFFIX = "_mask"
MASK_NAME = re.compile(r"(?P<image>.+)_mask(?P<number>\d*)")  # <id>_mask, or LaMa's <id>_mask000, one per mask
MANIFEST = "manifest.csv"
EXPORT_JSON = "export.json"
NAMED = 5  # files named in an error line
KNOWN = ("known_change", "known_psnr")  # mean |prediction - input| outside the hole (0-255), and its PSNR
COLUMNS = ("id", "category", "hole_fraction", "psnr", "ssim", "hole_psnr", "hole_ssim", "l1", "hole_l1", "mse",
           "hole_mse", "sharpness", *KNOWN)
INVERTED_RATIO = 4.0  # the hole matches the input this many times better than the known pixels: inverted
INVERTED_MIN_CHANGE = 1.0  # ... and the known pixels moved by at least this much (0-255): not an identity
SCORE_BATCH = 32


class ExternalError(ValueError):
    """Files that cannot be scored; the message is one line naming the folder and the files."""


def file_stem(image_id: str) -> str:
    """The file stem of an image id: reversible (unquote), no '/', never hidden."""
    stem = quote(image_id, safe="")
    return "%2E" + stem[1:] if stem.startswith(".") else stem


def mask_image(hole: np.ndarray, polarity: str) -> np.ndarray:
    """uint8 mask (H, W), 0/255, from a boolean hole, white where `polarity` says."""
    white = hole if polarity == "hole_white" else ~hole
    return np.where(white, 255, 0).astype(np.uint8)


def hole_of(mask: np.ndarray, polarity: str) -> np.ndarray:
    """The boolean hole of an 8-bit mask of `polarity` (white: 128 and above)."""
    white = np.asarray(mask) >= 128
    return white if polarity == "hole_white" else ~white


def png_bytes(pixels: np.ndarray) -> bytes:
    """A PNG with no metadata (no time, no text chunks): the same pixels give the same bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _named(names) -> str:
    names = sorted(str(name) for name in names)
    return ", ".join(names[:NAMED]) + (f" and {len(names) - NAMED} more" if len(names) > NAMED else "")


def folder_images(folder: str | Path) -> list[Path]:
    """Every image file in `folder` (any image suffix), sorted: what a job scoring it reads."""
    if not Path(folder).is_dir():
        raise ExternalError(f"{folder}: no such folder")
    return image_io.image_paths(folder)


def image_files(folder: str | Path) -> dict[str, Path]:
    """stem -> file of every image file in `folder` (any image suffix); two files of one stem are an error."""
    folder = Path(folder)
    found: dict[str, list[Path]] = {}
    for path in folder_images(folder):
        found.setdefault(path.stem, []).append(path)
    twice = [name for paths in found.values() if len(paths) > 1 for name in sorted(p.name for p in paths)]
    if twice:
        raise ExternalError(f"{folder}: several files for one id, which to score is ambiguous: {_named(twice)}")
    return {stem: paths[0] for stem, paths in found.items()}


@dataclasses.dataclass
class ScoringSet:
    """The images a method is scored on: ids, the file stems their predictions have, categories, uint8 images,
    boolean holes."""

    ids: list[str]
    stems: list[str]  # file_stem(id) for the benchmark's own images; a foreign folder's names (LaMa's: the mask's)
    categories: list[str]
    images: np.ndarray  # (N, H, W, 3) uint8
    holes: np.ndarray  # (N, H, W) bool

    @property
    def size(self) -> int:
        return self.images.shape[1]


def _categories(folder: Path) -> dict[str, tuple[str, str]]:
    """stem -> (id, category) from an export's manifest.csv, if the folder holds one."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return {}
    with open(manifest, newline="") as handle:
        return {Path(row["image_file"]).stem: (row["id"], row["category"]) for row in csv.DictReader(handle)}


def _is_mask(stem: str, listing) -> bool:
    """A file beside the images named `<image stem>_mask` or `<image stem>_mask<N>` is a mask, never an image."""
    match = MASK_NAME.fullmatch(stem)
    return bool(match) and match["image"] in listing


def _samples(image_stems, images_dir: Path, masks_dir: Path) -> list[tuple[str, str, Path]]:
    """(image stem, sample stem, mask file) of every (image, mask) pair to score. One mask an image:
    `<stem>_mask.*` (the export's naming) or `<stem>.*` (MAT's, MI-GAN's), and the sample is the image's;
    LaMa's `<stem>_mask000.*`, `<stem>_mask001.*`, ...: one sample per mask, named (and predicted) as the mask."""
    masks = image_files(masks_dir)
    same = masks_dir.resolve() == images_dir.resolve()
    numbered: dict[str, list[str]] = {}
    for name in sorted(masks):
        match = MASK_NAME.fullmatch(name)
        if match and match["number"]:
            numbered.setdefault(match["image"], []).append(name)
    samples, mixed, missing = [], [], []
    for stem in image_stems:
        single = [name for name in (stem + MASK_SUFFIX, None if same else stem) if name in masks]
        several = numbered.get(stem, [])
        if len(single) + bool(several) > 1:
            mixed += [masks[name].name for name in single + several]
        elif single:
            samples.append((stem, stem, masks[single[0]]))
        elif several:
            samples += [(stem, name, masks[name]) for name in several]
        else:
            missing.append(stem + MASK_SUFFIX + ".png")
    if mixed:
        raise ExternalError(f"{masks_dir}: masks of two namings (<id>_mask, <id>_mask<N>, <id>) for one image, which "
                            f"to use is ambiguous: {_named(mixed)}")
    if missing:
        raise ExternalError(f"{masks_dir}: {len(missing)} mask(s) missing: {_named(missing)}")
    return samples


def read_test_folder(images_dir, masks_dir, polarity: str, size: int | None = None,
                     report: Callable[[str], None] = print) -> ScoringSet:
    """The test set of an image folder and a mask folder (an export's, or any project's), paired by name.

    Images are read as RGB of one square size (`size`, default the first image's); masks are 8-bit of
    the same size, read with `polarity`; an image with several masks (LaMa's layout) is scored once per mask.
    """
    images_dir, masks_dir = Path(images_dir), Path(masks_dir)
    listing = image_files(images_dir)
    stems = sorted(stem for stem in listing if not _is_mask(stem, listing))
    if not stems:
        raise ExternalError(f"{images_dir}: no image files")
    samples = _samples(stems, images_dir, masks_dir)
    known = _categories(images_dir)
    pixels, holes, wrong, binary, images = [], [], [], [], {}
    for stem, _, mask_path in samples:
        if stem not in images:
            images[stem] = _read_rgb(listing[stem], images_dir)
        image, mask = images[stem], _read_mask(mask_path, masks_dir)
        size = size or image.shape[0]
        for path, shape in ((listing[stem], image.shape), (mask_path, mask.shape)):
            if shape[:2] != (size, size):
                wrong.append(f"{path.name} ({shape[1]}x{shape[0]})")
        if mask.max() == 1:  # saved as the 0/1 array it was (MAT's and mmagic's masks are 0/1 in memory)
            binary.append(mask_path.name)
            mask = mask * np.uint8(255)
        pixels.append(image)
        holes.append(hole_of(mask, polarity))
    if wrong:
        raise ExternalError(f"{images_dir}: {len(set(wrong))} image(s) or mask(s) not {size}x{size} px: "
                            f"{_named(sorted(set(wrong)))}")
    if binary:
        report(f"{masks_dir}: {len(binary)} mask(s) hold only 0 and 1, read with 1 as white: {_named(binary)}")
    ids = [known.get(sample, (unquote(sample), ""))[0] for _, sample, _ in samples]
    categories = [known.get(stem, ("", ""))[1] for stem, _, _ in samples]
    return ScoringSet(ids, [sample for _, sample, _ in samples], categories, np.stack(pixels), np.stack(holes))


def _read_rgb(path: Path, folder: Path) -> np.ndarray:
    try:
        return np.asarray(image_io.to_rgb(image_io.load(path)), np.uint8)
    except image_io.BadImage as error:
        raise ExternalError(f"{folder}: unreadable: {path.name} ({error})") from None


def _read_mask(path: Path, folder: Path) -> np.ndarray:
    try:
        return np.asarray(image_io.load(path).convert("L"), np.uint8)
    except image_io.BadImage as error:
        raise ExternalError(f"{folder}: unreadable mask: {path.name} ({error})") from None


@dataclasses.dataclass
class _Converted:
    """What reading a prediction folder did besides decoding, by file name."""

    grey: list[str] = dataclasses.field(default_factory=list)
    alpha: list[str] = dataclasses.field(default_factory=list)
    resized: list[str] = dataclasses.field(default_factory=list)


def _prediction_rgb(image: Image.Image, name: str, done: _Converted) -> Image.Image:
    """RGB of a prediction: grey converted and alpha dropped (not composited: the colours are the method's)."""
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if len(image.getbands()) <= 2:
        done.grey.append(name)
    if "A" in image.getbands():
        done.alpha.append(name)
        return image.convert("RGBA").convert("RGB")
    return image_io.to_rgb(image)


def _prediction_files(folder: Path, stems: list[str], report: Callable[[str], None]) -> dict[str, Path]:
    """stem -> prediction file: `<stem>.*`, or LaMa's output naming `<stem>_mask.*`; files of other ids: a warning."""
    listing = image_files(folder)
    found, missing = {}, []
    for stem in stems:
        name = stem if stem in listing else stem + MASK_SUFFIX
        if name in listing:
            found[stem] = listing.pop(name)
        else:
            missing.append(stem + ".png")
    if missing:
        raise ExternalError(f"{folder}: {len(missing)} of {len(stems)} predictions missing: {_named(missing)}")
    if listing:
        report(f"warning: {folder}: {len(listing)} file(s) for ids outside the test set ignored: "
               f"{_named(path.name for path in listing.values())}")
    return found


def read_predictions(folder, stems: list[str], size: int, resize: bool = False,
                     report: Callable[[str], None] = print) -> np.ndarray:
    """uint8 (N, size, size, 3) predictions of `folder` in the order of `stems`, checked and converted.

    Unreadable files and sizes other than `size` (unless `resize`: then resized as the data stage resizes,
    image_io.square_resize) stop it with one line; grey, alpha and resizing are reported.
    """
    folder = Path(folder)
    files = _prediction_files(folder, stems, report)
    done, unreadable, wrong, pixels = _Converted(), [], [], []
    for stem in stems:
        path = files[stem]
        try:
            image = _prediction_rgb(image_io.load(path), path.name, done)
        except image_io.BadImage:
            unreadable.append(path.name)
            continue
        if image.size != (size, size):
            if not resize:
                wrong.append(f"{path.name} ({image.size[0]}x{image.size[1]})")
                continue
            done.resized.append(path.name)
            image = Image.fromarray(image_io.square_resize(image, size))
        pixels.append(np.asarray(image, np.uint8))
    if unreadable:
        raise ExternalError(f"{folder}: {len(unreadable)} unreadable prediction(s): {_named(unreadable)}")
    if wrong:
        raise ExternalError(f"{folder}: {len(wrong)} prediction(s) not {size}x{size} px (the test images' size; "
                            f"resize them, or ask for resizing): {_named(wrong)}")
    for names, what in ((done.grey, "grey, converted to RGB"), (done.alpha, "with alpha, alpha dropped"),
                        (done.resized, f"resized to {size}x{size} px (centre square, {image_io.RESAMPLE.name})")):
        if names:
            report(f"{folder}: {len(names)} prediction(s) {what}: {_named(names)}")
    return np.stack(pixels)


def check_polarity(test: ScoringSet, predictions: np.ndarray, folder, polarity: str, setting: str) -> None:
    """Stop when the predictions match the input inside the holes and differ from it outside: they were made
    with the masks read the other way round. `setting` is what the user changes to read them right."""
    if not test.holes.any() or test.holes.all():
        return
    difference = metrics.absolute_difference(test.images, predictions)
    in_hole = np.sum(difference * test.holes[..., None])
    channels = difference.shape[-1]
    inside = in_hole / (test.holes.sum() * channels)
    outside = (difference.sum() - in_hole) / ((~test.holes).sum() * channels)
    if outside >= INVERTED_MIN_CHANGE and inside * INVERTED_RATIO < outside:
        other = POLARITIES[1 - POLARITIES.index(polarity)]
        raise ExternalError(
            f"{folder}: the predictions match the input inside the holes (mean difference {inside:.2f} of 255) and "
            f"differ outside them ({outside:.2f}): the mask polarity looks inverted; the masks were read as "
            f"{polarity}: set {setting} {other} (or make the predictions again with masks of the polarity the "
            f"method expects)")


def score(test: ScoringSet, predictions: np.ndarray) -> tuple[list[dict], np.ndarray]:
    """(per-image rows, the pasted uint8 predictions): the known-pixel change, then every metric of the prediction
    with the known pixels pasted back (the benchmark's policy), on the 8-bit images, as inpaintbench.evaluation
    scores."""
    change, change_psnr = metrics.known_pixel_change(test.images, predictions, test.holes)
    pasted = np.where(test.holes[..., None], predictions, test.images)
    values = metrics.all_metrics_8bit(test.images, pasted, test.holes)
    fractions = test.holes.mean(axis=(1, 2), dtype=np.float32)  # as evaluation's float32 masks give it
    rows = [{"id": test.ids[i], "category": test.categories[i], "hole_fraction": float(fractions[i]),
             **{key: float(values[key][i]) for key in values},
             "known_change": float(change[i]), "known_psnr": float(change_psnr[i])} for i in range(len(test.ids))]
    return rows, pasted


def score_folder(test: ScoringSet, folder, *, polarity: str, setting: str, resize: bool = False,
                 report: Callable[[str], None] = print) -> tuple[list[dict], np.ndarray]:
    """(per-image rows, the pasted uint8 predictions) of the predictions in `folder` on `test`: read, checked
    (names, sizes, colour, polarity), scored. `setting` names the polarity setting an error should point to."""
    predictions = read_predictions(folder, test.stems, test.size, resize, report)
    check_polarity(test, predictions, folder, polarity, setting)
    rows, pasted = score(test, predictions)
    changed = sum(row["known_change"] > 0 for row in rows)
    if changed:
        report(f"{folder}: {changed} of {len(rows)} prediction(s) changed known pixels (mean "
               f"{np.mean([row['known_change'] for row in rows]):.3f} of 255); pasted back before scoring")
    return rows, pasted


def write_rows(path, rows: list[dict]) -> None:
    with provenance.atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)


TABLE = (("n", "n", 0), ("PSNR (dB)", "psnr", 3), ("SSIM", "ssim", 4), ("hole PSNR (dB)", "hole_psnr", 3),
         ("hole SSIM", "hole_ssim", 4), ("L1", "l1", 4), ("hole L1", "hole_l1", 4), ("sharpness", "sharpness", 3),
         ("known-pixel change (of 255)", "known_change", 3), ("known PSNR (dB)", "known_psnr", 2), ("FID", "fid", 2),
         ("KID", "kid_mean", 4), ("P-IDS", "p_ids", 3), ("U-IDS", "u_ids", 3))
CAPTION = ("Known pixels pasted back before scoring (the benchmark's policy for every method), so methods differ "
           "only inside the holes; known-pixel change is how much the method altered them before that (mean absolute "
           "difference on 0-255, and the PSNR of the known region against the input). PSNR, SSIM and L1 reward a "
           "blurred fill: read them beside sharpness and the distribution metrics, never alone.")


def _batches(ids, images):
    for start in range(0, len(ids), SCORE_BATCH):
        yield ids[start:start + SCORE_BATCH], images[start:start + SCORE_BATCH]


def distribution(test: ScoringSet, pasted: np.ndarray, weights: str | None, settings: dict,
                 report: Callable[[str], None] = print) -> dict:
    """FID, KID and P-IDS/U-IDS of the pasted predictions against the test images (features.distribution_metrics),
    or why there are none: no weights asked for (`weights` None) or none to be had."""
    if weights is None:
        reason = "no weights asked for"
    else:
        try:
            extractor = features.load_extractor(weights, settings["batch_size"], report=report)
        except features.WeightsUnavailable as error:
            reason = str(error)
        else:
            real = features.extract_features(extractor, _batches(test.ids, test.images))
            return features.distribution_metrics(real, features.extract_features(extractor, _batches(test.ids, pasted)),
                                                 settings)
    report(f"FID, KID, P-IDS and U-IDS unavailable: {reason}")
    return {**dict.fromkeys(features.DISTRIBUTION_METRICS), "n": 0,
            "unavailable": dict.fromkeys(features.DISTRIBUTION_METRICS, reason)}


def _cell(value, digits: int) -> str:
    if value is None:
        return "unavailable"
    return f"{value:.{digits}f}" if digits else str(value)


def to_markdown(name: str, summary: dict) -> str:
    """One row per method (here one): every metric side by side, the caption stating the pasting policy."""
    values = {**summary["means"], **summary["distribution"], "n": summary["n"]}
    header = "| method | " + " | ".join(title for title, _, _ in TABLE) + " |"
    rule = "|---|" + "---:|" * len(TABLE)
    row = f"| {name} | " + " | ".join(_cell(values.get(key), digits) for _, key, digits in TABLE) + " |"
    return "\n".join([header, rule, row]) + "\n\n" + CAPTION + "\n"


def score_command(images_dir, masks_dir, predictions_dir, out_dir, *, polarity: str = "hole_white",
                  size: int | None = None, weights: str | None = "imagenet", distribution_settings: dict,
                  report: Callable[[str], None] = print) -> dict:
    """`inpaintbench score`: score a folder of predictions on a test folder; write scores.csv, summary.json
    (with the provenance, and the export's export.json when the images are an export) and scores.md.
    `size`: the size predictions are resized to when they differ (default: none resized)."""
    test = read_test_folder(images_dir, masks_dir, polarity, size, report)
    report(f"{images_dir}: {len(test.ids)} test images of {test.size} px, masks read as {polarity}")
    rows, pasted = score_folder(test, predictions_dir, polarity=polarity, setting="--mask-polarity",
                                resize=size is not None, report=report)
    export = Path(images_dir) / EXPORT_JSON
    summary = provenance.record(
        {"images": str(images_dir), "masks": str(masks_dir), "predictions": str(predictions_dir),
         "mask_polarity": polarity, "size": size, "weights": weights},
        method=Path(predictions_dir).resolve().name, n=len(rows), means=evaluation.means(rows), known_pixels=CAPTION,
        export=json.loads(export.read_text()) if export.is_file() else None,
        distribution=distribution(test, pasted, weights, distribution_settings, report))
    out_dir = Path(out_dir)
    write_rows(out_dir / "scores.csv", rows)
    provenance.write_json(out_dir / "summary.json", summary)
    provenance.write_text(out_dir / "scores.md", to_markdown(summary["method"], summary))
    report(f"{predictions_dir}: n={len(rows)} PSNR {summary['means']['psnr']:.3f} dB, hole L1 "
           f"{summary['means']['hole_l1']:.4f}, sharpness {summary['means']['sharpness']:.3f}, known-pixel change "
           f"{summary['means']['known_change']:.3f} -> {out_dir}")
    return summary
