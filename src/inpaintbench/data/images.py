"""Decode any image file to an RGB square of the benchmark's size."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

RESAMPLE = Image.Resampling.LANCZOS  # antialiased downscaling
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}
MAX_ENLARGEMENT = 4  # an image's shorter side is at least 1/4 of the benchmark's (min_side)
WHITE_16 = 65535  # white of a 16-bit pixel
DEEP_GREY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")  # Pillow's one-channel modes over 8 bits


def image_paths(folder) -> list[Path]:
    """Every image file in `folder` (any image suffix), sorted; light, for the DAG (no TensorFlow)."""
    return sorted(path for path in Path(folder).iterdir() if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)


class BadImage(ValueError):
    """An image that cannot be used; the message is the reason that goes into the log."""


def grey_16(image: Image.Image) -> np.ndarray:
    """uint16 of a one-channel image deeper than 8 bits: 16-bit as stored, 32-bit integers clipped
    to 16 bits, floats read as [0, 1] (the convention of float images)."""
    array = np.asarray(image)
    if image.mode == "F":
        return np.round(np.clip(array, 0.0, 1.0) * WHITE_16).astype(np.uint16)
    return np.clip(array, 0, WHITE_16).astype(np.uint16)


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB from any PIL mode: grey, palette, CMYK, 16-bit, and alpha composited on white.

    16-bit pixels are scaled by 65535, their format's white: an image's own maximum would
    brighten every image that does not reach white.
    """
    if image.mode == "RGB":
        return image
    if image.mode in DEEP_GREY_MODES:
        image = Image.fromarray(np.round(grey_16(image) / WHITE_16 * 255.0).astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def min_side(size: int) -> int:
    """The shortest image side accepted for a size x size benchmark image: a quarter of it.

    Enlarged more than 4x, an image holds under 1/16 of the detail its pixels claim, and the
    hole would be filled from a blur of a few source pixels that any smooth fill reproduces.
    """
    return max(1, -(-size // MAX_ENLARGEMENT))


def to_uint8(images) -> np.ndarray:
    """Images in [0, 1] rounded to uint8: what every PNG, snapshot and feature input holds."""
    return np.round(np.clip(np.asarray(images), 0.0, 1.0) * 255.0).astype(np.uint8)


def square_resize(image: Image.Image, size: int) -> np.ndarray:
    """Centre-crop to a square and resize to size x size in one antialiased resampling."""
    width, height = image.size
    if min(width, height) < min_side(size):
        raise BadImage(f"too small: {width}x{height} px, under the {min_side(size)} px a side needs "
                       f"for {size} px images (at most {MAX_ENLARGEMENT}x enlargement)")
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    resized = image.resize((size, size), RESAMPLE, box=(left, top, left + side, top + side))
    return np.asarray(resized, dtype=np.uint8)


def load(source, draft: int | None = None) -> Image.Image:
    """An image file (a path or a file object) decoded, EXIF orientation applied.

    `draft`: a big JPEG decodes straight at a reduced scale (DCT scaling) still at least this
    many pixels a side. Every failure is a BadImage whose message a reader understands (Pillow
    names a BytesIO object when it knows no format for the bytes).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source)
            if draft:
                image.draft(None, (draft, draft))
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            return image
    except Image.UnidentifiedImageError as error:
        raise BadImage("not an image: no image format Pillow reads") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise BadImage(f"too many pixels (a possible decompression bomb): {error}") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise BadImage(f"cannot decode: {error}") from error


def decode(data: bytes, size: int) -> np.ndarray:
    """uint8 (size, size, 3) from encoded image bytes; BadImage with the reason if unusable."""
    # Decoded at >= 2x the target, the antialiased resize sees the same detail for less work.
    return square_resize(to_rgb(load(io.BytesIO(data), draft=2 * size)), size)


def from_array(array: np.ndarray, size: int) -> np.ndarray:
    """uint8 (size, size, 3) from an in-memory photo (grey or RGB(A) array)."""
    return square_resize(to_rgb(Image.fromarray(np.asarray(array))), size)
