"""The data stage on real pixels: awkward archives, folders, masks, TFRecords, splits, configs, workflow."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import yaml
from PIL import Image
from skimage import data as skdata

from conftest import ROOT, copy_workflow, snakemake
from inpaintbench.config import ConfigError, default_masks, load_config
from inpaintbench.data import layout, masks, prepare, sources, tfrecords
from inpaintbench.data.download import ChecksumError
from inpaintbench.provenance import write_json

SIZE = 32
MASKS = {"seed": 7}
DATA = {"seed": 0, "split": {"train": 0.5, "val": 0.25, "test": 0.25}, "limit": None}


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def chelsea(size: int = 96) -> Image.Image:
    return Image.fromarray(skdata.chelsea()).resize((size, size))


def alpha_png() -> Image.Image:
    """Opaque red on the right half, fully transparent on the left half."""
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, 32:, 3] = 255
    return Image.fromarray(rgba, "RGBA")


def awkward_tar(path: Path) -> dict[str, bytes]:
    """A tar like val_256.tar with the cases a real archive may hold."""
    jpeg = encode(chelsea(), "JPEG", quality=95)
    entries = {
        "val_256/colour.jpg": jpeg,
        "val_256/truncated.jpg": jpeg[: len(jpeg) // 3],
        "val_256/not_an_image.jpg": b"this is a text file, not a JPEG\n" * 20,
        "val_256/grey.jpg": encode(Image.fromarray(skdata.camera()).resize((80, 64)), "JPEG"),
        "val_256/cmyk.jpg": encode(chelsea().convert("CMYK"), "JPEG", quality=95),
        "val_256/alpha.png": encode(alpha_png(), "PNG"),
        "val_256/palette.png": encode(chelsea().convert("P"), "PNG"),
        "../escape.jpg": jpeg,
        "val_256/../../escape2.jpg": jpeg,
    }
    with tarfile.open(path, "w") as tar:
        for name, payload in entries.items():
            member = tarfile.TarInfo(name)
            member.size = len(payload)
            tar.addfile(member, io.BytesIO(payload))
    return entries


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def read_records(paths) -> dict[str, dict]:
    """Every record in `paths`, by id, as uint8 numpy arrays (through the loader, with_meta)."""
    found = {}
    for batch in tfrecords.load_dataset(paths, 3, SIZE, with_meta=True):
        for i, image_id in enumerate(batch["id"].numpy()):
            found[image_id.decode()] = {
                "image": np.round(batch["image"][i].numpy() * 255).astype(np.uint8),
                "mask": batch["mask"][i].numpy()[..., 0].astype(np.uint8),
                "category": batch["category"][i].numpy().decode()}
    return found


def records(directory: Path) -> dict[str, dict]:
    """Every record of every split in `directory`, by id, with its split."""
    found = {}
    for split in tfrecords.SPLITS:
        try:
            paths = tfrecords.split_paths(directory, split)
        except FileNotFoundError:
            continue
        found.update({k: {**v, "split": split} for k, v in read_records(paths).items()})
    return found


def check_awkward_images(found: dict[str, dict]) -> None:
    assert set(found) == {"colour", "grey", "cmyk", "alpha", "palette"}
    grey = found["grey"]["image"].astype(int)
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert grey.std() > 10  # a real photo, not a flat fill
    # CMYK decodes to the same picture as the RGB JPEG (within JPEG loss).
    difference = np.abs(found["cmyk"]["image"].astype(int) - found["colour"]["image"].astype(int))
    assert difference.mean() < 6
    # Alpha composited on white: left half white, right half red (away from the resampled seam).
    alpha = found["alpha"]["image"].astype(int)
    assert (alpha[:, :SIZE // 2 - 4] == 255).all()
    assert (alpha[:, SIZE // 2 + 4:] == [255, 0, 0]).all()
    assert np.abs(found["palette"]["image"].astype(int) - found["colour"]["image"]).mean() < 12


@pytest.mark.bad_input
def test_awkward_archive_good_images_through_bad_reported_nothing_outside(tmp_path):
    parent = tmp_path / "parent"
    work = parent / "work"
    work.mkdir(parents=True)
    archive = work / "val_256.tar"
    awkward_tar(archive)
    before = tree(tmp_path)
    out = work / "out"

    listing = prepare.build_manifest({**DATA, "source": "places365"}, archive=str(archive))
    unsafe = {item["source"] for item in listing.skipped}
    assert unsafe == {"../escape.jpg", "val_256/../../escape2.jpg"}
    manifest = prepare.manifest_frame(listing)
    lines = []
    stats = [prepare.write_shard(manifest, shard, 2, SIZE, str(archive), out / "tfrecords",
                                 report=lines.append) for shard in range(2)]
    summary = prepare.summarize(stats, pd.DataFrame(listing.skipped))

    check_awkward_images(records(out / "tfrecords"))
    assert summary["total"] == 5 and summary["skipped"] == 4
    reasons = {item["source"]: item["reason"] for item in summary["skipped_items"]}
    assert "truncated" in reasons["val_256/truncated.jpg"]
    assert reasons["val_256/not_an_image.jpg"] == "not an image: no image format Pillow reads"
    assert "unsafe path" in reasons["../escape.jpg"]
    assert any("skipped val_256/truncated.jpg" in line for line in lines)
    assert tree(tmp_path) - before == {str(p.relative_to(tmp_path)) for p in out.rglob("*")} | {
        "parent/work/out"}


@pytest.mark.bad_input
@pytest.mark.slow
def test_awkward_archive_through_the_workflow(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    archive = tmp_path / "archive" / "val_256.tar"
    archive.parent.mkdir()
    awkward_tar(archive)
    config = {"data": {**DATA, "source": "places365", "archive": str(archive), "md5": None,
                       "categories_url": None, "image_size": SIZE, "shards": 2},
              "masks": MASKS, "models": {}}
    (workdir / "awkward.yaml").write_text(yaml.safe_dump(config))
    outside = tree(tmp_path) - {p for p in tree(tmp_path) if p.startswith("workflow/")}
    snakemake(workdir, "data", "--cores", "2", "--configfile", "awkward.yaml")

    check_awkward_images(records(workdir / "results/data/tfrecords"))
    summary = json.loads((workdir / "results/data/summary.json").read_text())
    assert summary["images"] == {split: sum(1 for r in records(workdir / "results/data/tfrecords")
                                            .values() if r["split"] == split)
                                 for split in tfrecords.SPLITS}
    reasons = {item["source"]: item["reason"] for item in summary["skipped_items"]}
    assert set(reasons) == {"val_256/truncated.jpg", "val_256/not_an_image.jpg",
                            "../escape.jpg", "val_256/../../escape2.jpg"}
    logs = "".join(p.read_text() for p in (workdir / "results/logs/data").glob("*.log"))
    for source, reason in reasons.items():
        assert f"skipped {source}: {reason}" in logs
    assert "categories will be empty" in logs
    new = {p for p in tree(tmp_path) if not p.startswith("workflow/")}
    assert new == outside
    assert not (tmp_path / "escape.jpg").exists() and not (workdir / "escape.jpg").exists()
    assert not (workdir / "results/downloads").exists()  # data.archive given: nothing downloaded


def small_tar(path: Path) -> str:
    """A val_256-like tar of three tiny real photos; returns its md5."""
    photos = {"val_256/cat.jpg": encode(chelsea(24), "JPEG"),
              "val_256/camera.png": encode(Image.fromarray(skdata.camera()).resize((24, 24)), "PNG"),
              "val_256/coffee.jpg": encode(Image.fromarray(skdata.coffee()).resize((24, 24)), "JPEG")}
    with tarfile.open(path, "w") as tar:
        for name, payload in photos.items():
            member = tarfile.TarInfo(name)
            member.size = len(payload)
            tar.addfile(member, io.BytesIO(payload))
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.bad_input
def test_user_archive_is_checked_against_data_md5(tmp_path):
    archive = tmp_path / "val_256.tar"
    md5 = small_tar(archive)
    places = {**DATA, "source": "places365"}

    listing = prepare.build_manifest(places, archive=str(archive), archive_md5=md5.upper())
    assert {row["id"] for row in listing.rows} == {"cat", "camera", "coffee"}

    wrong = hashlib.md5(b"another archive").hexdigest()
    with pytest.raises(ChecksumError) as error:
        prepare.build_manifest(places, archive=str(archive), archive_md5=wrong)
    assert f"{archive}: md5 is {md5}, expected {wrong} (data.md5)" in str(error.value)


@pytest.mark.bad_input
@pytest.mark.slow
def test_user_archive_with_another_md5_stops_the_data_stage_and_writes_nothing(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    archive = tmp_path / "archive" / "val_256.tar"
    archive.parent.mkdir()
    md5 = small_tar(archive)
    wrong = hashlib.md5(b"another archive").hexdigest()
    for name, expected in (("wrong", wrong), ("right", md5)):
        config = {"data": {**DATA, "source": "places365", "archive": str(archive), "md5": expected,
                           "categories_url": None, "image_size": SIZE, "shards": 1},
                  "masks": MASKS, "models": {}}
        (workdir / f"{name}.yaml").write_text(yaml.safe_dump(config))

    result = snakemake(workdir, "data", "--cores", "2", "--configfile", "wrong.yaml", check=False)
    message = f"{archive}: md5 is {md5}, expected {wrong} (data.md5)"
    assert result.returncode != 0 and message in result.stdout + result.stderr
    assert message in (workdir / "results/logs/data/manifest.log").read_text()
    # Only the scene categories, their own download independent of the archive, may be there.
    assert {p.name for p in (workdir / "results/data").rglob("*")} <= {"categories.csv"}

    snakemake(workdir, "data", "--cores", "2", "--configfile", "right.yaml")
    summary = json.loads((workdir / "results/data/summary.json").read_text())
    assert summary["total"] == 3 and summary["skipped"] == 0
    assert set(records(workdir / "results/data/tfrecords")) == {"cat", "camera", "coffee"}
    plan = snakemake(workdir, "-n", "data", "--configfile", "wrong.yaml")
    assert "rule manifest:" in plan.stdout + plan.stderr  # a changed data.md5 is checked again


@pytest.mark.bad_input
def test_a_text_file_named_jpg_and_a_tiny_image_are_skipped_with_readable_reasons(tmp_path):
    """The reason says what is wrong (not Pillow's `<_io.BytesIO object at 0x...>`); the minimum side
    is a quarter of data.image_size (8 px at 32)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    chelsea().save(folder / "cat.jpg")
    (folder / "notes.jpg").write_text("a shopping list, not a photo\n" * 10)
    Image.new("RGB", (1, 1), (200, 10, 10)).save(folder / "pixel.png")
    Image.fromarray(skdata.camera()).resize((8, 30)).save(folder / "narrow_enough.png")
    Image.fromarray(skdata.camera()).resize((7, 30)).save(folder / "too_narrow.png")
    manifest = prepare.manifest_frame(prepare.build_manifest({**DATA, "source": "folder", "folder": str(folder)}))
    lines = []
    stats = prepare.write_shard(manifest, 0, 1, SIZE, None, tmp_path / "out", report=lines.append)

    reasons = {Path(item["source"]).name: item["reason"] for item in stats["skipped"]}
    assert reasons == {
        "notes.jpg": "not an image: no image format Pillow reads",
        "pixel.png": "too small: 1x1 px, under the 8 px a side needs for 32 px images (at most 4x enlargement)",
        "too_narrow.png": "too small: 7x30 px, under the 8 px a side needs for 32 px images (at most 4x enlargement)",
    }
    assert set(records(tmp_path / "out")) == {"cat", "narrow_enough"}
    assert f"skipped {folder / 'notes.jpg'}: not an image: no image format Pillow reads" in lines
    summary = prepare.summarize([stats], pd.DataFrame(columns=["source", "reason"]))
    assert summary["skipped_by_reason"] == {"not an image": 1, "too small": 2}


def test_a_dark_16_bit_photo_keeps_its_brightness_in_the_shards(tmp_path):
    """16-bit PNG and TIFF (and 32-bit integer TIFF) are scaled by 65535, float TIFF read as [0, 1], so
    they give the very pixels of their 8-bit twin (not stretched to their own maximum, which made this
    photo, at most 16% of white, 6x brighter)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    dark = (np.asarray(Image.fromarray(skdata.camera()).resize((48, 48)), np.uint32) * 40).astype(np.uint16)
    Image.fromarray(dark).save(folder / "png16.png")
    Image.fromarray(dark).save(folder / "tiff16.tif")
    Image.fromarray(dark.astype(np.int32)).save(folder / "int32.tif")  # Pillow mode I
    Image.fromarray((dark / 65535).astype(np.float32)).save(folder / "float.tif")  # mode F, read as [0, 1]
    Image.fromarray(np.round(dark / 65535 * 255).astype(np.uint8)).save(folder / "dark8.png")
    assert Image.open(folder / "png16.png").mode == Image.open(folder / "tiff16.tif").mode == "I;16"
    manifest = prepare.manifest_frame(prepare.build_manifest({**DATA, "source": "folder", "folder": str(folder)}))
    prepare.write_shard(manifest, 0, 1, SIZE, None, tmp_path / "out")
    found = records(tmp_path / "out")
    assert 30 < found["dark8"]["image"].max() < 45
    np.testing.assert_array_equal(found["png16"]["image"], found["dark8"]["image"])
    for name in ("tiff16", "int32", "float"):
        np.testing.assert_array_equal(found[name]["image"], found["dark8"]["image"])


def test_folder_source_recursive_with_category_per_subfolder(tmp_path):
    folder = tmp_path / "photos"
    (folder / "cats" / "tabby").mkdir(parents=True)
    (folder / "space").mkdir()
    chelsea().save(folder / "cats" / "chelsea.jpg")
    chelsea().convert("L").save(folder / "cats" / "tabby" / "grey.png")
    Image.fromarray(skdata.hubble_deep_field()).save(folder / "space" / "hubble.jpg")
    chelsea().save(folder / "top.jpg")
    (folder / "notes.txt").write_text("not an image")

    listing = prepare.build_manifest({**DATA, "source": "folder", "folder": str(folder)})
    manifest = prepare.manifest_frame(listing)
    assert dict(zip(manifest["id"], manifest["category"])) == {
        "cats__chelsea": "cats", "cats__tabby__grey": "cats/tabby", "space__hubble": "space",
        "top": ""}
    prepare.write_shard(manifest, 0, 1, SIZE, None, tmp_path / "out")
    found = records(tmp_path / "out")
    assert set(found) == set(manifest["id"])
    assert found["cats__tabby__grey"]["category"] == "cats/tabby"
    # The non-square hubble photo is centre-cropped: compare with a direct crop + resize.
    photo = Image.fromarray(skdata.hubble_deep_field())
    side = min(photo.size)
    left, top = (photo.width - side) // 2, (photo.height - side) // 2
    expected = np.asarray(photo.crop((left, top, left + side, top + side))
                          .resize((SIZE, SIZE), Image.Resampling.LANCZOS)).astype(int)
    assert np.abs(found["space__hubble"]["image"] - expected).mean() < 4


def test_masks_deterministic_inside_and_in_range():
    ids = [f"Places365_val_{i:08d}" for i in range(2000)]
    size, (lo, hi) = 128, (0.35, 0.5)
    boxes = [masks.hole_box(i, size, (lo, hi), 7) for i in ids]
    assert boxes == [masks.hole_box(i, size, (lo, hi), 7) for i in ids]
    assert boxes != [masks.hole_box(i, size, (lo, hi), 8) for i in ids]
    sides = np.array([b[2] for b in boxes])
    assert all(b[2] == b[3] for b in boxes)
    assert sides.min() >= round(lo * size) and sides.max() <= round(hi * size)
    assert sides.min() <= round(lo * size) + 2 and sides.max() >= round(hi * size) - 2
    for top, left, height, width in boxes:
        assert 0 <= top and top + height <= size and 0 <= left and left + width <= size
    tops = np.array([b[0] for b in boxes])
    assert tops.min() == 0 and tops.max() >= size - round(lo * size) - 2  # positions span the image
    mask = masks.box_mask(boxes[0], size)
    assert mask.sum() == boxes[0][2] ** 2 and set(np.unique(mask)) == {0, 1}
    image = np.full((size, size, 3), 200, np.uint8)
    damaged = masks.damage(image, mask[..., None])
    assert (damaged[mask == 1] == 0).all() and (damaged[mask == 0] == 200).all()


def test_training_augmentation_flips_and_moves_holes_keeping_their_size():
    photo = (skdata.astronaut()[::16, ::16] / 255.0).astype(np.float32)  # 32 x 32 real photo
    images = np.stack([photo] * 8)
    boxes = [masks.hole_box(f"id{i}", 32, (0.25, 0.5), 0) for i in range(8)]
    holes = np.stack([masks.box_mask(box, 32) for box in boxes])[..., None].astype(np.float32)
    seed = np.array([7, 0], np.int64)
    flipped, moved = (t.numpy() for t in tfrecords.flip_and_move_holes(images, holes, seed))
    again = tfrecords.flip_and_move_holes(images, holes, seed)
    assert (again[0].numpy() == flipped).all() and (again[1].numpy() == moved).all()
    is_flipped = [bool((f == photo[:, ::-1]).all()) for f in flipped]
    assert all(is_flipped[i] or (flipped[i] == photo).all() for i in range(8))
    assert 0 < sum(is_flipped) < 8
    for box, hole in zip(boxes, moved[..., 0]):
        rows, cols = np.flatnonzero(hole.any(1)), np.flatnonzero(hole.any(0))
        assert (len(rows), len(cols)) == box[2:] and hole.sum() == box[2] * box[3]
        assert hole[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()
    assert any((m[..., 0] != h[..., 0]).any() for m, h in zip(moved, holes))


def test_tfrecords_round_trip_pixel_exactly(tmp_path):
    rng = np.random.default_rng(0)
    written = {}
    square = masks.MaskSource.default()
    for shard in range(2):
        writer = tfrecords.writer(tmp_path / tfrecords.shard_name("test", shard, 2))
        for i in range(5):
            image_id = f"img{shard}{i}"
            image = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
            writer.write(tfrecords.serialize(image, image_id, f"cat{i}"))
            written[image_id] = (image, square.image_mask(image_id, SIZE), f"cat{i}")
        writer.close()
    paths = tfrecords.split_paths(tmp_path, "test")
    assert tfrecords.count_records(paths) == 10
    images, mask_batches = [], []
    for image, mask in tfrecords.load_dataset(paths, 4, SIZE):
        assert image.dtype.name == "float32" and mask.shape[1:] == (SIZE, SIZE, 1)
        images.append(image.numpy())
        mask_batches.append(mask.numpy())
    images = np.concatenate(images)
    order = [f"img{shard}{i}" for i in range(5) for shard in range(2)]  # shards interleaved
    expected = np.stack([written[k][0] for k in order])
    assert images.shape == expected.shape and images.min() >= 0 and images.max() <= 1
    assert (np.round(images * 255).astype(np.uint8) == expected).all()
    assert (np.concatenate(mask_batches)[..., 0] == np.stack([written[k][1] for k in order])).all()
    found = read_records(paths)
    for image_id, (image, mask, category) in written.items():
        assert (found[image_id]["image"] == image).all() and (found[image_id]["mask"] == mask).all()
        assert found[image_id]["category"] == category


# sha256 of (id, uint8 pixels) of every record of each split of tests/configs/tiny.yaml's shards in
# load order, as the raw-uint8 shards of the code before data.encoding gave them (commit 2a5affc).
PAPER_PIXELS = {
    "train": (34, "df9bbfc95dddee46e578fadc26d28e939dc5e5eb41837581430faad608d10c26"),
    "val": (8, "645db8bc78afed0763e4ff4b050cd9726305b993d2bae9ceff8aba7dad858f1d"),
    "test": (14, "dd37a6c18d1c8407d3d081361fa506ce0c597ca809654b922bd676cbc57be3c7"),
}


def pixel_digest(paths, size: int) -> tuple[int, str]:
    digest, count = hashlib.sha256(), 0
    for batch in tfrecords.load_dataset(paths, 8, size, with_meta=True):
        for i, image_id in enumerate(batch["id"].numpy()):
            digest.update(image_id)
            digest.update(np.round(batch["image"][i].numpy() * 255).astype(np.uint8).tobytes())
            count += 1
    return count, digest.hexdigest()


def first_feature(paths, name: str) -> bytes:
    """Bytes feature `name` of the first record of the first shard, as written."""
    record = next(iter(tf.data.TFRecordDataset(str(paths[0])))).numpy()
    return tf.train.Example.FromString(record).features.feature[name].bytes_list.value[0]


def write_data_stage(data_cfg: dict, folder: Path) -> None:
    manifest = prepare.manifest_frame(prepare.build_manifest(data_cfg))
    for shard in range(data_cfg["shards"]):
        prepare.write_shard(manifest, shard, data_cfg["shards"], data_cfg["image_size"], None, folder,
                            encoding=data_cfg["encoding"], report=lambda line: None)


def test_training_counts_its_records_from_the_shard_jobs_stats_without_reading_a_shard(tmp_path, monkeypatch):
    data_cfg = load_config(ROOT / "tests/configs/tiny.yaml")["data"]
    manifest = prepare.manifest_frame(prepare.build_manifest(data_cfg))
    for shard in range(data_cfg["shards"]):
        stats = prepare.write_shard(manifest, shard, data_cfg["shards"], data_cfg["image_size"], None, tmp_path,
                                    encoding=data_cfg["encoding"], report=lambda line: None)
        write_json(tmp_path / layout.stats_name(shard), stats)  # as scripts/write_shard.py does
    paths = {split: tfrecords.split_paths(tmp_path, split) for split in tfrecords.SPLITS}
    read = {split: sum(1 for path in paths[split] for _ in tf.data.TFRecordDataset(path)) for split in paths}
    assert read == (manifest["split"].value_counts().to_dict())

    def no_reading(*args, **kwargs):
        raise AssertionError("a shard was read to count its records")

    monkeypatch.setattr(tf.data, "TFRecordDataset", no_reading)
    assert {split: tfrecords.count_records(paths[split]) for split in paths} == read


def test_the_paper_protocol_reads_the_same_pixels_from_its_png_shards(tmp_path):
    data_cfg = load_config(ROOT / "tests/configs/tiny.yaml")["data"]
    assert data_cfg["encoding"] == "png"
    write_data_stage(data_cfg, tmp_path)
    for split, expected in PAPER_PIXELS.items():
        paths = tfrecords.split_paths(tmp_path, split)
        assert pixel_digest(paths, data_cfg["image_size"]) == expected
        assert first_feature(paths, "image").startswith(b"\x89PNG")


def old_format_record(image: np.ndarray, image_id: str, category: str) -> bytes:
    """A record as the code before data.encoding wrote it: raw uint8 bytes, no encoding field."""
    feature = {"image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
               "size": tf.train.Feature(int64_list=tf.train.Int64List(value=[image.shape[0]])),
               "id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_id.encode()])),
               "category": tf.train.Feature(bytes_list=tf.train.BytesList(value=[category.encode()]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_old_raw_shards_are_read_as_they_are_beside_png_and_jpeg_ones(tmp_path):
    photo = np.asarray(chelsea(SIZE))
    noise = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    with tfrecords.writer(tmp_path / tfrecords.shard_name("train", 0, 3)) as old:
        old.write(old_format_record(noise, "old", "a"))
    with tfrecords.writer(tmp_path / tfrecords.shard_name("train", 1, 3)) as png:
        png.write(tfrecords.serialize(noise, "png", "b", "png"))
    with tfrecords.writer(tmp_path / tfrecords.shard_name("train", 2, 3)) as jpeg:
        jpeg.write(tfrecords.serialize(photo, "jpeg", "c", "jpeg"))
    found = read_records(tfrecords.split_paths(tmp_path, "train"))
    assert (found["old"]["image"] == noise).all() and (found["png"]["image"] == noise).all()
    assert found["old"]["category"] == "a" and found["jpeg"]["category"] == "c"
    error = np.abs(found["jpeg"]["image"].astype(int) - photo.astype(int))
    assert 0 < error.mean() < 4
    photo_128 = np.asarray(chelsea(128))
    assert len(tfrecords.encode(photo_128, "jpeg")) < photo_128.nbytes / 3 < len(tfrecords.encode(photo_128, "png"))


@pytest.mark.bad_input
def test_a_record_of_another_image_size_stops_the_loader_rather_than_being_misread(tmp_path):
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    for name, record in [("old", old_format_record(image, "old", "")), ("png", tfrecords.serialize(image, "png", ""))]:
        path = tmp_path / f"{name}.tfrecord"
        with tfrecords.writer(path) as out:
            out.write(record)
        with pytest.raises(tf.errors.InvalidArgumentError, match="is not 16x16 RGB as data.image_size says"):
            next(iter(tfrecords.load_dataset([path], 1, SIZE // 2)))


def batches_digest(batches) -> str:
    """sha256 of every tensor of `batches`, images and masks bit for bit, ids and categories as text."""
    digest = hashlib.sha256()
    for batch in batches:
        for tensor in batch if isinstance(batch, tuple) else [batch[key] for key in sorted(batch)]:
            values = tensor.numpy()
            digest.update(b"|".join(values.tolist()) if values.dtype == object else values.tobytes())
    return digest.hexdigest()[:16]


def test_the_loader_yields_bit_for_bit_the_batches_of_the_per_image_pipeline(tmp_path):
    """Decoding per record and casting, drawing masks and augmenting per batch changed no pixel, mask,
    id or order: the digests are those of the loader that did everything per image (commit bbd031e), taken
    with no global TensorFlow seed: the shuffle's order depends on it, and a test run earlier in this
    process may have set one."""
    tf.random.set_seed(None)
    photo = skdata.astronaut()[::8, ::8]
    paths = [str(tmp_path / tfrecords.shard_name("train", shard, 3)) for shard in range(3)]
    writers = [tfrecords.writer(path) for path in paths]
    for i in range(14):
        image = np.roll(photo, 3 * i, axis=(0, 1))[:32, :32]
        writers[i % 3].write(old_format_record(image, f"img{i}", "old") if i % 3 == 2
                             else tfrecords.serialize(image, f"img{i}", f"cat{i % 2}", "png"))
    for writer in writers:
        writer.close()
    protocols = default_masks()["protocols"]
    fresh = masks.MaskSource("mixed", protocols["mixed"], 1234).for_training(5, first_step=10)
    lama = masks.MaskSource("lama_medium", protocols["lama_medium"], 99)
    train = {"shuffle": True, "repeat": True, "seed": 7, "drop_remainder": True}
    pipelines = {
        "39d02acbb6d86880": tfrecords.load_dataset(paths, 4, 32, **train).take(5),
        "424c4181a9acde8c": tfrecords.load_dataset(paths, 4, 32, augment=True, **train).take(5),
        "35f76733d73322e4": tfrecords.load_dataset(paths, 4, 32, augment=True, masks=fresh, **train).take(5),
        "4015e9065c80662b": tfrecords.load_dataset(paths, 5, 32, with_meta=True),
        "b2f14988655f0b41": tfrecords.load_dataset(paths, 5, 32, with_meta=True, masks=lama)}
    assert {pinned: batches_digest(dataset) for pinned, dataset in pipelines.items()} == {
        pinned: pinned for pinned in pipelines}


def dataset_ops(dataset) -> tuple[dict, dict]:
    """{op: [its nodes]} and {name: node} of a tf.data pipeline's graph."""
    graph = tf.compat.v1.GraphDef.FromString(dataset._as_serialized_graph().numpy())
    ops = {}
    for node in graph.node:
        ops.setdefault(node.op, []).append(node)
    return ops, {node.name: node for node in graph.node}


def test_the_training_pipeline_streams_with_a_bounded_shuffle_whatever_the_shards(tmp_path):
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    paths = []
    for shard in range(40):
        paths.append(tmp_path / tfrecords.shard_name("train", shard, 40))
        with tfrecords.writer(paths[-1]) as out:
            out.write(tfrecords.serialize(image, f"img{shard}", ""))
    dataset = tfrecords.load_dataset(paths, 4, SIZE, shuffle=True, repeat=True, drop_remainder=True, augment=True)
    ops, nodes = dataset_ops(dataset)
    assert not [op for op in ops if "Cache" in op or "Snapshot" in op]
    shuffles = [node for op, found in ops.items() if op.startswith("ShuffleDataset") for node in found]
    sizes = sorted(int(tf.make_ndarray(nodes[node.input[1].split(":")[0]].attr["value"].tensor)) for node in shuffles)
    assert sizes == sorted([len(paths), tfrecords.SHUFFLE_BUFFER])  # shard names, then records
    interleave = [node for op, found in ops.items() if "InterleaveDataset" in op for node in found]
    assert len(interleave) == 1  # the shards are streamed, at most 8 open at once
    cycle_length = nodes[interleave[0].input[1].split(":")[0]]  # ParallelInterleaveDatasetV4's second input
    assert int(tf.make_ndarray(cycle_length.attr["value"].tensor)) == 8
    assert next(iter(dataset))[0].shape == (4, SIZE, SIZE, 3)


def test_split_deterministic_and_proportional():
    ids = [f"Places365_val_{i:08d}" for i in range(20000)]
    fractions = {"train": 0.8, "val": 0.1, "test": 0.1}
    splits = [prepare.split_of(i, 0, fractions) for i in ids]
    assert splits == [prepare.split_of(i, 0, fractions) for i in ids]
    share = pd.Series(splits).value_counts(normalize=True)
    for split, fraction in fractions.items():
        assert abs(share[split] - fraction) < 0.01
    other_seed = [prepare.split_of(i, 1, fractions) for i in ids]
    assert 0.2 < np.mean([a != b for a, b in zip(splits, other_seed)]) < 0.5


# Configs --------------------------------------------------------------------------------------

def bad_configs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    demo = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
    unknown = {**demo, "data": {**demo["data"], "colour": "red"}}
    wrong_type = {**demo, "data": {**demo["data"], "image_size": "big"}}
    bad_encoding = {**demo, "data": {**demo["data"], "encoding": "webp"}}
    paths = {}
    for name, config in [("unknown", unknown), ("wrong_type", wrong_type), ("bad_encoding", bad_encoding)]:
        paths[name] = tmp_path / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(config))
    return paths


