"""Sharded TFRecords of (image, id, category) and the one loader every stage reads with.

Images are stored encoded (data.encoding): PNG, lossless, 0.56 to 0.62 of the bytes of raw uint8; or
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


def _image_masks(source: MaskSource, image_ids, images) -> tf.Tensor:
    """Each image's own mask of `source` for a batch, (B, H, W, 1) float32, drawn by numpy from the ids
    in one call per batch (a call per image cost more than decoding a JPEG)."""
    size = images.shape[1]
    drawn = tf.numpy_function(lambda ids: source.image_masks(ids, size).astype(np.float32), [image_ids], tf.float32,
                              stateful=False)
    drawn = tf.reshape(drawn, tf.concat([tf.shape(images)[:3], [1]], 0))
    drawn.set_shape(images.shape[:3].concatenate([1]))
    return drawn


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


def _decoder(image_size: int, keys: tuple[str, ...]):
    """Per record, only what cannot wait for the batch: parse `keys` and decode the uint8 image."""
    wanted = {key: FEATURES[key] for key in ("image", "encoding", *keys)}

    def decode(serialized):
        record = tf.io.parse_single_example(serialized, wanted)
        return {**{key: record[key] for key in keys}, "image": _pixels(record, image_size)}
    return decode


def _batch_finisher(masks: MaskSource, with_meta: bool, augment: bool, seed: int):
    """Per batch: the float32 images in [0, 1] and their masks (each image's own, or fresh ones of
    batch `index`), flipped and holes moved with augment; one vectorised call instead of one per image."""
    def finish(index, batch):
        images = tf.cast(batch["image"], tf.float32) / 255.0
        batch_seed = tf.stack([tf.constant(seed, tf.int64), index])
        if masks.fresh:  # in order, so that batch i, and only it, gets the masks of step first_step + i
            return _fresh_masks(images, index, masks, augment, batch_seed)
        mask = _image_masks(masks, batch["id"], images)
        if with_meta:
            return {"image": images, "mask": mask, "id": batch["id"], "category": batch["category"]}
        if augment:
            return flip_and_move_holes(images, mask, batch_seed)
        return images, mask
    return finish


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


def _fresh_masks(images, index, masks: MaskSource, augment: bool, seed):
    """A batch of images with fresh masks of step `index`; flipped at random with augment (as
    flip_and_move_holes flips, from the first of its three seeds)."""
    image_size = images.shape[1]
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

    Shards are read in parallel and batches prefetched. Each record is only parsed and decoded to
    uint8; the cast, the masks and the augmentation are done per batch, since on a CPU every
    microsecond per image is taken from the training step. The order is deterministic: shards
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
    keys = ("id", "category") if with_meta else () if masks.fresh else ("id",)
    dataset = dataset.map(_decoder(image_size, keys), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder).enumerate()
    dataset = dataset.map(_batch_finisher(masks, with_meta, augment, seed), num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
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
