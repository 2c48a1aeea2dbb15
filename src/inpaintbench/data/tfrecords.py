"""Sharded TFRecords of (image, mask, id, category) and the one loader every stage reads with.

Images and masks are stored as raw uint8 bytes: lossless and the cheapest to decode.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from .layout import SPLITS, shard_name, split_paths  # noqa: F401 (re-exported)


def writer(path: str | Path) -> tf.io.TFRecordWriter:
    return tf.io.TFRecordWriter(str(path))


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _ints(values) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def serialize(image: np.ndarray, mask: np.ndarray, image_id: str, category: str, box) -> bytes:
    """One record: uint8 image (H, W, 3), uint8 mask (H, W) with 1 in the hole, and its box."""
    features = {
        "image": _bytes(np.ascontiguousarray(image, np.uint8).tobytes()),
        "mask": _bytes(np.ascontiguousarray(mask, np.uint8).tobytes()),
        "size": _ints([image.shape[0]]),
        "box": _ints(box),
        "id": _bytes(image_id.encode()),
        "category": _bytes(category.encode()),
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "mask": tf.io.FixedLenFeature([], tf.string),
    "size": tf.io.FixedLenFeature([1], tf.int64),
    "box": tf.io.FixedLenFeature([4], tf.int64),
    "id": tf.io.FixedLenFeature([], tf.string),
    "category": tf.io.FixedLenFeature([], tf.string),
}


def _parser(image_size: int, with_meta: bool):
    def parse(serialized):
        record = tf.io.parse_single_example(serialized, FEATURES)
        image = tf.reshape(tf.io.decode_raw(record["image"], tf.uint8), (image_size, image_size, 3))
        mask = tf.reshape(tf.io.decode_raw(record["mask"], tf.uint8), (image_size, image_size, 1))
        image = tf.cast(image, tf.float32) / 255.0
        mask = tf.cast(mask, tf.float32)
        if with_meta:
            return {"image": image, "mask": mask, "id": record["id"],
                    "category": record["category"], "box": record["box"]}
        return image, mask
    return parse


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


def load_dataset(paths, batch_size: int, image_size: int, *, shuffle: bool = False,
                 repeat: bool = False, seed: int = 0, drop_remainder: bool = False,
                 with_meta: bool = False, shuffle_buffer: int = 2048,
                 augment: bool = False) -> tf.data.Dataset:
    """Batches of (image, mask): float32 images in [0, 1] (B, H, W, 3), masks 1 in the hole (B, H, W, 1).

    Shards are read in parallel and batches prefetched. The order is deterministic: shards
    interleaved record by record (evaluation relies on it), or shuffled by `seed` (so a training
    run reproduces). `with_meta` yields dicts that also carry id, category and the hole's
    (top, left, height, width) box. `augment` (training only) flips images and moves holes at
    random, seeded by `seed` and the batch's index (flip_and_move_holes).
    """
    if augment and with_meta:
        raise ValueError("load_dataset: augment moves the holes, so it cannot yield their boxes (with_meta)")
    paths = [str(p) for p in paths]
    files = tf.data.Dataset.from_tensor_slices(paths)
    if shuffle:
        files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    dataset = files.interleave(tf.data.TFRecordDataset, cycle_length=min(len(paths), 8),
                               num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.map(_parser(image_size, with_meta), num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if augment:
        dataset = dataset.enumerate().map(
            lambda index, batch: flip_and_move_holes(*batch, tf.stack([tf.constant(seed, tf.int64), index])),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def count_records(paths) -> int:
    return sum(1 for path in paths for _ in tf.data.TFRecordDataset(str(path)))