BAD_KEYS = {"unknown": "unknown key data.colour (known here: source, url, ",
            "wrong_type": "key data.image_size: 'big' is not of type 'integer'",
            "bad_encoding": "key data.encoding: 'webp' is not one of ['png', 'jpeg']"}


@pytest.mark.bad_input
@pytest.mark.parametrize("case", BAD_KEYS)
def test_config_validation_names_the_key(case, tmp_path):
    with pytest.raises(ConfigError, match=re.escape(BAD_KEYS[case])):
        load_config(bad_configs(tmp_path)[case])


def test_the_shipped_configs_are_valid():
    for name in ("config.yaml", "demo.yaml"):
        assert load_config(ROOT / "config" / name)["data"]["image_size"] == 128


def test_the_paper_models_blocks_written_once_are_each_models_own():
    """config.yaml writes the paper models' shared blocks once (YAML anchors and merge keys): each model
    reads them in full, with only its own keys changed, and editing one model's block leaves the others'."""
    models = load_config(ROOT / "config" / "config.yaml")["models"]
    paper = ("gan_paper", "gan_paper_exact", "diffusion_paper", "diffusion_paper_exact")
    assert [(models[name]["kind"], models[name]["paper_exact"]) for name in paper] == [
        ("gan_paper", False), ("gan_paper", True), ("diffusion_paper", False), ("diffusion_paper", True)]
    assert all(models[name]["resources"] == {"threads": 4, "mem_mb": 8000, "runtime": 180} for name in paper)
    snapshots = [models[name]["training"]["snapshot_epochs"] for name in paper]
    assert snapshots == [[1, 500, 1000]] * 2 + [[1, 600, 1000]] * 2
    assert all(models[name]["training"]["epochs"] == 1000 and models[name]["hparams"] == {} for name in paper)
    models["gan_paper"]["training"]["epochs"] = 5
    models["gan_paper"]["resources"]["threads"] = 1
    assert all(models[name]["training"]["epochs"] == 1000 and models[name]["resources"]["threads"] == 4
               for name in paper[1:])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("data_workflow"))


