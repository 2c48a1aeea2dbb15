"""The metrics against skimage.metrics (random and real photos), plain numpy on free-form holes, a hand
computation, and the former TensorFlow implementation's values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage import data, filters, transform
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inpaintbench import metrics
from inpaintbench.config import default_masks
from inpaintbench.data.masks import box_mask, protocol_mask


def skimage_psnr(a, b):
    return peak_signal_noise_ratio(a, b, data_range=1.0)


def skimage_ssim(a, b):
    return structural_similarity(a, b, data_range=1.0, channel_axis=-1)


def random_pairs(seed=0, shape=(4, 24, 30, 3)):
    rng = np.random.default_rng(seed)
    reference = rng.random(shape)
    return reference, np.clip(reference + rng.normal(0.0, 0.15, shape), 0.0, 1.0)


def real_pairs(size=48):
    """Three scikit-image photos and degraded versions of them (noise, blur, a grey square)."""
    photos = np.stack([transform.resize(getattr(data, name)()[..., :3], (size, size), anti_aliasing=True)
                       for name in ("astronaut", "chelsea", "coffee")])
    rng = np.random.default_rng(1)
    degraded = np.clip(photos + rng.normal(0.0, 0.05, photos.shape), 0.0, 1.0)
    degraded[1] = transform.rescale(transform.rescale(photos[1], 0.5, channel_axis=-1), 2.0, channel_axis=-1)
    degraded[2] = photos[2].copy()
    degraded[2, 10:30, 5:25] = 0.5
    return photos, degraded


@pytest.mark.parametrize("pairs", [random_pairs, real_pairs], ids=["random", "real"])
def test_psnr_and_ssim_match_skimage(pairs):
    reference, images = pairs()
    psnr, ssim = metrics.psnr(reference, images), metrics.ssim(reference, images)
    for i in range(len(reference)):
        assert psnr[i] == pytest.approx(skimage_psnr(reference[i], images[i]), abs=1e-4)
        assert ssim[i] == pytest.approx(skimage_ssim(reference[i], images[i]), abs=1e-3)
    assert len(set(np.round(ssim, 3))) == len(ssim)  # distinct degradations give distinct scores


def test_float32_inputs_match_skimage_in_float64():
    reference, images = real_pairs()
    ssim = metrics.ssim(reference.astype(np.float32), images.astype(np.float32))
    psnr = metrics.psnr(reference.astype(np.float32), images.astype(np.float32))
    for i in range(len(reference)):
        assert ssim[i] == pytest.approx(skimage_ssim(reference[i], images[i]), abs=1e-3)
        assert psnr[i] == pytest.approx(skimage_psnr(reference[i], images[i]), abs=1e-3)


def box_masks(boxes, size: int) -> np.ndarray:
    return np.stack([box_mask(box, size) for box in boxes])[..., None].astype(np.float32)


@pytest.mark.parametrize("pairs", [random_pairs, real_pairs], ids=["random", "real"])
def test_hole_metrics_of_a_square_match_skimage_on_its_crop(pairs):
    reference, images = pairs()
    size = reference.shape[1]
    boxes = np.array([[0, 0, 7, 7], [3, 5, 12, 9], [min(20, size - 15), 2, 15, 15]][:len(reference)]
                     + [[1, 1, 10, 10]] * max(0, len(reference) - 3))
    holes = box_masks(boxes, size) if size == reference.shape[2] else None
    if holes is None:  # the random pairs are not square images: the boxes' masks by hand
        holes = np.zeros(reference.shape[:3] + (1,), np.float32)
        for hole, (top, left, h, w) in zip(holes, boxes):
            hole[top:top + h, left:left + w] = 1
    hole_psnr = metrics.hole_psnr(reference, images, holes)
    hole_ssim = metrics.hole_ssim(reference, images, holes)
    for i, (top, left, h, w) in enumerate(boxes):
        a, b = reference[i, top:top + h, left:left + w], images[i, top:top + h, left:left + w]
        assert hole_psnr[i] == pytest.approx(skimage_psnr(a, b), abs=1e-4)
        assert hole_ssim[i] == pytest.approx(skimage_ssim(a, b), abs=1e-3)


def test_hole_metrics_of_a_square_are_the_pipelines_values_before_free_form_masks():
    """The values the box-based hole metrics gave (commit 73ff7b3) on the real pairs, to 1e-12."""
    reference, images = real_pairs()
    holes = box_masks([(0, 0, 7, 7), (3, 5, 12, 9), (20, 2, 15, 15)], reference.shape[1])
    np.testing.assert_allclose(metrics.hole_psnr(reference, images, holes),
                               [27.02968893169956, 29.674412153506232, 12.818089371288913], rtol=0, atol=1e-12)
    np.testing.assert_allclose(metrics.hole_ssim(reference, images, holes),
                               [0.9794536798495356, 0.7853320566615993, 0.21700178946257526], rtol=0, atol=1e-12)


def numpy_hole_metrics(reference: np.ndarray, image: np.ndarray, hole: np.ndarray) -> dict[str, float]:
    """Hole metrics of one image straight from the masked pixels, and hole SSIM from skimage's full SSIM map
    at the centres of the 7x7 windows lying wholly inside the hole (the hole eroded by the window)."""
    hole = hole.astype(bool)
    errors = reference[hole] - image[hole]
    mse = float(np.mean(np.square(errors)))
    _, full = structural_similarity(reference, image, data_range=1.0, channel_axis=-1, full=True)
    centres = ndimage.binary_erosion(hole, np.ones((7, 7), bool), border_value=0)
    return {"hole_mse": mse, "hole_psnr": 10 * np.log10(1.0 / mse), "hole_l1": float(np.mean(np.abs(errors))),
            "hole_ssim": float(full[centres].mean()) if centres.any() else np.nan}


def test_hole_metrics_of_free_form_masks_agree_with_numpy_on_the_masked_pixels():
    reference, images = real_pairs(size=64)
    images = np.clip(images + np.random.default_rng(2).normal(0.0, 0.03, images.shape), 0.0, 1.0)
    recipes = default_masks()["protocols"]
    one_thin_stroke = {**recipes["lama_thin"], "strokes": {**recipes["lama_thin"]["strokes"], "times": [1, 1]}}
    chosen = (("lama_thick", recipes["lama_thick"]), ("strokes", recipes["strokes"]), ("thin", one_thin_stroke))
    holes = np.stack([protocol_mask(f"photo{i}", 64, name, recipe, 0)
                      for i, (name, recipe) in enumerate(chosen)])[..., None]
    found = {key: fn(reference, images, holes) for key, fn in (
        ("hole_mse", metrics.hole_mse), ("hole_psnr", metrics.hole_psnr), ("hole_l1", metrics.hole_l1),
        ("hole_ssim", metrics.hole_ssim))}
    assert np.isfinite(found["hole_ssim"][0]) and np.isnan(found["hole_ssim"][2])  # no 7x7 window in a thin stroke
    for i in range(3):
        expected = numpy_hole_metrics(reference[i], images[i], holes[i, ..., 0])
        for key, value in expected.items():
            assert found[key][i] == pytest.approx(value, abs=1e-9, nan_ok=True), (i, key)
    assert metrics.all_metrics(reference, images, holes)["hole_l1"] == pytest.approx(found["hole_l1"])


def test_hole_metrics_by_hand_on_a_known_case():
    """A grey 16x16 image; the inpainting is off by 0.1 inside a 8x8 box and exact outside it."""
    reference = np.full((1, 16, 16, 3), 0.5)
    images = reference.copy()
    images[0, 4:12, 2:10] += 0.1
    hole = box_masks([(4, 2, 8, 8)], 16)
    # Inside the box every pixel is off by 0.1: MSE 0.01, PSNR 10*log10(1/0.01) = 20 dB, L1 0.1.
    assert metrics.hole_psnr(reference, images, hole)[0] == pytest.approx(20.0, abs=1e-9)
    assert metrics.hole_l1(reference, images, hole)[0] == pytest.approx(0.1, abs=1e-12)
    # Over the whole image 64 of 256 pixels are off: MSE 0.0025, PSNR 26.0206 dB.
    assert metrics.psnr(reference, images)[0] == pytest.approx(10 * np.log10(1 / 0.0025), abs=1e-9)
    assert metrics.l1(reference, images)[0] == pytest.approx(0.1 * 64 / 256, abs=1e-12)
    # Inside the box both crops are flat (zero variance): SSIM = luminance term only,
    # (2*0.5*0.6 + C1) / (0.5^2 + 0.6^2 + C1) with C1 = 0.01^2.
    c1 = 0.01 ** 2
    expected = (2 * 0.5 * 0.6 + c1) / (0.5 ** 2 + 0.6 ** 2 + c1)
    assert metrics.hole_ssim(reference, images, hole)[0] == pytest.approx(expected, abs=1e-9)


def test_hole_ssim_is_nan_where_no_window_fits_and_empty_holes_have_no_metrics():
    reference, images = random_pairs(shape=(2, 16, 16, 3))
    holes = box_masks([(2, 2, 6, 6), (0, 0, 0, 0)], 16)
    assert np.isnan(metrics.hole_ssim(reference, images, holes)).all()
    assert np.isnan(metrics.hole_psnr(reference, images, holes)[1])


def test_identical_images_give_infinite_psnr_and_ssim_one():
    reference, _ = random_pairs(shape=(2, 12, 12, 3))
    assert np.all(np.isinf(metrics.psnr(reference, reference)))
    np.testing.assert_allclose(metrics.ssim(reference, reference), 1.0, atol=1e-12)


def test_images_must_be_batches():
    with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
        metrics.psnr(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)))


def stepped_ramp(size=32, step=0.1, slope=0.01, cell=4):
    """x[i, j] = f(i) + f(j) with f(t) = slope t + step floor(t / cell): every neighbour pair
    differs by `slope`, plus `step` across the borders of cell x cell blocks."""
    f = slope * np.arange(size) + step * (np.arange(size) // cell)
    return np.repeat((f[:, None] + f[None, :])[None, :, :, None], 3, axis=-1) / (2 * f[-1])


def disc_mask(size, radius, centre=None):
    """A round hole: the measures are defined for any mask, not only squares."""
    cy, cx = centre or (size / 2, size / 2)
    y, x = np.mgrid[:size, :size]
    return (((y - cy) ** 2 + (x - cx) ** 2) <= radius ** 2)[None, :, :, None].astype(np.float32)


def photo(size=128):
    return transform.resize(data.astronaut(), (size, size), anti_aliasing=True)[None]


def test_blockiness_on_a_constructed_image_whose_answer_is_known():
    image, hole = stepped_ramp(), disc_mask(32, 12)
    # on the 4-grid every pair differs by slope + step = 0.11, elsewhere by slope = 0.01
    assert metrics.blockiness(image, hole, 4)[0] == pytest.approx(11.0, rel=1e-9)
    # the whole 32x32 image on the 8-grid: 0.11 at boundaries 8, 16, 24; off it, 4 of the other
    # 28 boundaries (4, 12, 20, 28) are 4-grid steps of 0.11 and 24 differ by 0.01
    whole = np.ones((1, 32, 32, 1))
    expected = 0.11 / ((4 * 0.11 + 24 * 0.01) / 28)
    assert metrics.blockiness(image, whole, 8)[0] == pytest.approx(expected, rel=1e-9)
    flat = stepped_ramp(step=0.0)
    assert metrics.blockiness(flat, hole, 4)[0] == pytest.approx(1.0, rel=1e-9)


def test_blockiness_tells_a_blocky_upsampling_from_a_photo_and_its_blur():
    """The truth scores about 1 at any stride; blurring it changes that little; a 4x nearest
    upsampling of it is all steps on the 4-grid (inf) and strongly blocky on the 8-grid."""
    truth = photo()
    hole = disc_mask(128, 40, centre=(60, 70))
    blurred = filters.gaussian(truth, sigma=(0, 2, 2, 0))
    blocky = np.repeat(np.repeat(truth[:, 2::4, 2::4], 4, axis=1), 4, axis=2)
    for stride in (2, 4, 8):
        assert 0.85 < metrics.blockiness(truth, hole, stride)[0] < 1.15
        assert 0.85 < metrics.blockiness(blurred, hole, stride)[0] < 1.15
    assert np.isinf(metrics.blockiness(blocky, hole, 4)[0])
    assert metrics.blockiness(blocky, hole, 8)[0] > 3.0
    # half-blocky: between the two
    assert 1.5 < metrics.blockiness((truth + blocky) / 2, hole, 4)[0] < 10


def test_sharpness_of_the_truth_its_blur_and_a_flat_fill():
    truth = photo()
    hole = disc_mask(128, 40, centre=(60, 70))
    blurred = filters.gaussian(truth, sigma=(0, 2, 2, 0))
    upsampled = transform.resize(transform.resize(truth, (1, 32, 32, 3), anti_aliasing=True), truth.shape, order=1)
    noisy = np.clip(truth + np.random.default_rng(0).normal(0, 0.05, truth.shape), 0, 1)
    assert metrics.sharpness(truth, truth, hole)[0] == pytest.approx(1.0, rel=1e-12)
    assert metrics.sharpness(truth, blurred, hole)[0] < 0.6
    assert metrics.sharpness(truth, upsampled, hole)[0] < 0.6
    assert metrics.sharpness(truth, noisy, hole)[0] > 1.3
    assert metrics.sharpness(truth, np.full_like(truth, 0.4), hole)[0] == 0.0
    # a fill at half the contrast has half the detail, exactly
    image = stepped_ramp()
    assert metrics.sharpness(image, 0.5 * image, disc_mask(32, 10))[0] == pytest.approx(0.5, rel=1e-9)


def test_hole_measures_are_per_image_and_ignore_pixels_outside_the_hole():
    truth = np.repeat(photo(64), 3, axis=0)
    holes = np.concatenate([disc_mask(64, 20), np.zeros((1, 64, 64, 1)), disc_mask(64, 12, (20, 40))])
    holes[1, 10:40, 5:35] = 1  # a square too
    blurred = filters.gaussian(truth, sigma=(0, 1.5, 1.5, 0))
    fills = np.where(holes > 0, blurred, truth)
    fills[2] = np.where(holes[2] > 0, blurred[2], 0.0)  # what lies outside the hole changes nothing
    batch = metrics.sharpness(truth, fills, holes)
    blocks = metrics.blockiness(fills, holes, 4)
    for i in range(3):
        assert batch[i] == pytest.approx(metrics.sharpness(truth[i:i + 1], blurred[i:i + 1], holes[i:i + 1])[0])
        assert blocks[i] == pytest.approx(metrics.blockiness(blurred[i:i + 1], holes[i:i + 1], 4)[0])
    assert batch[0] != pytest.approx(batch[1]) and batch[1] != pytest.approx(batch[2])
    with pytest.raises(ValueError, match="stride"):
        metrics.blockiness(fills, holes, 1)


def test_hole_l1_averages_over_the_hole_of_any_shape_only():
    reference = np.full((2, 16, 16, 3), 0.5)
    images = reference.copy()
    holes = np.concatenate([disc_mask(16, 5), np.zeros((1, 16, 16, 1))])
    holes[1, 2:6, 3:11] = 1
    images[0] += 0.2 * holes[0]       # off by 0.2 in the round hole
    images[1, 2:6, 3:11, 0] = 0.8     # one channel off by 0.3 in the square hole
    images[:, 0, 0] = 0.0             # a change outside both holes counts for nothing
    np.testing.assert_allclose(metrics.hole_l1(reference, images, holes), [0.2, 0.1], rtol=1e-12)


@pytest.mark.parametrize("size", [16, 64, 200])
def test_ssim_map_is_skimages_full_map_on_photos(size):
    """The numpy SSIM map is skimage's (uniform 7x7 window) at every window wholly inside the image, to 1e-9."""
    reference, images = real_pairs(size=size)
    found = metrics.ssim_map(reference, images)
    for i in range(len(reference)):
        _, full = structural_similarity(reference[i], images[i], data_range=1.0, channel_axis=-1, full=True)
        np.testing.assert_allclose(found[i], full[3:-3, 3:-3], rtol=0, atol=1e-9)


