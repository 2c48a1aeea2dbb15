"""Sharded TFRecords of (image, id, category) and the one loader every stage reads with.

Images are stored encoded (data.encoding): PNG, lossless, 0.52 to 0.59 of the bytes of raw uint8; or
JPEG at quality 95, lossy, 0.17 to 0.23, for datasets whose PNGs would not fit on disk.
Each record names its encoding; a record without one is raw uint8, as every shard written before
encodings holds, so old shards are read as they are. Masks are not stored: the loader draws them
from the image id (or afresh per step) with data.masks, so adding or editing a mask protocol never
rebuilds the shards.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from .layout import SPLITS, shard_name, shard_stats, split_paths  # noqa: F401 (re-exported)
from .masks import MaskSource


def writer(path: str | Path) -> tf.io.TFRecordWriter:
    return tf.io.TFRecordWriter(str(path))


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _ints(values) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


ENCODINGS = ("png", "jpeg")
JPEG_QUALITY = 95
# Serialized records the training shuffle holds: memory is bounded by it (2048 x ~100 KB of PNG at
# 256 px, about 200 MB), whatever the number of images or shards.
SHUFFLE_BUFFER = 2048
# zlib level 1: on 128 px photos 2.6x the encoding speed of Pillow's default 6 for 5% more bytes (0.67
# against 0.64 of raw); at 6 the encoding took twice the decode + resize it follows.
PNG_LEVEL = 1


def encode(image: np.ndarray, encoding: str) -> bytes:
    """uint8 (H, W, 3) as PNG (lossless) or JPEG (quality 95, full-resolution colour) bytes."""
    buffer = io.BytesIO()
    if encoding == "png":
        Image.fromarray(np.asarray(image, np.uint8)).save(buffer, "PNG", compress_level=PNG_LEVEL)
    elif encoding == "jpeg":
        Image.fromarray(np.asarray(image, np.uint8)).save(buffer, "JPEG", quality=JPEG_QUALITY, subsampling=0)
    else:
        raise ValueError(f"data.encoding {encoding!r} is not one of {', '.join(ENCODINGS)}")
    return buffer.getvalue()


def serialize(image: np.ndarray, image_id: str, category: str, encoding: str = "png") -> bytes:
    """One record: uint8 image (H, W, 3) encoded with `encoding`, its id and scene category."""
    features = {
        "image": _bytes(encode(image, encoding)),
        "encoding": _bytes(encoding.encode()),
        "size": _ints([image.shape[0]]),
        "id": _bytes(image_id.encode()),
        "category": _bytes(category.encode()),
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "encoding": tf.io.FixedLenFeature([], tf.string, default_value=b"raw"),  # none in the old format
    "size": tf.io.FixedLenFeature([1], tf.int64),
    "id": tf.io.FixedLenFeature([], tf.string),
    "category": tf.io.FixedLenFeature([], tf.string),
}


def _image_mask(source: MaskSource, image_id, image_size: int) -> tf.Tensor:
    """The image's own mask of `source`, (H, W, 1) float32, drawn by numpy from its id."""
    mask = tf.numpy_function(lambda i: source.image_mask(i.decode(), image_size), [image_id], tf.uint8,
                             stateful=False)
    return tf.cast(tf.reshape(mask, (image_size, image_size, 1)), tf.float32)


def _pixels(record, image_size: int) -> tf.Tensor:
    """uint8 (H, W, 3) of a parsed record: raw bytes in the old format, else PNG or JPEG.

    An image of another size than image_size (or a raw record of another length) stops the
    pipeline: it would otherwise be read as different pixels.
    """
    pixels = tf.cond(
        record["encoding"] == "raw",
        lambda: tf.io.decode_raw(record["image"], tf.uint8),
        lambda: tf.reshape(tf.io.decode_image(record["image"], channels=3, expand_animations=False), [-1]))
    checked = tf.debugging.assert_equal(
        tf.size(pixels), image_size * image_size * 3,
        message=f"a shard's image is not {image_size}x{image_size} RGB as data.image_size says: rebuild the shards")
    with tf.control_dependencies([checked]):
        return tf.reshape(pixels, (image_size, image_size, 3))


def _parser(image_size: int, with_meta: bool, masks: MaskSource):
    def parse(serialized):
        record = tf.io.parse_single_example(serialized, FEATURES)
        image = tf.cast(_pixels(record, image_size), tf.float32) / 255.0
        if masks.fresh:
            return image
        mask = _image_mask(masks, record["id"], image_size)
        if with_meta:
            return {"image": image, "mask": mask, "id": record["id"], "category": record["category"]}
        return image, mask
    return parse


def _flip(images, seed):
    flip = tf.random.stateless_uniform((tf.shape(images)[0], 1, 1, 1), seed) < 0.5
    return tf.where(flip, tf.reverse(images, axis=[2]), images)


