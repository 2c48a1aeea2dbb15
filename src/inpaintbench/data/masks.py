"""Hole masks: named protocols (the paper's square, the field's strokes and boxes), each test mask
fixed by (image id, protocol, mask seed) alone.

Because a test mask depends on nothing else, every model, baseline and rerun sees the same test
holes, whatever the shard layout, the order of images or the other protocols evaluated. Training
draws either the same fixed masks (`square`, the paper) or a fresh mask per image per step.

A protocol is a recipe (config `masks.protocols.<name>`): a `generator` and its parameters.
Lengths, widths, sizes and margins are given at the field's 256 px and scaled by image_size / 256;
square and center sides are fractions of the image side.
  square   a square of side uniform in `side`, at a uniform position (the paper);
  center   a centred square of side `side` (Context Encoders);
  lama     LaMa's generator: with probability proportional to its weight, either `strokes`
           (polygonal chains of thick segments) or `boxes`; a mask covering more than `max_area`
           of the image is drawn again, as LaMa's evaluation sets are made;
  strokes  DeepFill v2's free-form brush strokes;
  boxes    one to several random rectangles (LaMa's box generator).
Masks are drawn with Pillow (lines and discs) and numpy: the same for a given Pillow version.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math

import numpy as np
from PIL import Image, ImageDraw

from ..config import default_masks

FIELD_SIZE = 256  # the field's settings are given for 256 px images
SQUARE = "square"  # the paper's protocol: its fixed per-image holes are also what models train on by default
MAX_DRAWS = 100


def _uniforms(image_id: str, seed: int) -> list[float]:
    """Three independent uniforms in [0, 1) from a hash of (seed, id): cheap and stable."""
    digest = hashlib.sha256(f"mask:{seed}:{image_id}".encode()).digest()
    return [int.from_bytes(digest[i:i + 8], "little") / 2**64 for i in (0, 8, 16)]


def _rng(key: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(key.encode()).digest()[:16], "little"))


def _square_box(size: int, side, uniforms) -> tuple[int, int, int, int]:
    lo, hi = side
    u_side, u_top, u_left = uniforms
    length = max(1, min(size, round((lo + u_side * (hi - lo)) * size)))
    top, left = (int(u * (size - length + 1)) for u in (u_top, u_left))
    return top, left, length, length


def _center_box(size: int, side: float) -> tuple[int, int, int, int]:
    length = max(1, min(size, round(side * size)))
    top = (size - length) // 2
    return top, top, length, length


def hole_box(image_id: str, size: int, side=(0.35, 0.5), seed: int = 0) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the paper's square hole in a size x size image: side uniform in
    `side` (fractions of the image side), position uniform inside the image, from a hash of (seed, id)."""
    return _square_box(size, side, _uniforms(image_id, seed))


def box_mask(box, size) -> np.ndarray:
    """uint8 mask of a (top, left, height, width) box: 1 inside the hole, 0 on the known pixels; `size`
    is the side of a square image, or its (height, width)."""
    top, left, height, width = box
    mask = np.zeros((size, size) if np.ndim(size) == 0 else tuple(size), np.uint8)
    mask[top:top + height, left:left + width] = 1
    return mask


def damage(image, mask):
    """The damaged image of the paper: the hole set to 0. Works on numpy arrays and tensors."""
    return image * (1 - mask)


class _Pen:
    """Thick lines with round ends and joints on a size x size canvas."""

    def __init__(self, size: int):
        self.image = Image.new("L", (size, size))
        self.draw = ImageDraw.Draw(self.image)

    def polyline(self, points, widths) -> None:
        """Segment i from points[i] to points[i + 1], widths[i] px wide; a disc at every vertex as wide as
        its widest segment rounds the ends and joints."""
        widths = [max(1, int(width + 0.5)) for width in widths]
        if len(set(widths)) == 1:
            self.draw.line(points, fill=1, width=widths[0])
        else:
            for start, width in enumerate(widths):
                self.draw.line(points[start:start + 2], fill=1, width=width)
        for vertex, (x, y) in enumerate(points):
            radius = (max(widths[max(vertex - 1, 0):vertex + 1]) - 1) / 2
            self.draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=1)

    def mask(self) -> np.ndarray:
        return np.array(self.image, np.uint8)