def test_all_metrics_on_free_form_holes_are_the_tensorflow_values():
    """The values the TensorFlow implementation gave (commit 6d8681c) on photos with free-form holes, to 1e-9:
    the numpy rewrite changed the speed only."""
    reference, images = real_pairs(size=64)
    recipes = default_masks()["protocols"]
    holes = np.stack([protocol_mask(f"photo{i}", 64, name, recipes[name], 0)
                      for i, name in enumerate(("lama_thick", "strokes", "lama_thick"))])[..., None]
    expected = {
        "psnr": [26.405939814083116, 28.45784658387203, 20.987315027321127],
        "ssim": [0.8905497913687114, 0.8519021703665328, 0.8716148298606745],
        "hole_psnr": [26.22215444543577, 31.11246155910213, 17.131902841914876],
        "hole_ssim": [0.8791504673348137, 0.9598848535050992, 0.7672055530520805],
        "l1": [0.037227187922511264, 0.02700589906986191, 0.025361120545810023],
        "hole_l1": [0.03841386395122323, 0.02240005286897265, 0.05916758354475601],
        "mse": [0.0022877365913723103, 0.0014263146455537534, 0.007966517184123544],
        "hole_mse": [0.0023866270327033406, 0.000774022961159444, 0.019355737151360047],
        "sharpness": [1.4656394011138403, 0.7114983807732721, 0.7811109998809341],
    }
    found = metrics.all_metrics(reference.astype(np.float32), images.astype(np.float32), holes)
    found64 = metrics.all_metrics(reference, images, holes)
    assert set(found64) == set(expected)
    for key, values in expected.items():
        np.testing.assert_allclose(found64[key], values, rtol=0, atol=1e-9, err_msg=key)
        np.testing.assert_allclose(found[key], values, rtol=0, atol=1e-6, err_msg=key)


