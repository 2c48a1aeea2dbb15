"""Fill holes in your own photos with a trained model or a baseline, at any image size.

A trained model works at its training resolution: the square region around the hole (with
enough context for the hole to cover about as much of it as in training) is scaled to that
resolution, inpainted, scaled back, and pasted into the hole only. Every pixel outside the
hole is returned exactly as it came in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from . import baselines, models
from .data.images import to_uint8
from .data.masks import box_mask
from .photos import InpaintError, output_format, read_mask, read_photo, write_photo

# The hole covers 35-50% of the side in training; a region of ~2.5x the hole's side matches.
CONTEXT = 2.5


@dataclass
class Inpainted:
    """What inpaint_file wrote: the file, the hole's size, and notes on formats and lossy writing."""

    path: Path
    hole_pixels: int
    image_pixels: int
    notes: list[str]
    warnings: list[str]


def load_inpainter(model: str | Path):
    """A baseline by name (black, mean_fill, biharmonic, pyramid_fill) or a trained model folder."""
    if str(model) in baselines.BASELINES:
        return baselines.get(str(model))
    if not Path(model).exists():
        raise InpaintError(f"--model {model}: no such model folder, and not a baseline "
                           f"({', '.join(baselines.BASELINES)})")
    try:
        return models.load(model)
    except models.ModelLoadError as error:
        raise InpaintError(str(error)) from error


def hole_of_box(box: str | tuple, shape) -> np.ndarray:
    """bool (H, W) hole of the command's --box x,y,w,h (its order: x first), which must lie inside the image."""
    try:
        x, y, w, h = (int(v) for v in (box.split(",") if isinstance(box, str) else box))
    except ValueError as error:
        raise InpaintError(f"--box {box!r}: expected four integers x,y,w,h") from error
    height, width = shape[:2]
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise InpaintError(f"--box {x},{y},{w},{h}: not inside the {width}x{height} image")
    return box_mask((y, x, h, w), (height, width)).astype(bool)


def _region(mask: np.ndarray, side_of_model: int | None):
    """(top, left, bottom, right) of the region inpainted around the hole.

    A square of CONTEXT times the hole's side centred on it, shifted to lie inside the image;
    cut to the image where the image is smaller (then scaled to the model's square).
    """
    rows, cols = np.nonzero(mask)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    height, width = mask.shape
    side = math.ceil(max(bottom - top, right - left) * CONTEXT)
    if side_of_model:
        side = max(side, side_of_model // 4)
    region_h, region_w = min(side, height), min(side, width)
    centre_y, centre_x = (top + bottom) // 2, (left + right) // 2
    y0 = int(np.clip(centre_y - region_h // 2, 0, height - region_h))
    x0 = int(np.clip(centre_x - region_w // 2, 0, width - region_w))
    return y0, x0, y0 + region_h, x0 + region_w


def _resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float (h, w, c) in [0, 1] resized to size=(width, height) with antialiasing."""
    channels = [Image.fromarray(channel.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS)
                for channel in np.moveaxis(array, -1, 0)]
    return np.clip(np.stack([np.asarray(c) for c in channels], axis=-1), 0.0, 1.0)


def refuse_answer_readers(method, let_model_read_the_answer: bool) -> None:
    """A paper-exact model reads the undamaged image; on a user's photo that is the answer itself."""
    if method.needs_original and not let_model_read_the_answer:
        raise InpaintError(
            f"{method.name}: a paper-exact model reads the undamaged image, so on your photo it is handed "
            "the very pixels the hole hides and its 'inpainting' shows them back; use the model's honest "
            "variant, or give --let-model-read-the-answer to see the leak")


def inpaint_image(method, image: np.ndarray, mask: np.ndarray, seed: int = 0,
                  let_model_read_the_answer: bool = False, **options) -> np.ndarray:
    """RGB image (uint8, or float32 in [0, 1]) with the `mask` hole filled by `method` (an Inpainter),
    in the dtype given; nothing else changes.

    A paper-exact model is refused unless `let_model_read_the_answer` (refuse_answer_readers).
    """
    refuse_answer_readers(method, let_model_read_the_answer)
    image = np.asarray(image)
    white = 255.0 if image.dtype == np.uint8 else 1.0
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise InpaintError("the mask is empty: there is no hole to fill")
    if mask.all():
        raise InpaintError("the mask covers the whole image: there is no context to fill it from")
    size = getattr(method, "image_size", None)
    y0, x0, y1, x1 = _region(mask, size)
    region = image[y0:y1, x0:x1].astype(np.float32) / white
    hole = mask[y0:y1, x0:x1, None].astype(np.float32)
    if size:
        small = _resize(region, (size, size))
        small_hole = (_resize(hole, (size, size)) > 0.01).astype(np.float32)
    else:
        small, small_hole = region, hole
    original = small[None] if method.needs_original else None
    try:
        filled = method(small[None] * (1.0 - small_hole[None]), small_hole[None], original=original,
                        seed=seed, **options)[0]
    except ValueError as error:  # an Inpainter's message names the method
        raise InpaintError(str(error)) from error
    if size:
        filled = _resize(filled, (x1 - x0, y1 - y0))
    out = image.copy()
    patch = to_uint8(filled) if image.dtype == np.uint8 else np.clip(filled, 0.0, 1.0).astype(image.dtype)
    region_hole = mask[y0:y1, x0:x1]
    out[y0:y1, x0:x1][region_hole] = patch[region_hole]
    return out


def inpaint_file(model, image_path, out_path, *, mask_path=None, box=None, seed: int = 0,
                 let_model_read_the_answer: bool = False, **options) -> Inpainted:
    """Read a photo and a mask (file or box), fill the hole, write the result atomically in the
    photo's own format (photos.py) as far as the output format holds it."""
    if (mask_path is None) == (box is None):
        raise InpaintError("give exactly one of a mask file or a box")
    out_path = Path(out_path)
    if out_path.is_dir():
        raise InpaintError(f"--out {out_path}: is a folder; --out names the image file to write")
    fmt = output_format(out_path)
    photo = read_photo(image_path)
    hole = read_mask(mask_path, photo) if mask_path is not None else hole_of_box(box, photo.pixels.shape)
    method = load_inpainter(model)
    rgb = inpaint_image(method, photo.rgb(), hole, seed=seed, let_model_read_the_answer=let_model_read_the_answer,
                        **options)
    notes, warnings = write_photo(photo.filled(rgb, hole), out_path, fmt, hole)
    return Inpainted(out_path, int(hole.sum()), hole.size, notes, warnings)