def _count(rng, bounds) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))


def _lama_strokes(rng, size: int, params: dict) -> np.ndarray:
    """LaMa's irregular masks: `times` chains of 1-5 straight segments, each of its own length and width.

    A segment's direction is 0.01 + an integer number of radians below max_angle (mirrored on
    even-numbered strokes), its length 10 + [0, max_len) and width 5 + [0, max_width) px at 256 px.
    """
    scale, pen = size / FIELD_SIZE, _Pen(size)
    strokes = _count(rng, params["times"])
    starts = rng.integers(0, size, (strokes, 2)).astype(float)
    segments = 1 + rng.integers(0, 5, strokes)
    angles = 0.01 + rng.integers(0, params["max_angle"], segments.sum())
    lengths = scale * (10 + rng.integers(0, params["max_len"], segments.sum()))
    widths = scale * (5 + rng.integers(0, params["max_width"], segments.sum()))
    angles = np.where(np.repeat(np.arange(strokes), segments) % 2 == 0, 2 * math.pi - angles, angles)
    steps = list(zip((lengths * np.sin(angles)).tolist(), (lengths * np.cos(angles)).tolist()))
    widths, edge, first = widths.tolist(), size - 1.0, 0
    for (x, y), count in zip(starts.tolist(), segments.tolist()):
        points = [(x, y)]
        for dx, dy in steps[first:first + count]:
            x, y = min(max(x + dx, 0.0), edge), min(max(y + dy, 0.0), edge)
            points.append((x, y))
        pen.polyline(points, widths[first:first + count])
        first += count
    return pen.mask()


def _boxes(rng, size: int, params: dict) -> np.ndarray:
    """`times` rectangles, each side in `size` px at 256 px (capped by the margins), inside `margin`."""
    scale = size / FIELD_SIZE
    margin = round(scale * params["margin"])
    longest = max(1, min(round(scale * params["size"][1]), size - 2 * margin))
    shortest = min(longest, max(1, round(scale * params["size"][0])))
    mask = np.zeros((size, size), np.uint8)
    for _ in range(_count(rng, params["times"])):
        height, width = (int(v) for v in rng.integers(shortest, longest + 1, 2))
        top = int(rng.integers(margin, size - margin - height + 1))
        left = int(rng.integers(margin, size - margin - width + 1))
        mask[top:top + height, left:left + width] = 1
    return mask


def _lama(rng, size: int, recipe: dict) -> np.ndarray:
    parts = [(_lama_strokes, recipe["strokes"])]
    if recipe.get("boxes"):
        parts.append((_boxes, recipe["boxes"]))
    weights = np.array([params["weight"] for _, params in parts], float)
    generator, params = parts[int(rng.choice(len(parts), p=weights / weights.sum()))]
    return generator(rng, size, params)


def _deepfill_strokes(rng, size: int, recipe: dict) -> np.ndarray:
    """DeepFill v2's brush strokes: `times` polylines of `vertices` steps and one width each.

    Steps of length N(r, r/2) clipped to [0, 2r] with r = the image diagonal / 8, directions
    uniform around 2 pi / 5 (+- up to 2 pi / 15, mirrored on every other step), a disc at every vertex.
    """
    scale, pen = size / FIELD_SIZE, _Pen(size)
    radius = math.hypot(size, size) / 8
    for _ in range(_count(rng, recipe["times"])):
        low = 2 * math.pi / 5 - rng.uniform(0, 2 * math.pi / 15)
        high = 2 * math.pi / 5 + rng.uniform(0, 2 * math.pi / 15)
        steps = _count(rng, recipe["vertices"])
        width = scale * rng.uniform(*recipe["width"])
        points = [tuple(float(v) for v in rng.uniform(0, size, 2))]
        for step in range(steps):
            angle = rng.uniform(low, high)
            if step % 2 == 0:
                angle = 2 * math.pi - angle
            length = min(max(rng.normal(radius, radius / 2), 0.0), 2 * radius)
            x, y = points[-1]
            points.append((min(max(x + length * math.cos(angle), 0.0), size - 1.0),
                           min(max(y + length * math.sin(angle), 0.0), size - 1.0)))
        pen.polyline(points, [width] * steps)
    return pen.mask()