def flip_and_move_holes(images, masks, seed):
    """Training augmentation of a batch: each image flipped left-right at random, and each hole
    moved to a uniformly random place, keeping its height and width.

    With a few hundred images and one fixed hole each, a model soon knows every hole; a fresh
    place per step lets it see every part of every image missing. Stateless: `seed` (shape (2,))
    fixes the draw, so a seeded pipeline stays reproducible.
    """
    batch, height, width = tf.shape(masks)[0], tf.shape(masks)[1], tf.shape(masks)[2]
    flip_seed, top_seed, left_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    images = _flip(images, flip_seed)
    rows = tf.reduce_sum(tf.reduce_max(masks, axis=[2, 3]), axis=1)
    cols = tf.reduce_sum(tf.reduce_max(masks, axis=[1, 3]), axis=1)
    top = tf.floor(tf.random.stateless_uniform((batch,), top_seed) * (tf.cast(height, tf.float32) - rows + 1.0))
    left = tf.floor(tf.random.stateless_uniform((batch,), left_seed) * (tf.cast(width, tf.float32) - cols + 1.0))
    y = tf.cast(tf.range(height), tf.float32)[None, :, None]
    x = tf.cast(tf.range(width), tf.float32)[None, None, :]
    inside = ((y >= top[:, None, None]) & (y < (top + rows)[:, None, None])
              & (x >= left[:, None, None]) & (x < (left + cols)[:, None, None]))
    return images, tf.cast(inside, masks.dtype)[..., None]


def _fresh_masks(images, index, masks: MaskSource, image_size: int, augment: bool, seed):
    """A batch of images with fresh masks of step `index`; flipped at random with augment (as
    flip_and_move_holes flips, from the first of its three seeds)."""
    drawn = tf.numpy_function(lambda step, batch: masks.batch_masks(int(step), int(batch), image_size),
                              [index, tf.shape(images)[0]], tf.uint8, stateful=False)
    drawn = tf.cast(tf.reshape(drawn, tf.concat([tf.shape(images)[:3], [1]], 0)), tf.float32)
    drawn.set_shape(images.shape[:3].concatenate([1]))
    if augment:
        images = _flip(images, tf.random.experimental.stateless_split(seed, 3)[0])
    return images, drawn


def _records(paths, shuffle: bool = False, seed: int = 0) -> tf.data.Dataset:
    """The serialized records of the shards, interleaved record by record (or shuffled by `seed`)."""
    paths = [str(p) for p in paths]
    files = tf.data.Dataset.from_tensor_slices(paths)
    if shuffle:
        files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    return files.interleave(tf.data.TFRecordDataset, cycle_length=min(len(paths), 8),
                            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def read_ids(paths, limit: int | None = None) -> list[tuple[str, str]]:
    """(id, category) of the first `limit` (default all) records in load_dataset's order, images not decoded."""
    wanted = {key: FEATURES[key] for key in ("id", "category")}
    records = _records(paths).map(lambda serialized: tf.io.parse_single_example(serialized, wanted))
    if limit is not None:
        records = records.take(limit)
    return [(record["id"].decode(), record["category"].decode()) for record in records.as_numpy_iterator()]


def load_dataset(paths, batch_size: int, image_size: int, *, shuffle: bool = False,
                 repeat: bool = False, seed: int = 0, drop_remainder: bool = False,
                 with_meta: bool = False, augment: bool = False, masks: MaskSource | None = None,
                 span: tuple[int, int | None] = (0, None)) -> tf.data.Dataset:
    """Batches of (image, mask): float32 images in [0, 1] (B, H, W, 3), masks 1 in the hole (B, H, W, 1).

    Shards are read in parallel and batches prefetched. The order is deterministic: shards
    interleaved record by record (evaluation relies on it), or shuffled by `seed` (so a training
    run reproduces). `masks` picks the masks (default: the paper's square, MaskSource.default()):
    each image's own, or fresh ones per batch. `with_meta` yields dicts that also carry id and
    category. `augment` (training only) flips images and moves fixed holes at random, seeded by
    `seed` and the batch's index (flip_and_move_holes). `span` (start, stop; stop None: to the end) keeps
    only those records of the unshuffled order, skipped before decoding (a chunk of an evaluation).
    """
    masks = masks or MaskSource.default()
    if with_meta and (augment or masks.fresh):
        raise ValueError("load_dataset: with_meta yields each image's own mask, so neither augment nor fresh masks")
    dataset = _records(paths, shuffle, seed)
    start, stop = span
    if (start, stop) != (0, None):
        if shuffle:
            raise ValueError("load_dataset: a span of the records is a span of their fixed order, never shuffled")
        dataset = dataset.skip(start).take(-1 if stop is None else max(stop - start, 0))
    if shuffle:  # records streamed, never cached: memory bounded by SHUFFLE_BUFFER, not the dataset
        dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.map(_parser(image_size, with_meta, masks), num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)

    def batch_seed(index):
        return tf.stack([tf.constant(seed, tf.int64), index])

    if masks.fresh:  # in order, so that batch i, and only it, gets the masks of step first_step + i
        dataset = dataset.enumerate().map(
            lambda index, images: _fresh_masks(images, index, masks, image_size, augment, batch_seed(index)),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    elif augment:
        dataset = dataset.enumerate().map(
            lambda index, batch: flip_and_move_holes(*batch, batch_seed(index)),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def count_records(paths) -> int:
    """Records in the TFRecord files `paths`. A shard's count comes from its job's stats file when
    there is one, so that training on 1.8 million photos does not read them all once to count them."""
    return sum(_records_in(Path(path)) for path in paths)


def _records_in(path: Path) -> int:
    stats = shard_stats(path)
    if stats is not None and stats[0].is_file():
        return json.loads(stats[0].read_text())["images"].get(stats[1], 0)
    return sum(1 for _ in tf.data.TFRecordDataset(str(path)))
