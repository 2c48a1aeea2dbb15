"""Decode any image file to an RGB square of the benchmark's size."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

RESAMPLE = Image.Resampling.LANCZOS  # antialiased downscaling
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}


class BadImage(ValueError):
    """An image that cannot be used; the message is the reason that goes into the log."""


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB from any PIL mode: grey, palette, CMYK, 16-bit, and alpha composited on white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = array.max() if array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / top * 255.0, 0, 255).astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def square_resize(image: Image.Image, size: int) -> np.ndarray:
    """Centre-crop to a square and resize to size x size in one antialiased resampling."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    resized = image.resize((size, size), RESAMPLE, box=(left, top, left + side, top + side))
    return np.asarray(resized, dtype=np.uint8)


def decode(data: bytes, size: int) -> np.ndarray:
    """uint8 (size, size, 3) from encoded image bytes; BadImage with the reason if unusable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            # A big JPEG decodes straight at a reduced scale (DCT scaling), still >= 2x the
            # target, so the antialiased resize that follows sees the same detail for less work.
            image.draft(None, (2 * size, 2 * size))
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            return square_resize(to_rgb(image), size)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as error:
        raise BadImage(f"cannot decode: {error}") from error


def from_array(array: np.ndarray, size: int) -> np.ndarray:
    """uint8 (size, size, 3) from an in-memory photo (grey or RGB(A) array)."""
    return square_resize(to_rgb(Image.fromarray(np.asarray(array))), size)