def square_box(size: int) -> tuple[int, int, int, int]:
    return size // 5, size // 7, size // 2, size // 3


def eight_bit_cases(size: int):
    """(uint8 photos, uint8 inpaintings with the known pixels pasted back, boolean holes) at `size` px: four
    scikit-image photos under seeded free-form masks filled with noise, a blur, grey and the truth itself,
    a square hole, thin bars (no 7x7 window fits), an empty hole, and saturated extremes (0 against 255)."""
    names = ("astronaut", "chelsea", "coffee", "rocket")
    photos = np.stack([np.round(255 * transform.resize(getattr(data, name)()[..., :3], (size, size),
                                                       anti_aliasing=True)).astype(np.uint8) for name in names])
    rng = np.random.default_rng(size)
    recipes = default_masks()["protocols"]
    thin = np.zeros((size, size), bool)
    thin[size // 2:size // 2 + 4], thin[:, size // 3:size // 3 + 5] = True, True
    holes = np.stack([protocol_mask(f"photo{size}-{i}", size, "lama_thick", recipes["lama_thick"], i).astype(bool)
                      for i in range(4)]
                     + [box_mask(square_box(size), size).astype(bool),
                        thin,
                        np.zeros((size, size), bool), rng.random((size, size)) < 0.5])
    reference = np.concatenate([photos, photos[:3], np.full((1, size, size, 3), 255, np.uint8)])
    blurred = np.round(255 * filters.gaussian(photos[1] / 255.0, sigma=3, channel_axis=-1)).astype(np.uint8)
    fills = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8), blurred, np.full((size, size, 3), 128, np.uint8),
             photos[3], rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
             np.clip(photos[1].astype(int) + rng.integers(-20, 21, (size, size, 3)), 0, 255).astype(np.uint8),
             photos[2], (np.indices((size, size)).sum(axis=0) % 2 * 255).astype(np.uint8)[..., None].repeat(3, -1)]
    pasted = np.where(holes[..., None], np.stack(fills), reference)
    return reference, pasted, holes


