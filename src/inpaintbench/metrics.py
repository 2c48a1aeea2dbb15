"""Image-quality metrics, batched in TensorFlow, with the conventions of skimage.metrics.

PSNR   10 log10(data_range^2 / MSE), data_range 1 (images in [0, 1]), MSE over all pixels and channels.
SSIM   skimage.metrics.structural_similarity(data_range=1, channel_axis=-1) with its defaults:
       a uniform 7x7 window (gaussian_weights=False), K1=0.01, K2=0.03, sample covariance
       (N/(N-1)); computed per channel and averaged over the windows that lie wholly inside
       the image (skimage crops the (7-1)/2 border pixels), then over channels.

Hole metrics are restricted to the hole, given as a mask (B, H, W, 1) with 1 in the hole, of any
shape: hole PSNR, hole L1 and hole MSE over the mask's pixels (all channels); hole SSIM is the
mean of the SSIM map over the 7x7 windows that lie wholly inside the hole (the hole eroded by
the window), so it measures the fill alone, never a known pixel pasted back. For a square hole
that is skimage's SSIM of the square's crop, the pipeline's value before free-form masks. A hole
in which no window fits (a thin stroke, a square under 7 px) has no hole SSIM: NaN.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

WINDOW = 7
K1, K2 = 0.01, 0.03
DATA_RANGE = 1.0


def _float(images) -> tf.Tensor:
    images = tf.convert_to_tensor(images, tf.float64)
    if images.shape.rank != 4:
        raise ValueError(f"metrics: images must be (B, H, W, C), got shape {images.shape}")
    return images


def mse(reference, images) -> tf.Tensor:
    """Mean squared error per image, (B,)."""
    return tf.reduce_mean(tf.square(_float(reference) - _float(images)), axis=(1, 2, 3))


def l1(reference, images) -> tf.Tensor:
    """Mean absolute error per image, (B,)."""
    return tf.reduce_mean(tf.abs(_float(reference) - _float(images)), axis=(1, 2, 3))


def _psnr_of_mse(errors) -> tf.Tensor:
    return 10.0 * tf.math.log(DATA_RANGE ** 2 / errors) / tf.math.log(tf.constant(10.0, tf.float64))


def psnr(reference, images) -> tf.Tensor:
    """PSNR in dB per image, (B,); inf for identical images (as skimage)."""
    return _psnr_of_mse(mse(reference, images))


def _window_mean(values) -> tf.Tensor:
    """Mean over every 7x7 window wholly inside the image, (B, H-6, W-6, C): box sums from cumulative
    sums, exact to float64 rounding and several times faster than avg_pool2d on a CPU."""
    sums = tf.cumsum(tf.cumsum(tf.pad(values, [[0, 0], [1, 0], [1, 0], [0, 0]]), axis=1), axis=2)
    w = WINDOW
    return (sums[:, w:, w:] - sums[:, :-w, w:] - sums[:, w:, :-w] + sums[:, :-w, :-w]) / (w * w)


def ssim_map(reference, images) -> tf.Tensor:
    """SSIM of every 7x7 window wholly inside the image, (B, H-6, W-6, C)."""
    x, y = _float(reference), _float(images)
    if min(x.shape[1], x.shape[2]) < WINDOW:
        raise ValueError(f"SSIM: images of {x.shape[1]}x{x.shape[2]} px are smaller than the {WINDOW}x{WINDOW} window")
    mean = _window_mean
    covariance = WINDOW * WINDOW / (WINDOW * WINDOW - 1.0)
    ux, uy = mean(x), mean(y)
    vx = covariance * (mean(x * x) - ux * ux)
    vy = covariance * (mean(y * y) - uy * uy)
    vxy = covariance * (mean(x * y) - ux * uy)
    c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


def ssim(reference, images) -> tf.Tensor:
    """Mean SSIM per image, (B,)."""
    return tf.reduce_mean(ssim_map(reference, images), axis=(1, 2, 3))


def _hole_mean(values, masks) -> tf.Tensor:
    """Mean of `values` (B, H, W, C) over the pixels where `masks` (B, H, W, 1) is 1, (B,); NaN for an empty hole."""
    masks = _float(masks)
    return tf.reduce_sum(values * masks, axis=(1, 2, 3)) / (tf.reduce_sum(masks, axis=(1, 2, 3)) * values.shape[3])


def hole_mse(reference, images, masks) -> tf.Tensor:
    """Mean squared error over the hole's pixels, (B,)."""
    return _hole_mean(tf.square(_float(reference) - _float(images)), masks)


def hole_l1(reference, images, masks) -> tf.Tensor:
    """Mean absolute error over the hole's pixels, (B,)."""
    return _hole_mean(tf.abs(_float(reference) - _float(images)), masks)


def hole_psnr(reference, images, masks) -> tf.Tensor:
    """PSNR over the hole's pixels, (B,)."""
    return _psnr_of_mse(hole_mse(reference, images, masks))


def hole_windows(masks) -> tf.Tensor:
    """(B, H-6, W-6, 1): 1 where the 7x7 window of ssim_map lies wholly inside the hole."""
    return tf.cast(_window_mean(_float(masks)) > 1.0 - 1e-9, tf.float64)


def hole_ssim(reference, images, masks) -> tf.Tensor:
    """Mean SSIM over the windows wholly inside each image's hole, (B,); NaN where none fits."""
    return _hole_ssim_of_map(ssim_map(reference, images), masks)


def _hole_ssim_of_map(values, masks) -> tf.Tensor:
    inside = hole_windows(masks)
    windows = tf.reduce_sum(inside, axis=(1, 2, 3))
    total = tf.reduce_sum(values * inside, axis=(1, 2, 3)) / values.shape[3]
    return tf.where(windows > 0, total / tf.maximum(windows, 1.0), tf.constant(np.nan, tf.float64))


def all_metrics(reference, images, masks) -> dict[str, np.ndarray]:
    """Every per-image metric of a batch as numpy arrays: whole-image psnr, ssim, l1, mse and their hole versions."""
    values = ssim_map(reference, images)  # once for both SSIMs
    return {
        "psnr": psnr(reference, images).numpy(),
        "ssim": tf.reduce_mean(values, axis=(1, 2, 3)).numpy(),
        "hole_psnr": hole_psnr(reference, images, masks).numpy(),
        "hole_ssim": _hole_ssim_of_map(values, masks).numpy(),
        "l1": l1(reference, images).numpy(),
        "hole_l1": hole_l1(reference, images, masks).numpy(),
        "mse": mse(reference, images).numpy(),
        "hole_mse": hole_mse(reference, images, masks).numpy(),
    }
