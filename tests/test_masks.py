"""Mask protocols: every generator on drawn masks, the paper's square bit for bit, the loader's masks,
fresh training masks, and the config's protocol keys."""

from __future__ import annotations

import copy
import hashlib

import numpy as np
import pytest
from scipy import ndimage
from skimage import data as skdata

from inpaintbench.config import ConfigError, default_masks, validate_config
from inpaintbench.data import masks, tfrecords

PROTOCOLS = default_masks()["protocols"]
IDS = [f"Places365_val_{i:08d}" for i in range(500)]


def drawn(protocol: str, size: int = 128, count: int = 500, recipe: dict | None = None) -> np.ndarray:
    return np.stack([masks.protocol_mask(image_id, size, protocol, recipe or PROTOCOLS[protocol], 1234)
                     for image_id in IDS[:count]])


# Today's masks, computed with the pipeline before protocols existed (data.masks.hole_box and
# box_mask of commit 73ff7b3): sha256 of 500 stacked masks, and three boxes.
TODAYS_MASKS = {(128, 1234): "12b5f4a82271622a86d1fa433051142b36b16da64aafdaafae122592e84a3221",
                (32, 1234): "00dead1c1988f87a324e35433f83488ba3183bb8695bc95ad4adc19c7a843935",
                (256, 7): "ccc3fc2892d3cdd6b8c861952876bf43afa7740b9e6b32acef47433963157fd2"}
TODAYS_BOXES = {"astronaut-0000": ((67, 26, 46, 46), (17, 6, 12, 12)),
                "Places365_val_00000001": ((68, 35, 58, 58), (17, 8, 15, 15)),
                "chelsea__3": ((3, 61, 46, 46), (0, 16, 11, 11))}


@pytest.mark.parametrize("size, seed", list(TODAYS_MASKS))
def test_square_is_todays_mask_bit_for_bit(size, seed):
    square = np.stack([masks.protocol_mask(i, size, "square", PROTOCOLS["square"], seed) for i in IDS])
    assert hashlib.sha256(square.tobytes()).hexdigest() == TODAYS_MASKS[size, seed]
    for image_id, boxes in TODAYS_BOXES.items():
        for size_, box in zip((128, 32), boxes):
            assert masks.hole_box(image_id, size_, (0.35, 0.5), 1234) == box
            expected = masks.box_mask(box, size_)
            np.testing.assert_array_equal(masks.protocol_mask(image_id, size_, "square", PROTOCOLS["square"], 1234),
                                          expected)