GENERATORS = {
    "square": lambda rng, size, recipe: box_mask(_square_box(size, recipe["side"], rng.random(3)), size),
    "center": lambda rng, size, recipe: box_mask(_center_box(size, recipe["side"]), size),
    "lama": _lama,
    "strokes": _deepfill_strokes,
    "boxes": _boxes,
}


def draw(recipe: dict, size: int, rng: np.random.Generator) -> np.ndarray:
    """A mask of `recipe` from `rng`; empty masks and masks above the recipe's max_area are drawn again."""
    generator = GENERATORS[recipe["generator"]]
    limit = recipe.get("max_area")
    for _ in range(MAX_DRAWS):
        mask = generator(rng, size, recipe)
        if mask.any() and (limit is None or mask.mean() <= limit):
            return mask
    raise ValueError(f"mask recipe {recipe}: {MAX_DRAWS} draws in a row were empty or covered more than "
                     f"max_area={limit} of a {size} px image")


def protocol_mask(image_id: str, size: int, protocol: str, recipe: dict, seed: int) -> np.ndarray:
    """The mask of image `image_id` under `protocol`: uint8 (size, size), 1 in the hole.

    The square generator draws from the hash of (seed, id) alone, as the pipeline always has, so
    `square` keeps the paper's holes bit for bit; the other generators seed from (seed, protocol, id).
    """
    if recipe["generator"] == "square":
        return box_mask(hole_box(image_id, size, recipe["side"], seed), size)
    return draw(recipe, size, _rng(f"mask:{seed}:{protocol}:{image_id}"))


def fresh_mask(size: int, recipe: dict, seed: int, step: int, position: int) -> np.ndarray:
    """A training mask drawn afresh for (training seed, step, position in the batch)."""
    return draw(recipe, size, _rng(f"train:{seed}:{step}:{position}"))


@dataclasses.dataclass(frozen=True, eq=False)
class MaskSource:
    """The masks a data pipeline pairs with its images: those of `protocol` (with its `recipe`).

    fresh=False: each image's own mask, from its id and the mask seed `seed` (test masks, and the
    paper's fixed training holes). fresh=True: a new mask for every image at every step, from
    `seed` (the training seed), the step (counted from `first_step`) and the position in the batch.
    """

    protocol: str
    recipe: dict
    seed: int
    fresh: bool = False
    first_step: int = 0

    @classmethod
    def default(cls) -> MaskSource:
        """The paper's square with the schema's default side and seed."""
        masks = default_masks()
        return cls(SQUARE, masks["protocols"][SQUARE], masks["seed"])

    def for_training(self, training_seed: int, first_step: int = 0) -> MaskSource:
        """The masks a model trains on: the fixed per-image holes of `square`, fresh masks otherwise."""
        if self.protocol == SQUARE:
            return self
        return dataclasses.replace(self, seed=training_seed, fresh=True, first_step=first_step)

    def image_mask(self, image_id: str, size: int) -> np.ndarray:
        return protocol_mask(image_id, size, self.protocol, self.recipe, self.seed)

    def image_masks(self, image_ids, size: int) -> np.ndarray:
        """(len(image_ids), size, size) uint8: each image's own mask, for a batch of ids (bytes or str)."""
        masks = [self.image_mask(i.decode() if isinstance(i, bytes) else i, size) for i in image_ids]
        return np.stack(masks) if masks else np.zeros((0, size, size), np.uint8)

    def batch_masks(self, step: int, batch: int, size: int) -> np.ndarray:
        """(batch, size, size) fresh masks of step `step` of this pipeline."""
        return np.stack([fresh_mask(size, self.recipe, self.seed, self.first_step + step, position)
                         for position in range(batch)])