@pytest.mark.bad_input
@pytest.mark.parametrize("case", BAD_KEYS)
def test_snakemake_rejects_bad_configs_naming_the_key_in_one_line(case, workdir, tmp_path):
    """The library's message alone: no schema dump, no traceback of the Snakefile."""
    path = bad_configs(tmp_path)[case]
    result = snakemake(workdir, "-n", "--configfile", str(path), check=False)
    assert result.returncode != 0 and result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("Using workflow specific profile")]
    assert len(lines) == 1 and lines[0].startswith(f"inpaintbench: error: {path}: ") and BAD_KEYS[case] in lines[0]


def one_line_error(result) -> str:
    """The single line a failed dry run printed (Snakemake's note on the profile aside)."""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("Using workflow specific profile")]
    assert result.returncode != 0 and result.stdout == "" and len(lines) == 1, result.stdout + result.stderr
    return lines[0]


DEMO = yaml.safe_load((ROOT / "config/demo.yaml").read_text())


def demo_with(section: str, name: str | None = None, **keys) -> dict:
    """The demo config with `keys` set in one section (in models.`name` for a model's keys)."""
    config = copy.deepcopy(DEMO)
    target = config[section][name] if name else config[section]
    for key, value in keys.items():
        if isinstance(value, dict):
            target.setdefault(key, {}).update(value)
        else:
            target[key] = value
    return config


