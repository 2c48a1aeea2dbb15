"""A user's photo and mask as they gave them, and the filled photo written back in their format.

The model sees RGB in [0, 1]; the photo keeps what it is: grey stays grey (the fill converted
back by luminance), 16-bit stays 16-bit, and alpha is split off and put back untouched, as far
as the output format holds them. Each conversion the format forces is a one-line note, and a
format that changes pixels on writing (JPEG, GIF) a warning that counts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image

from .data.images import DEEP_GREY_MODES, WHITE_16, BadImage, grey_16, load


class InpaintError(ValueError):
    """Bad input to the inpaint command; the message names the file or value at fault."""


HALF_8, HALF_16 = 128, 32768  # the mask's hole: at least half of white (255, 65535)
# What each output format keeps exactly, as Pillow writes it (WebP written lossless).
HOLDS = {"PNG": {"I;16", "L", "LA", "RGB", "RGBA"}, "TIFF": {"I;16", "L", "LA", "RGB", "RGBA"},
         "WEBP": {"RGB", "RGBA"}, "BMP": {"L", "RGB"}, "PPM": {"I;16", "L", "RGB"},
         "JPEG": {"L", "RGB"}, "GIF": {"L", "RGB"}}
LOSSY = {"JPEG", "GIF"}  # JPEG compresses with loss; GIF quantizes to a palette of 256 colours
SAVE_OPTIONS = {"WEBP": {"lossless": True, "exact": True}, "JPEG": {"quality": 95}}
# The modes a photo's mode may be written as, best first, where its format lacks the mode itself.
FALLBACKS = {"I;16": ["I;16", "L", "RGB"], "L": ["L", "RGB"], "LA": ["LA", "RGBA", "L", "RGB"],
             "RGB": ["RGB"], "RGBA": ["RGBA", "RGB"]}
ROTATING_ORIENTATIONS = {5: "transposed", 6: "rotated 90° clockwise", 7: "transversed",
                         8: "rotated 90° anticlockwise"}
KEPT_AS = {"1": "L", "P": "RGB", "PA": "RGBA", "La": "LA", "RGBa": "RGBA", "CMYK": "RGB", "YCbCr": "RGB",
           "LAB": "RGB", "HSV": "RGB"}  # modes the command does not write, and the mode kept instead


@dataclass
class Photo:
    """A photo's pixels as given: `pixels` uint8 or uint16, (H, W) grey or (H, W, 3); `alpha` or None."""

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    orientation: int = 1  # the EXIF orientation tag Pillow applied when reading

    @property
    def mode(self) -> str:
        grey = self.pixels.ndim == 2
        if self.pixels.dtype == np.uint16:
            return "I;16"
        return ("L" if grey else "RGB") + ("A" if self.alpha is not None else "")

    def rgb(self) -> np.ndarray:
        """What a model sees: RGB, uint8, or float32 in [0, 1] for 16-bit."""
        pixels = self.pixels if self.pixels.ndim == 3 else np.repeat(self.pixels[..., None], 3, axis=-1)
        return pixels / np.float32(WHITE_16) if pixels.dtype == np.uint16 else pixels

    def filled(self, rgb: np.ndarray, hole: np.ndarray) -> Photo:
        """This photo with the hole taken from `rgb` (as rgb() gave it), in the photo's own format."""
        if rgb.dtype != np.uint8:
            rgb = np.round(np.clip(rgb, 0.0, 1.0) * WHITE_16).astype(np.uint16)
        fill = luminance(rgb) if self.pixels.ndim == 2 else rgb
        pixels = self.pixels.copy()
        pixels[hole] = fill[hole]
        return replace(self, pixels=pixels)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Grey of RGB by ITU-R 601-2, as Pillow's convert('L'), in rgb's dtype."""
    grey = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.round(grey).astype(rgb.dtype)


def _header(path) -> tuple[int, bool]:
    """(EXIF orientation tag, 1 if none; whether Pillow reads its 16-bit channels at 8 bits) of a file."""
    with Image.open(path) as image:
        deep_colour = image.mode in ("RGB", "RGBA") and any(";16" in str(tile.args) for tile in image.tile)
        return int(image.getexif().get(ExifTags.Base.Orientation, 1)), deep_colour


def read_photo(path: str | Path) -> Photo:
    """A photo file as its pixels, EXIF orientation applied; a note for a mode it cannot keep."""
    try:
        image = load(path)
        orientation, deep_colour = _header(path)
    except BadImage as error:
        raise InpaintError(f"{path}: cannot read the image: {error}") from error
    notes = [f"{path}: 16 bits a channel read as 8 (Pillow keeps 16 bits of grey without alpha only)"
             ] if deep_colour else []
    if image.mode in DEEP_GREY_MODES:
        low, high = np.min(image), np.max(image)
        if image.mode == "F" or low < 0 or high > WHITE_16:
            kind, kept = ("float", "[0, 1]") if image.mode == "F" else ("integer", f"0..{WHITE_16}")
            notes.append(f"{path}: 32-bit {kind} pixels ({low:g}..{high:g}) read as 16-bit grey ({kept} kept)")
        return Photo(grey_16(image), None, notes, orientation)
    if image.mode in KEPT_AS:
        kept = "RGBA" if image.mode == "P" and "transparency" in image.info else KEPT_AS[image.mode]
        notes.append(f"{path}: {image.mode} pixels read as {kept}")
        image = image.convert(kept)
    pixels = np.asarray(image)
    if image.mode in ("LA", "RGBA"):
        return Photo(pixels[..., :-1].squeeze(-1) if image.mode == "LA" else pixels[..., :3], pixels[..., -1],
                     notes, orientation)
    return Photo(pixels, None, notes, orientation)


def mask_hole(image: Image.Image) -> np.ndarray:
    """bool (H, W): the hole of a mask image.

    A mask with transparent pixels (alpha < 128) is drawn on a transparent background: the hole
    is where it is opaque (alpha >= 128), whatever the colour. Otherwise the hole is where the
    luminance is at least half of white: >= 128 of 255, >= 32768 of 65535 for 16-bit.
    """
    if image.mode in ("P", "PA", "La", "RGBa"):
        image = image.convert("RGBA")
    if image.mode in ("LA", "RGBA"):
        alpha = np.asarray(image.getchannel("A"))
        if (alpha < HALF_8).any():
            return alpha >= HALF_8
    if image.mode in DEEP_GREY_MODES:
        return grey_16(image) >= HALF_16
    return np.asarray(image.convert("L")) >= HALF_8


def read_mask(path: str | Path, photo: Photo) -> np.ndarray:
    """bool (H, W) hole of a mask file of the photo's size (mask_hole's rule)."""
    try:
        hole = mask_hole(load(path))
    except BadImage as error:
        raise InpaintError(f"{path}: cannot read the mask: {error}") from error
    height, width = photo.pixels.shape[:2]
    if hole.shape != (height, width):
        message = f"{path}: mask is {hole.shape[1]}x{hole.shape[0]} px but the image is {width}x{height} px"
        if hole.shape == (width, height) and photo.orientation in ROTATING_ORIENTATIONS:
            message += (f" as displayed: its EXIF orientation tag ({photo.orientation}) has it "
                        f"{ROTATING_ORIENTATIONS[photo.orientation]}; draw the mask on the photo as a viewer "
                        f"shows it, or turn the mask the same way")
        raise InpaintError(message)
    return hole


def as_mode(photo: Photo, mode: str, out_path: Path, fmt: str) -> Photo:
    """The photo in a mode the format holds, with a note for what was converted."""
    pixels, alpha, notes = photo.pixels, photo.alpha, list(photo.notes)
    if pixels.dtype == np.uint16 and mode != "I;16":
        pixels = np.round(pixels / WHITE_16 * 255.0).astype(np.uint8)
        notes.append(f"{out_path}: 16-bit written as 8-bit ({fmt} as written holds 8 bits a channel); "
                     ".png or .tif keep 16 bits")
    if pixels.ndim == 2 and mode.startswith("RGB"):
        pixels = np.repeat(pixels[..., None], 3, axis=-1)
        notes.append(f"{out_path}: grey written as RGB ({fmt} as written has no grey mode)")
    if alpha is not None and not mode.endswith("A"):
        alpha = None
        notes.append(f"{out_path}: alpha channel dropped ({fmt} as written has none); .png, .tif or .webp keep it")
    return Photo(pixels, alpha, notes, photo.orientation)


def to_image(photo: Photo) -> Image.Image:
    if photo.alpha is None:
        return Image.fromarray(photo.pixels)
    channels = photo.pixels[..., None] if photo.pixels.ndim == 2 else photo.pixels
    return Image.fromarray(np.concatenate([channels, photo.alpha[..., None]], axis=-1), photo.mode)


def output_format(out_path: Path) -> str:
    """The format the suffix names (PNG if none), one of those the command writes."""
    fmt = Image.registered_extensions().get(out_path.suffix.lower(), "PNG")
    if fmt not in HOLDS:
        raise InpaintError(f"--out {out_path}: the command writes {', '.join(sorted(HOLDS))}, not {fmt}")
    return fmt


def pixels_changed(path, photo: Photo, hole: np.ndarray) -> int:
    """How many pixels outside the hole the written file holds differently from `photo`."""
    written = load(path)
    if written.mode != photo.mode:
        written = written.convert(photo.mode)
    given = np.asarray(to_image(photo))
    differs = np.asarray(written) != given
    differs = differs.any(axis=-1) if differs.ndim == 3 else differs
    return int((differs & ~hole).sum())


def write_photo(photo: Photo, out_path: Path, fmt: str, hole: np.ndarray) -> tuple[list[str], list[str]]:
    """Write atomically in the best mode the format holds: (the photo's notes and those of the
    conversions, a warning if the format changed pixels outside the hole, counted in the file)."""
    from .provenance import atomic_path

    mode = next(m for m in FALLBACKS[photo.mode] if m in HOLDS[fmt])
    written = as_mode(photo, mode, out_path, fmt)
    try:
        with atomic_path(out_path) as tmp:
            to_image(written).save(tmp, format=fmt, **SAVE_OPTIONS.get(fmt, {}))
            changed = pixels_changed(tmp, written, hole)
    except (OSError, ValueError) as error:
        raise InpaintError(f"--out {out_path}: cannot write the image: {error}") from error
    if not changed:
        return written.notes, []
    why = "it is lossy" if fmt in LOSSY else "unexpected for this format"
    return written.notes, [f"{out_path}: {fmt} changed {changed} pixels outside the hole on writing ({why}); "
                           f"write a .png to keep every pixel outside the hole as it was"]