def test_center_is_the_context_encoders_square():
    for size in (32, 128):
        mask = masks.protocol_mask("any", size, "center", PROTOCOLS["center"], 1)
        side = size // 2
        np.testing.assert_array_equal(mask, masks.box_mask((side // 2, side // 2, side, side), size))


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_every_protocol_is_deterministic_binary_sized_and_depends_on_id_seed_and_name(protocol):
    first = drawn(protocol, size=64, count=40)
    assert first.shape == (40, 64, 64) and first.dtype == np.uint8
    assert set(np.unique(first)) <= {0, 1} and all(mask.any() for mask in first)
    np.testing.assert_array_equal(first, drawn(protocol, size=64, count=40))
    if protocol == "center":
        return
    other_seed = np.stack([masks.protocol_mask(i, 64, protocol, PROTOCOLS[protocol], 1235) for i in IDS[:40]])
    assert (first != other_seed).any(axis=(1, 2)).mean() > 0.9
    assert (first[:20] != first[20:]).any(axis=(1, 2)).all()  # images differ from each other
    if protocol != "square":  # the square keeps the paper's hash of (seed, id) alone
        renamed = np.stack([masks.protocol_mask(i, 64, "renamed", PROTOCOLS[protocol], 1234) for i in IDS[:40]])
        assert (first != renamed).any(axis=(1, 2)).mean() > 0.9


@pytest.mark.parametrize("protocol", ["lama_thin", "lama_medium", "lama_thick", "boxes"])
def test_lama_sets_and_boxes_never_cover_more_than_half(protocol):
    areas = drawn(protocol, count=200).mean(axis=(1, 2))
    assert areas.max() <= 0.5 and areas.min() > 0
    unlimited = {**PROTOCOLS[protocol], "max_area": None}
    assert drawn(protocol, count=200, recipe=unlimited).mean(axis=(1, 2)).max() > 0.5  # so the limit does redraw


def edt_max(mask: np.ndarray) -> float:
    """Radius of the widest disc in the hole: half the widest stroke, measured on the pixels."""
    return float(ndimage.distance_transform_edt(np.pad(mask, 1)).max())  # the image's border is no hole


def strokes_only(protocol: str) -> dict:
    return {key: value for key, value in PROTOCOLS[protocol].items() if key != "boxes"}


def test_lama_stroke_widths_and_counts_on_the_drawn_masks():
    size = 256  # the field's size: widths are not scaled
    # Straight strokes (max_angle 1: every segment of a stroke in one direction), one per mask: the
    # widest disc is half the stroke's widest segment, 5 + [0, max_width) px.
    for max_width in (10, 50):
        recipe = {**strokes_only("lama_medium"), "strokes": {"weight": 1, "times": [1, 1], "max_width": max_width,
                                                             "max_angle": 1, "max_len": 100}, "max_area": None}
        radii = [edt_max(m) for m in drawn("one", size, 100, recipe)]
        assert min(radii) >= 5 / 2 - 1 and max(radii) <= (5 + max_width - 1) / 2 + 1
        assert max(radii) >= (5 + max_width - 1) / 2 - 2  # the whole range is drawn
    # Counts: k strokes give at most k separate strokes (crossing strokes merge), and k on some masks.
    recipe = {"generator": "lama", "strokes": {"weight": 1, "times": [3, 3], "max_width": 4, "max_angle": 4,
                                               "max_len": 30}, "max_area": None}
    components = [ndimage.label(m, np.ones((3, 3)))[1] for m in drawn("three", size, 100, recipe)]
    assert max(components) == 3 and min(components) >= 1


def test_lama_thin_medium_thick_widen_and_medium_covers_less_than_thick():
    """LaMa's sets differ in stroke width (measured as the widest disc in a strokes-only mask); by area
    its thin set (4-51 narrow strokes) covers about as much as its thick one, medium less than both."""
    radii = {name: np.mean([edt_max(m) for m in drawn(name, count=100, recipe=strokes_only(name))])
             for name in ("lama_thin", "lama_medium", "lama_thick")}
    assert radii["lama_thin"] < radii["lama_medium"] < radii["lama_thick"]
    areas = {name: drawn(name).mean() for name in ("lama_thin", "lama_medium", "lama_thick")}
    assert areas["lama_medium"] < areas["lama_thick"] and areas["lama_medium"] < areas["lama_thin"]


def test_deepfill_strokes_widths_and_counts_on_the_drawn_masks():
    # One stroke of one step (its zigzags fold back on themselves): a capsule as wide as the stroke.
    one = {**PROTOCOLS["strokes"], "times": [1, 1], "vertices": [1, 1]}
    radii = [edt_max(m) for m in drawn("strokes", 256, 100, one)]
    low, high = PROTOCOLS["strokes"]["width"]
    assert min(radii) >= low / 2 - 1 and max(radii) <= high / 2 + 1 and max(radii) >= high / 2 - 3
    components = [ndimage.label(m, np.ones((3, 3)))[1] for m in drawn("strokes", 128, 200)]
    assert max(components) == PROTOCOLS["strokes"]["times"][1] and min(components) >= 1
    single = {**PROTOCOLS["strokes"], "times": [1, 1]}
    assert all(ndimage.label(m, np.ones((3, 3)))[1] == 1 for m in drawn("strokes", 128, 50, single))


def test_boxes_count_sides_and_margin_on_the_drawn_masks():
    size, scale = 128, 128 / 256
    recipe = PROTOCOLS["boxes"]
    margin = round(scale * recipe["margin"])
    lo, hi = (round(scale * v) for v in recipe["size"])
    found = drawn("boxes", size)
    assert not found[:, :margin].any() and not found[:, -margin:].any() and not found[:, :, :margin].any()
    counts = []
    for mask in found:
        labels, count = ndimage.label(mask)
        counts.append(count)
        for box in ndimage.find_objects(labels):
            height, width = box[0].stop - box[0].start, box[1].stop - box[1].start
            if mask[box].all() and count == 1:  # a lone rectangle: its sides are one box's
                assert lo <= height <= hi and lo <= width <= hi
    assert max(counts) <= recipe["times"][1] and min(counts) == 1
    small = {**recipe, "margin": 0, "size": [8, 16], "times": [3, 3], "max_area": None}
    counts = [ndimage.label(mask)[1] for mask in drawn("small", 256, 100, small)]
    assert max(counts) == 3 and min(counts) >= 1  # k boxes, some of them overlapping


def corners(mask: np.ndarray) -> int:
    """2x2 windows with one or three hole pixels: only the corners of a union of boxes, but every
    step of a slanted or round edge."""
    padded = np.pad(mask.astype(int), 1)
    windows = padded[:-1, :-1] + padded[1:, :-1] + padded[:-1, 1:] + padded[1:, 1:]
    return int(np.count_nonzero(windows % 2))


def test_mixed_is_half_strokes_half_boxes():
    assert max(corners(m) for m in drawn("boxes", count=100)) <= 40  # 4 boxes: 16 corners + crossings
    share = np.mean([corners(m) <= 40 for m in drawn("mixed", count=400)])
    assert 0.4 < share < 0.6


@pytest.mark.bad_input
def test_a_recipe_that_cannot_be_met_is_an_error_naming_it():
    recipe = {**PROTOCOLS["lama_thick"], "max_area": 0.001}
    with pytest.raises(ValueError, match="max_area=0.001"):
        masks.protocol_mask("x", 64, "lama_thick", recipe, 0)


def write_split(folder, count: int = 12, size: int = 32) -> list[str]:
    photo = (skdata.astronaut()[::16, ::16]).astype(np.uint8)
    paths = [str(folder / f"test-{i}-of-2.tfrecord") for i in range(2)]
    writers = [tfrecords.writer(path) for path in paths]
    for i in range(count):
        writers[i % 2].write(tfrecords.serialize(np.roll(photo, i, axis=1)[:size, :size], f"img{i}", "demo"))
    for writer in writers:
        writer.close()
    return paths


def test_the_loader_pairs_each_image_with_its_protocol_mask(tmp_path):
    paths = write_split(tmp_path)
    for protocol in ("square", "lama_thick"):
        source = masks.MaskSource(protocol, PROTOCOLS[protocol], 99)
        for batch in tfrecords.load_dataset(paths, 5, 32, with_meta=True, masks=source):
            for image_id, mask in zip(batch["id"].numpy(), batch["mask"].numpy()):
                expected = masks.protocol_mask(image_id.decode(), 32, protocol, PROTOCOLS[protocol], 99)
                np.testing.assert_array_equal(mask[..., 0], expected)
    default = next(iter(tfrecords.load_dataset(paths, 12, 32, with_meta=True)))
    square = default_masks()
    for image_id, mask in zip(default["id"].numpy(), default["mask"].numpy()):
        np.testing.assert_array_equal(mask[..., 0], masks.protocol_mask(
            image_id.decode(), 32, "square", square["protocols"]["square"], square["seed"]))


def test_fresh_training_masks_change_every_step_and_repeat_with_the_seed(tmp_path):
    paths = write_split(tmp_path)
    source = masks.MaskSource("mixed", PROTOCOLS["mixed"], 1234).for_training(training_seed=5, first_step=10)
    assert source.fresh and source.seed == 5
    assert masks.MaskSource("square", PROTOCOLS["square"], 1234).for_training(5).fresh is False

    def steps(shuffle, augment=False):
        dataset = tfrecords.load_dataset(paths, 4, 32, shuffle=shuffle, repeat=True, seed=3, drop_remainder=True,
                                         masks=source, augment=augment)
        return [(images.numpy(), holes.numpy()) for images, holes in dataset.take(6)]

    first = steps(shuffle=True)
    holes = np.concatenate([h for _, h in first])[..., 0]
    assert holes.shape == (24, 32, 32) and len({h.tobytes() for h in holes}) == 24  # never the same hole twice
    for step, (_, batch) in enumerate(first):  # mask = f(training seed, step, position), whatever the shuffle
        for position, hole in enumerate(batch[..., 0]):
            np.testing.assert_array_equal(hole, masks.fresh_mask(32, PROTOCOLS["mixed"], 5, 10 + step, position))
    plain, flipped = steps(shuffle=False), steps(shuffle=False, augment=True)
    mirrored = 0
    for (images, holes_), (flips, flip_holes) in zip(plain, flipped):
        np.testing.assert_array_equal(holes_, flip_holes)  # augment flips the images only
        for image, flip in zip(images, flips):
            mirrored += bool((flip == image[:, ::-1]).all() and (flip != image).any())
            assert (flip == image).all() or (flip == image[:, ::-1]).all()
    assert 0 < mirrored < 24


def config_with(**changes) -> dict:
    config = {"data": {}, "masks": {}, "models": {"m": {"kind": "gan_paper"}}, "evaluation": {}}
    for key, value in changes.items():
        target = config
        *parents, last = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[last] = copy.deepcopy(value)
    return config


def test_protocol_config_defaults_and_overrides():
    config = validate_config(config_with(**{"masks.protocols": {"lama_thick": {"boxes": {"margin": 0}},
                                                                 "mine": {"generator": "boxes", "margin": 0,
                                                                          "size": [5, 9], "times": [1, 2]}}}))
    protocols = config["masks"]["protocols"]
    assert protocols["lama_thick"]["boxes"] == {**PROTOCOLS["lama_thick"]["boxes"], "margin": 0}
    assert protocols["lama_thin"] == PROTOCOLS["lama_thin"] and protocols["mine"]["generator"] == "boxes"
    assert config["evaluation"]["protocols"] == ["square", "lama_thin", "lama_thick"]
    assert config["models"]["m"]["training"]["masks"] == "square"


BAD_PROTOCOL_KEYS = {
    "evaluation.protocols": (["square", "wide"], r"key evaluation\.protocols: no protocol 'wide'"),
    "models.m.training": ({"masks": "wide"}, r"key models\.m\.training\.masks: no protocol 'wide'"),
    "masks.protocols": ({"strokes": {"width": [40, 12]}}, r"key masks\.protocols\.strokes\.width: lower bound"),
    "masks.kind": ("random", r"unknown key masks\.kind \(known here: seed, protocols\)"),
    "aggregation.hole_size_bins": (5, r"unknown key aggregation\.hole_size_bins \(known here: bootstrap_samples"),
}


@pytest.mark.bad_input
@pytest.mark.parametrize("key", BAD_PROTOCOL_KEYS)
def test_protocol_config_errors_name_the_key(key):
    value, message = BAD_PROTOCOL_KEYS[key]
    with pytest.raises(ConfigError, match=message):
        validate_config(config_with(**{key: value}))