BETWEEN_KEYS = {
    "odd_size": ({**DEMO, "data": {**DEMO["data"], "image_size": 100}},
                 "key models.diffusion.hparams: data.image_size: image size 100 is not divisible by 16 = patch x "
                 "2^(levels - 1) of hparams patch=4, channel_mults=[1, 2, 2]"),
    "nothing": ({**DEMO, "models": {}, "evaluation": {**DEMO["evaluation"], "baselines": []}},
                "keys models, evaluation.baselines and external: no enabled model, no baseline and no external method"),
    "kind": ({**DEMO, "models": {"mine": {"kind": "mypackage.my_model"}}},
             "key models.mine.kind: model kind 'mypackage.my_model' is not one of gan_paper, diffusion_paper, "
             "gan, diffusion nor an importable module (No module named 'mypackage')"),
    "paper_exact": (demo_with("models", "gan", paper_exact=True),
                    "key models.gan.paper_exact: kind gan has no paper-exact variant (only gan_paper and "
                    "diffusion_paper have)"),
    "late_snapshot": (demo_with("models", "gan_paper", training={"snapshot_epochs": [1, 25, 60]}),
                      "key models.gan_paper.training.snapshot_epochs: [60] beyond training.epochs=50"),
    "sampling_steps": (demo_with("models", "diffusion", hparams={"timesteps": 50, "sampling_steps": 500}),
                       "key models.diffusion.hparams.sampling_steps: 500 is above hparams.timesteps=50"),
    "comparison_images": (demo_with("figures", comparison_images=9),
                          "key figures.comparison_images: 9 rows, but evaluation.save_images=8 keeps only that "
                          "many images per method"),
}