@pytest.mark.parametrize("size", [128, 256])
def test_8_bit_metrics_are_the_float_metrics_and_skimages_on_photos(size):
    """all_metrics_8bit (exact integer sums: what the scorer and the evaluation use) gives every metric of
    all_metrics on the same images / 255, and skimage's PSNR, SSIM and SSIM map, to 1e-9; NaN and inf alike."""
    reference, pasted, holes = eight_bit_cases(size)
    found = metrics.all_metrics_8bit(reference, pasted, holes)
    expected = metrics.all_metrics(reference / 255.0, pasted / 255.0, holes[..., None].astype(np.float32))
    assert set(found) == set(expected) == set(metrics.METRIC_NAMES)
    for key in metrics.METRIC_NAMES:
        np.testing.assert_allclose(found[key], expected[key], rtol=0, atol=1e-9, err_msg=key)
    assert np.isinf(found["psnr"][3]) and found["ssim"][3] == pytest.approx(1.0, abs=1e-12)  # untouched
    assert np.isnan(found["hole_ssim"][5]) and np.isnan(found["hole_psnr"][6])  # thin bars; no hole
    for i in range(len(reference)):
        x, y = reference[i] / 255.0, pasted[i] / 255.0
        with np.errstate(divide="ignore"):  # skimage's PSNR of the untouched image: inf
            assert found["psnr"][i] == pytest.approx(skimage_psnr(x, y), abs=1e-9)
        assert found["ssim"][i] == pytest.approx(skimage_ssim(x, y), abs=1e-9)
        if i not in (3, 6):  # the hole metrics by hand need a hole and an error in it
            assert {key: found[key][i] for key in ("hole_mse", "hole_psnr", "hole_l1", "hole_ssim")} == \
                pytest.approx(numpy_hole_metrics(x, y, holes[i]), abs=1e-9, nan_ok=True)
    _, full = structural_similarity(reference[7] / 255.0, pasted[7] / 255.0, data_range=1.0, channel_axis=-1,
                                    full=True)
    np.testing.assert_allclose(metrics.ssim_map_8bit(reference[7].astype(np.int32), pasted[7].astype(np.int32)),
                               full[3:-3, 3:-3], rtol=0, atol=1e-9)
    top, left, height, width = square_box(size)
    crop = (slice(top, top + height), slice(left, left + width))
    assert found["hole_ssim"][4] == pytest.approx(skimage_ssim(reference[4][crop] / 255.0, pasted[4][crop] / 255.0),
                                                  abs=1e-9)


@pytest.mark.bad_input
def test_8_bit_metrics_refuse_images_that_are_not_uint8():
    reference, pasted, holes = eight_bit_cases(128)
    with pytest.raises(ValueError, match="uint8"):
        metrics.all_metrics_8bit(reference / 255.0, pasted / 255.0, holes)
