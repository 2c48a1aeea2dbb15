"""The TensorFlow metrics against skimage.metrics (random and real photos) and a hand computation."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data, transform
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inpaintbench import metrics


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
    psnr, ssim = metrics.psnr(reference, images).numpy(), metrics.ssim(reference, images).numpy()
    for i in range(len(reference)):
        assert psnr[i] == pytest.approx(skimage_psnr(reference[i], images[i]), abs=1e-4)
        assert ssim[i] == pytest.approx(skimage_ssim(reference[i], images[i]), abs=1e-3)
    assert len(set(np.round(ssim, 3))) == len(ssim)  # distinct degradations give distinct scores


def test_float32_inputs_match_skimage_in_float64():
    reference, images = real_pairs()
    ssim = metrics.ssim(reference.astype(np.float32), images.astype(np.float32)).numpy()
    psnr = metrics.psnr(reference.astype(np.float32), images.astype(np.float32)).numpy()
    for i in range(len(reference)):
        assert ssim[i] == pytest.approx(skimage_ssim(reference[i], images[i]), abs=1e-3)
        assert psnr[i] == pytest.approx(skimage_psnr(reference[i], images[i]), abs=1e-3)


@pytest.mark.parametrize("pairs", [random_pairs, real_pairs], ids=["random", "real"])
def test_hole_metrics_match_skimage_on_the_box_crop(pairs):
    reference, images = pairs()
    size = reference.shape[1]
    boxes = np.array([[0, 0, 7, 7], [3, 5, 12, 9], [min(20, size - 15), 2, 15, 15]][:len(reference)]
                     + [[1, 1, 10, 10]] * max(0, len(reference) - 3))
    hole_psnr = metrics.hole_psnr(reference, images, boxes).numpy()
    hole_ssim = metrics.hole_ssim(reference, images, boxes).numpy()
    for i, (top, left, h, w) in enumerate(boxes):
        a, b = reference[i, top:top + h, left:left + w], images[i, top:top + h, left:left + w]
        assert hole_psnr[i] == pytest.approx(skimage_psnr(a, b), abs=1e-4)
        assert hole_ssim[i] == pytest.approx(skimage_ssim(a, b), abs=1e-3)


def test_hole_metrics_by_hand_on_a_known_case():
    """A grey 16x16 image; the inpainting is off by 0.1 inside a 8x8 box and exact outside it."""
    reference = np.full((1, 16, 16, 3), 0.5)
    images = reference.copy()
    images[0, 4:12, 2:10] += 0.1
    box = np.array([[4, 2, 8, 8]])
    # Inside the box every pixel is off by 0.1: MSE 0.01, PSNR 10*log10(1/0.01) = 20 dB.
    assert metrics.hole_psnr(reference, images, box).numpy()[0] == pytest.approx(20.0, abs=1e-9)
    # Over the whole image 64 of 256 pixels are off: MSE 0.0025, PSNR 26.0206 dB.
    assert metrics.psnr(reference, images).numpy()[0] == pytest.approx(10 * np.log10(1 / 0.0025), abs=1e-9)
    assert metrics.l1(reference, images).numpy()[0] == pytest.approx(0.1 * 64 / 256, abs=1e-12)
    # Inside the box both crops are flat (zero variance): SSIM = luminance term only,
    # (2*0.5*0.6 + C1) / (0.5^2 + 0.6^2 + C1) with C1 = 0.01^2.
    c1 = 0.01 ** 2
    expected = (2 * 0.5 * 0.6 + c1) / (0.5 ** 2 + 0.6 ** 2 + c1)
    assert metrics.hole_ssim(reference, images, box).numpy()[0] == pytest.approx(expected, abs=1e-9)


def test_hole_ssim_is_nan_for_a_box_smaller_than_the_window():
    reference, images = random_pairs(shape=(1, 16, 16, 3))
    assert np.isnan(metrics.hole_ssim(reference, images, np.array([[2, 2, 6, 6]])).numpy()[0])


def test_identical_images_give_infinite_psnr_and_ssim_one():
    reference, _ = random_pairs(shape=(2, 12, 12, 3))
    assert np.all(np.isinf(metrics.psnr(reference, reference).numpy()))
    np.testing.assert_allclose(metrics.ssim(reference, reference).numpy(), 1.0, atol=1e-12)


def test_images_must_be_batches():
    with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
        metrics.psnr(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)))