@pytest.mark.bad_input
@pytest.mark.parametrize("case", BETWEEN_KEYS)
def test_config_errors_between_keys_stop_the_dry_run_in_one_line(case, workdir, tmp_path):
    """Found before anything runs (the data stage included), by the library: not in a training job."""
    config, message = BETWEEN_KEYS[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)
    line = one_line_error(snakemake(workdir, "-n", "--configfile", str(path), check=False))
    assert line.startswith(f"inpaintbench: error: {path}: ") and message in line


@pytest.mark.bad_input
def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path):
    """In the default config (read by the Snakefile) and, through `inpaintbench check-config`, in any
    config; a --configfile Snakemake reads itself, before the workflow, without naming the line."""
    workdir = copy_workflow(tmp_path / "workflow")
    default = workdir / "config" / "config.yaml"
    lines = default.read_text().splitlines()
    broken = next(i for i, line in enumerate(lines) if line.startswith("  image_size:"))
    lines[broken] = "  image_size: [128"
    default.write_text("\n".join(lines) + "\n")
    line = one_line_error(snakemake(workdir, "-n", check=False))
    assert line.startswith(f"inpaintbench: error: config/config.yaml, line {broken + 2}, ") and "not valid YAML" in line
    check = subprocess.run([sys.executable, "-m", "inpaintbench.cli", "check-config", str(default),
                            str(ROOT / "config" / "demo.yaml")], capture_output=True, text=True, check=False)
    assert check.returncode == 2 and check.stdout.startswith(f"{ROOT / 'config' / 'demo.yaml'}: valid; models: ")
    assert check.stderr.startswith(f"inpaintbench: error: {default}, line {broken + 2}, ")


