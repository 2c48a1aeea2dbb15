"""One square hole per image, as in the paper, fixed by the image id and the mask seed alone.

Because the hole depends on nothing else, every model, baseline and rerun sees the same
test holes, whatever the shard layout or the order of images.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _uniforms(image_id: str, seed: int) -> list[float]:
    """Three independent uniforms in [0, 1) from a hash of (seed, id): cheap and stable."""
    digest = hashlib.sha256(f"mask:{seed}:{image_id}".encode()).digest()
    return [int.from_bytes(digest[i:i + 8], "little") / 2**64 for i in (0, 8, 16)]


def hole_box(image_id: str, size: int, kind: str = "random", side=(0.35, 0.5), seed: int = 0):
    """(top, left, height, width) of the square hole in a size x size image.

    random: side drawn uniformly from `side` (fractions of the image side), position uniform
    inside the image. center: a centred square of the largest side in the range (the
    Context Encoders setting).
    """
    lo, hi = side
    if kind == "center":
        length = max(1, min(size, round(hi * size)))
        top = left = (size - length) // 2
        return top, left, length, length
    if kind != "random":
        raise ValueError(f"masks.kind: unknown kind {kind!r}")
    u_side, u_top, u_left = _uniforms(image_id, seed)
    length = max(1, min(size, round((lo + u_side * (hi - lo)) * size)))
    top, left = (int(u * (size - length + 1)) for u in (u_top, u_left))
    return top, left, length, length


def box_mask(box, size: int) -> np.ndarray:
    """uint8 (size, size) mask: 1 inside the hole, 0 on the known pixels."""
    top, left, height, width = box
    mask = np.zeros((size, size), np.uint8)
    mask[top:top + height, left:left + width] = 1
    return mask


def damage(image, mask):
    """The damaged image of the paper: the hole set to 0. Works on numpy arrays and tensors."""
    return image * (1 - mask)
