"""One square hole per image, as in the paper, fixed by the image id and the mask seed alone.

Because the hole depends on nothing else, every model, baseline and rerun sees the same
test holes, whatever the shard layout or the order of images.
"""

from __future__ import annotations

import hashlib

import numpy as np
import tensorflow as tf


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


def flip_and_move_holes(images, masks, seed):
    """Training augmentation of a batch: each image flipped left-right at random, and each hole
    moved to a uniformly random place, keeping its height and width.

    With a few hundred images and one fixed hole each, a model soon knows every hole; a fresh
    place per step lets it see every part of every image missing. Stateless: `seed` (shape (2,))
    fixes the draw, so a seeded pipeline stays reproducible.
    """
    batch, height, width = tf.shape(masks)[0], tf.shape(masks)[1], tf.shape(masks)[2]
    flip_seed, top_seed, left_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    flip = tf.random.stateless_uniform((batch, 1, 1, 1), flip_seed) < 0.5
    images = tf.where(flip, tf.reverse(images, axis=[2]), images)
    rows = tf.reduce_sum(tf.reduce_max(masks, axis=[2, 3]), axis=1)
    cols = tf.reduce_sum(tf.reduce_max(masks, axis=[1, 3]), axis=1)
    top = tf.floor(tf.random.stateless_uniform((batch,), top_seed) * (tf.cast(height, tf.float32) - rows + 1.0))
    left = tf.floor(tf.random.stateless_uniform((batch,), left_seed) * (tf.cast(width, tf.float32) - cols + 1.0))
    y = tf.cast(tf.range(height), tf.float32)[None, :, None]
    x = tf.cast(tf.range(width), tf.float32)[None, None, :]
    inside = ((y >= top[:, None, None]) & (y < (top + rows)[:, None, None])
              & (x >= left[:, None, None]) & (x < (left + cols)[:, None, None]))
    return images, tf.cast(inside, masks.dtype)[..., None]