@pytest.mark.bad_input
@pytest.mark.slow
def test_a_failing_data_job_writes_its_error_into_its_log(tmp_path):
    """The cause is in the job's own log (where a SLURM user looks), as one line, and no traceback shows."""
    workdir = copy_workflow(tmp_path / "workflow")
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "readme.txt").write_text("no photos here yet")
    config = {"data": {**DATA, "source": "folder", "folder": str(folder), "image_size": SIZE}, "masks": MASKS,
              "models": {}}
    (workdir / "empty.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "data", "--cores", "1", "--configfile", "empty.yaml", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stdout + result.stderr
    log = (workdir / "results/logs/data/manifest.log").read_text().splitlines()
    assert [line.split(" ", 2)[2] for line in log] == ["ERROR ValueError: data source 'folder': found no images"]
    assert not (workdir / "results/data/manifest.csv").exists()


@pytest.mark.bad_input
def test_the_split_check_needs_a_test_image_always_and_a_train_image_when_a_model_trains():
    fractions = {"train": 0.8, "val": 0.1, "test": 0.1}
    prepare.check_split_sizes(Counter(test=1), fractions, needs_train=False)
    prepare.check_split_sizes(Counter(train=1, test=1), fractions, needs_train=True)
    with pytest.raises(ValueError, match=r"leaves the train split empty \(of 2 images: train 0, val 1, test 1\)"):
        prepare.check_split_sizes(Counter(val=1, test=1), fractions, needs_train=True)


@pytest.mark.bad_input
def test_a_split_that_leaves_the_test_split_empty_stops_the_run_in_the_manifest_job(tmp_path):
    """One photo: one failed job (the manifest's) with one line naming data.split and the counts; no
    shard is written and no training starts (13 jobs failed one after another before)."""
    workdir = copy_workflow(tmp_path / "workflow")
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(skdata.astronaut()).save(folder / "one.png")
    config = {"data": {**DATA, "source": "folder", "folder": str(folder), "image_size": SIZE}, "masks": MASKS,
              "models": {"gan_paper": {"kind": "gan_paper"}}}
    (workdir / "one.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "--cores", "1", "--configfile", "one.yaml", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stdout + result.stderr
    log = (workdir / "results/logs/data/manifest.log").read_text().splitlines()
    assert log[-1].split(" ", 2)[2] == ("ERROR ValueError: data.split {'test': 0.25, 'train': 0.5, 'val': 0.25} "
                                        "leaves the test split empty (of 1 images: train 1, val 0, test 0): "
                                        "add images or change data.split")
    assert sorted(p.name for p in (workdir / "results/logs").rglob("*.log")) == ["manifest.log"]
    assert not (workdir / "results/data/manifest.csv").exists()


@pytest.mark.parametrize("config", ["config/config.yaml", "config/demo.yaml"])
def test_dry_run_plans_the_data_stage(workdir, config):
    result = snakemake(workdir, "-n", "--configfile", config)
    plan = result.stdout + result.stderr
    shards = yaml.safe_load((ROOT / config).read_text())["data"]["shards"]
    assert "data_summary" in plan
    assert plan.count("rule shard:") == shards
    assert ("rule fetch_archive:" in plan) == (config == "config/config.yaml")


@pytest.mark.slow
def test_demo_data_stage_runs_for_real(workdir):
    snakemake(workdir, "data", "--cores", "2", "--configfile", "config/demo.yaml")
    demo = load_config(ROOT / "config/demo.yaml")["data"]
    expected = len(sources.list_demo(demo["demo"]["scales"], demo["demo"]["positions"]).rows)
    summary = json.loads((workdir / "results/data/summary.json").read_text())
    assert summary["total"] == expected > 200 and summary["skipped"] == 0
    manifest = pd.read_csv(workdir / "results/data/manifest.csv")
    assert len(manifest) == expected
    tfdir = workdir / "results/data/tfrecords"
    for split in tfrecords.SPLITS:
        paths = tfrecords.split_paths(tfdir, split)
        assert len(paths) == demo["shards"]
        assert tfrecords.count_records(paths) == summary["images"][split] == (manifest["split"] == split).sum()
    image, mask = next(iter(tfrecords.load_dataset(tfrecords.split_paths(tfdir, "test"), 8, 128)))
    assert image.shape == (8, 128, 128, 3) and float(image.numpy().std()) > 0.05
    covered = mask.numpy().mean(axis=(1, 2, 3))
    assert ((covered >= 0.35 ** 2 - 0.01) & (covered <= 0.25 + 0.01)).all()
    assert not (workdir / "results/downloads").exists()


@pytest.mark.slow
def test_editing_data_encoding_rebuilds_the_shards_and_nothing_before_them(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    text = (ROOT / "tests/configs/tiny.yaml").read_text()
    (workdir / "tiny.yaml").write_text(text)
    (workdir / "tiny_jpeg.yaml").write_text(text.replace("  image_size: 32\n", "  image_size: 32\n  encoding: jpeg\n"))
    snakemake(workdir, "data", "--cores", "2", "--configfile", "tiny.yaml")
    tfdir = workdir / "results/data/tfrecords"
    assert pixel_digest(tfrecords.split_paths(tfdir, "test"), SIZE) == PAPER_PIXELS["test"]
    plan = snakemake(workdir, "data", "-n", "--configfile", "tiny_jpeg.yaml").stdout
    assert plan.count("rule shard:") == 2 and "rule manifest:" not in plan
    snakemake(workdir, "data", "--cores", "2", "--configfile", "tiny_jpeg.yaml")
    assert first_feature(tfrecords.split_paths(tfdir, "test"), "encoding") == b"jpeg"


@pytest.mark.slow
def test_folder_source_through_the_workflow_reruns_when_an_image_is_added(tmp_path):
    workdir = copy_workflow(tmp_path / "workflow")
    folder = tmp_path / "my photos"
    (folder / "cats").mkdir(parents=True)
    chelsea().save(folder / "cats" / "chelsea.jpg")
    chelsea().convert("L").save(folder / "cats" / "grey {1}.png")
    config = {"data": {**DATA, "source": "folder", "folder": str(folder), "image_size": SIZE,
                       "shards": 1}, "masks": MASKS, "models": {}}
    (workdir / "folder.yaml").write_text(yaml.safe_dump(config))
    snakemake(workdir, "data", "--cores", "2", "--configfile", "folder.yaml")
    found = records(workdir / "results/data/tfrecords")
    assert {k: v["category"] for k, v in found.items()} == {"cats__chelsea": "cats",
                                                            "cats__grey {1}": "cats"}
    plan = snakemake(workdir, "-n", "data", "--configfile", "folder.yaml")
    assert "Nothing to be done" in plan.stdout + plan.stderr
    Image.fromarray(skdata.coffee()).save(folder / "coffee.jpg")
    plan = snakemake(workdir, "-n", "data", "--configfile", "folder.yaml")
    assert "rule manifest:" in plan.stdout + plan.stderr
