"""Fill holes in your own photos with a trained model or a baseline, at any image size.

A trained model works at its training resolution. The hole is filled piece by piece, each piece in
a square window of the model's image size around it at the photo's own pixel scale; only a part of
the hole too thick for that (more than 1/CONTEXT of the window's side, the share a training hole
covers) gets a larger window scaled down to the model's size (windows). The hole is blanked before
any scaling and the scaled mask marks hole wherever a hole pixel enters a scaled pixel, so the
pixels under the hole never reach a model. Every pixel outside the hole is returned exactly as it came in.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from . import baselines, models
from .data.images import to_uint8
from .data.masks import box_mask
from .photos import InpaintError, output_format, read_mask, read_photo, write_photo

# The hole covers 35-50% of the side in training; a window of ~2.5x the hole's side matches.
CONTEXT = 2.5
BATCH = 8  # windows per model call
NOTES = logging.getLogger("inpaintbench.inpaint")  # one line each; the CLI prints them


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


@dataclass(frozen=True)
class Window:
    """A rectangle of the photo filled in one model input: rows top:bottom, columns left:right.

    `part` (bool, the window's shape) is the hole pixels its fill is pasted into; every other hole
    pixel inside it is blanked too, but filled by its own window.
    """

    top: int
    left: int
    bottom: int
    right: int
    part: np.ndarray

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)

    def scale(self, image_size: int | None) -> tuple[float, float]:
        """(rows, columns) model pixels per photo pixel: 1 at the photo's own scale."""
        if not image_size:
            return 1.0, 1.0
        return image_size / (self.bottom - self.top), image_size / (self.right - self.left)


def window_around(rows: slice, cols: slice, shape, side: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of a square of `side` centred on rows x cols, shifted to lie inside
    an image of `shape` and cut to it where the image is smaller."""
    height, width = shape[:2]
    region_h, region_w = min(side, height), min(side, width)
    top = int(np.clip((rows.start + rows.stop) // 2 - region_h // 2, 0, height - region_h))
    left = int(np.clip((cols.start + cols.stop) // 2 - region_w // 2, 0, width - region_w))
    return top, left, top + region_h, left + region_w


def _cells(labels: np.ndarray, label: int, rows: slice, cols: slice, cell: int, side: int) -> list[Window]:
    """Part `label` of `labels` cut into cells of `cell` px along its box, each with a window of `side` px
    centred on it, into which the part's pixels in the cell are pasted."""
    found = []
    for top in range(rows.start, rows.stop, cell):
        for left in range(cols.start, cols.stop, cell):
            cell_rows, cell_cols = slice(top, min(top + cell, rows.stop)), slice(left, min(left + cell, cols.stop))
            inside = labels[cell_rows, cell_cols] == label
            if inside.any():
                y0, x0, y1, x1 = window_around(cell_rows, cell_cols, labels.shape, side)
                part = np.zeros((y1 - y0, x1 - x0), bool)
                part[top - y0:cell_rows.stop - y0, left - x0:cell_cols.stop - x0] = inside
                found.append(Window(y0, x0, y1, x1, part))
    return found


def windows(mask: np.ndarray, image_size: int | None) -> list[Window]:
    """The windows that fill `mask`; each hole pixel is pasted from exactly one.

    A baseline (it works at any size): one window around the whole hole. A model of `image_size`:
    each connected part (8-neighbours) is cut into cells of 1/CONTEXT of a window's side, each filled
    in a window centred on it, as a training hole sits in its image. The window is the model's size
    at the photo's scale unless the part is thicker than a cell (twice its deepest pixel's distance
    to a known one): then it grows to CONTEXT times that thickness and is scaled down to the model's
    size. A long thin stroke is thus filled at the photo's scale, a large blob scaled as it must be.
    """
    if not image_size:
        ((rows, cols),) = ndimage.find_objects(mask.astype(np.int8))
        side = math.ceil(max(rows.stop - rows.start, cols.stop - cols.start) * CONTEXT)
        top, left, bottom, right = window_around(rows, cols, mask.shape, side)
        return [Window(top, left, bottom, right, mask[top:bottom, left:right])]
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    depths = ndimage.maximum(ndimage.distance_transform_edt(mask), labels, index=np.arange(1, count + 1))
    found = []
    for label, ((rows, cols), depth) in enumerate(zip(ndimage.find_objects(labels), np.atleast_1d(depths)), start=1):
        cell = max(int(image_size / CONTEXT), math.ceil(2 * depth))
        found += _cells(labels, label, rows, cols, cell, max(image_size, math.ceil(cell * CONTEXT)))
    return found


def _resample(array: np.ndarray, size: tuple[int, int], resample=Image.Resampling.BILINEAR) -> np.ndarray:
    """float32 (h, w, c) resized to size=(width, height), channel by channel (antialiased when shrinking)."""
    channels = [Image.fromarray(np.ascontiguousarray(channel, np.float32), mode="F").resize(size, resample)
                for channel in np.moveaxis(array, -1, 0)]
    return np.stack([np.asarray(c, np.float32) for c in channels], axis=-1)


def blanked_input(pixels: np.ndarray, hole: np.ndarray, size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(damaged, mask) of a window (float (h, w, 3), bool (h, w)) as a model of `size` reads them.

    The hole is zeroed first; scaling is bilinear (non-negative weights), and a scaled pixel is hole
    wherever any hole pixel has weight in it, so each known scaled pixel is a mean of known pixels
    only: the pixels under the hole cannot reach the model, however they are scaled.
    """
    hole = hole[..., None].astype(np.float32)
    damaged = pixels * (1.0 - hole)
    if size and damaged.shape[:2] != (size, size):
        hole = (_resample(hole, (size, size)) > 0).astype(np.float32)
        damaged = np.clip(_resample(damaged, (size, size)), 0.0, 1.0) * (1.0 - hole)
    return damaged, hole


def refuse_answer_readers(method, let_model_read_the_answer: bool) -> None:
    """A paper-exact model reads the undamaged image; on a user's photo that is the answer itself."""
    if method.needs_original and not let_model_read_the_answer:
        raise InpaintError(
            f"{method.name}: a paper-exact model reads the undamaged image, so on your photo it is handed "
            "the very pixels the hole hides and its 'inpainting' shows them back; use the model's honest "
            "variant, or give --let-model-read-the-answer to see the leak")


def _unit_float(image: np.ndarray) -> np.ndarray:
    """float32 (H, W, 3) in [0, 1] of a uint8 or float image, which must be RGB."""
    if image.ndim != 3 or image.shape[-1] != 3:
        raise InpaintError(f"the image is {image.shape}: expected RGB (height, width, 3)")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if not np.issubdtype(image.dtype, np.floating):
        raise InpaintError(f"the image is {image.dtype}: expected uint8, or float in [0, 1]")
    return image.astype(np.float32)


def _note_scales(method, found: list[Window]) -> None:
    """One line when a part of the hole is filled at another scale than the photo's, saying which."""
    scales = [window.scale(method.image_size) for window in found if window.scale(method.image_size) != (1.0, 1.0)]
    if scales:
        shown = ", ".join(f"{y:.2f}" if y == x else f"{y:.2f} x {x:.2f} (rows x columns)"
                          for y, x in sorted(set(scales)))
        NOTES.info("%s: %d of %d window(s) filled at scale %s of the photo (the model works at %d px; a window "
                   "is scaled to it where a part is thicker than %.0f%% of it or the photo is smaller)",
                   method.name, len(scales), len(found), shown, method.image_size, 100 / CONTEXT)


def fill_windows(method, pixels: np.ndarray, mask: np.ndarray, found: list[Window], seed: int = 0,
                 **options) -> np.ndarray:
    """float32 fill of `pixels` (H, W, 3) in [0, 1] for every hole pixel (elsewhere `pixels`): each
    window's input is blanked and scaled by blanked_input, its fill scaled back and pasted into its part."""
    size = getattr(method, "image_size", None)
    out = pixels.copy()
    for start in range(0, len(found), BATCH if size else 1):
        batch = found[start:start + (BATCH if size else 1)]
        inputs = [blanked_input(pixels[w.slices], mask[w.slices], size) for w in batch]
        damaged, holes = (np.stack(arrays) for arrays in zip(*inputs))
        original = (np.stack([blanked_input(pixels[w.slices], np.zeros_like(w.part), size)[0] for w in batch])
                    if method.needs_original else None)
        try:
            filled = method(damaged, holes, original=original, seed=seed, **options)
        except ValueError as error:  # an Inpainter's message names the method
            raise InpaintError(str(error)) from error
        for window, fill in zip(batch, filled):
            height, width = window.part.shape
            if fill.shape[:2] != (height, width):
                fill = np.clip(_resample(fill, (width, height), Image.Resampling.LANCZOS), 0.0, 1.0)
            out[window.slices][window.part] = fill[window.part]
    return out


def inpaint_image(method, image: np.ndarray, mask: np.ndarray, seed: int = 0,
                  let_model_read_the_answer: bool = False, **options) -> np.ndarray:
    """`image` (RGB, uint8 or float in [0, 1]) with the `mask` hole filled by `method` (an Inpainter), in
    the dtype it came in; every pixel outside the hole is returned exactly as given. A model fills each
    part of the hole at the photo's scale where it fits (windows); a line on the NOTES logger says when not.

    A paper-exact model is refused unless `let_model_read_the_answer` (refuse_answer_readers).
    """
    refuse_answer_readers(method, let_model_read_the_answer)
    image = np.asarray(image)
    pixels = _unit_float(image)
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise InpaintError("the mask is empty: there is no hole to fill")
    if mask.all():
        raise InpaintError("the mask covers the whole image: there is no context to fill it from")
    found = windows(mask, getattr(method, "image_size", None))
    _note_scales(method, found)
    filled = fill_windows(method, pixels, mask, found, seed=seed, **options)
    out = image.copy()
    fill = np.clip(filled[mask], 0.0, 1.0)
    out[mask] = to_uint8(fill) if image.dtype == np.uint8 else fill.astype(image.dtype)
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
