"""Image-quality metrics, batched in TensorFlow, with the conventions of skimage.metrics.

PSNR   10 log10(data_range^2 / MSE), data_range 1 (images in [0, 1]), MSE over all pixels and channels.
SSIM   skimage.metrics.structural_similarity(data_range=1, channel_axis=-1) with its defaults:
       a uniform 7x7 window (gaussian_weights=False), K1=0.01, K2=0.03, sample covariance
       (N/(N-1)); computed per channel and averaged over the windows that lie wholly inside
       the image (skimage crops the (7-1)/2 border pixels), then over channels.

Hole metrics are the same measures restricted to the hole's square box (top, left, h, w):
PSNR over the box's pixels, SSIM over the windows wholly inside the box, which equals
skimage's SSIM of the box crop. A box smaller than the 7x7 window has no SSIM (NaN), as
skimage refuses such crops.
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


def ssim_map(reference, images) -> tf.Tensor:
    """SSIM of every 7x7 window wholly inside the image, (B, H-6, W-6, C)."""
    x, y = _float(reference), _float(images)
    if min(x.shape[1], x.shape[2]) < WINDOW:
        raise ValueError(f"SSIM: images of {x.shape[1]}x{x.shape[2]} px are smaller than the {WINDOW}x{WINDOW} window")

    def mean(t):
        return tf.nn.avg_pool2d(t, WINDOW, 1, "VALID")

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


def _box_masks(boxes, height: int, width: int, inset: int = 0) -> tf.Tensor:
    """(B, height, width, 1) float64 masks of the boxes (top, left, h, w), each side shrunk by `inset`."""
    boxes = tf.cast(tf.convert_to_tensor(boxes), tf.int64)
    top, left, h, w = (boxes[:, i:i + 1] for i in range(4))
    rows = tf.range(height, dtype=tf.int64)[tf.newaxis, :]
    cols = tf.range(width, dtype=tf.int64)[tf.newaxis, :]
    in_rows = (rows >= top) & (rows <= top + h - 1 - inset)
    in_cols = (cols >= left) & (cols <= left + w - 1 - inset)
    inside = in_rows[:, :, tf.newaxis] & in_cols[:, tf.newaxis, :]
    return tf.cast(inside, tf.float64)[..., tf.newaxis]


def hole_psnr(reference, images, boxes) -> tf.Tensor:
    """PSNR over the pixels of each image's hole box, (B,)."""
    x, y = _float(reference), _float(images)
    inside = _box_masks(boxes, x.shape[1], x.shape[2])
    errors = tf.reduce_sum(tf.square(x - y) * inside, axis=(1, 2, 3)) / (
        tf.reduce_sum(inside, axis=(1, 2, 3)) * x.shape[3])
    return _psnr_of_mse(errors)


def hole_ssim(reference, images, boxes) -> tf.Tensor:
    """SSIM of each image's hole box crop, (B,): the mean over windows wholly inside the box.

    Window (i, j) of ssim_map covers rows i..i+6, so it lies in the box when
    top <= i <= top + h - 7 (and the same for columns): the box shrunk by 6 at its far sides.
    """
    values = ssim_map(reference, images)
    inside = _box_masks(boxes, values.shape[1], values.shape[2], inset=WINDOW - 1)
    windows = tf.reduce_sum(inside, axis=(1, 2, 3))
    total = tf.reduce_sum(values * inside, axis=(1, 2, 3)) / values.shape[3]
    return tf.where(windows > 0, total / tf.maximum(windows, 1.0), tf.constant(np.nan, tf.float64))


def all_metrics(reference, images, boxes) -> dict[str, np.ndarray]:
    """Every per-image metric of a batch as numpy arrays: psnr, ssim, hole_psnr, hole_ssim, l1, mse."""
    return {
        "psnr": psnr(reference, images).numpy(),
        "ssim": ssim(reference, images).numpy(),
        "hole_psnr": hole_psnr(reference, images, boxes).numpy(),
        "hole_ssim": hole_ssim(reference, images, boxes).numpy(),
        "l1": l1(reference, images).numpy(),
        "mse": mse(reference, images).numpy(),
    }


# --- Fills that look like inpainting: grid artifacts and blur, inside any hole mask -------------
#
# Both measures read the absolute differences between neighbouring pixels (left-right and
# up-down) where both pixels of the pair lie in the hole, averaged over the pairs and channels.


def _hole(masks) -> tf.Tensor:
    """(B, H, W, 1) float64 hole weights from masks of shape (B, H, W) or (B, H, W, 1), 1 in the hole."""
    hole = tf.cast(tf.convert_to_tensor(masks), tf.float64)
    return hole[..., tf.newaxis] if hole.shape.rank == 3 else hole


def _hole_differences(images, masks):
    """[(|difference|, pair-in-hole weight, boundary position)] for horizontal and vertical neighbours.

    The boundary position of the pair (k - 1, k) along its axis is k: it lies on a stride-s grid
    when k % s == 0, where a network that works on s x s cells would start a new cell.
    """
    x, hole = _float(images), _hole(masks)
    pairs = []
    for axis in (2, 1):
        length = x.shape[axis]
        difference = tf.abs(tf.experimental.numpy.diff(x, axis=axis))
        both = tf.gather(hole, tf.range(1, length), axis=axis) * tf.gather(hole, tf.range(length - 1), axis=axis)
        position = tf.reshape(tf.range(1, length), [length - 1 if a == axis else 1 for a in range(4)])
        pairs.append((difference, both * tf.ones_like(difference), position))
    return pairs


def _mean_difference(pairs, select=lambda position: True) -> tf.Tensor:
    """Mean |difference| per image over the pairs whose boundary position `select` keeps, (B,)."""
    total = count = 0.0
    for difference, weight, position in pairs:
        weight = weight * tf.cast(select(position), tf.float64)
        total += tf.reduce_sum(difference * weight, axis=(1, 2, 3))
        count += tf.reduce_sum(weight, axis=(1, 2, 3))
    return total / count


def blockiness(images, masks, stride: int) -> tf.Tensor:
    """Grid artifacts of a network with cells of stride x stride pixels, per image, (B,).

    The mean |difference| across the pixel boundaries inside the hole that fall on the stride
    grid, divided by the same across the other boundaries: about 1 for a photo (its edges do not
    care where the grid is), above 1 when the fill jumps at cell borders. Compare it with the
    ground truth's score in the same holes: JPEG's 8x8 blocks, halved by a resize, give photos a
    stride-4 score a little above 1. inf when only grid boundaries change (a pure block image),
    NaN when nothing changes or the hole holds no pair of one kind.
    """
    if int(stride) < 2:
        raise ValueError(f"blockiness: stride must be at least 2, got {stride}")
    pairs = _hole_differences(images, masks)
    on_grid = _mean_difference(pairs, lambda position: position % stride == 0)
    off_grid = _mean_difference(pairs, lambda position: position % stride != 0)
    return on_grid / off_grid


def sharpness(reference, images, masks) -> tf.Tensor:
    """The blur measure, per image, (B,): the fill's mean absolute neighbour difference (its mean
    gradient magnitude) inside the hole divided by the ground truth's in the same hole.

    1 is as much fine detail as the truth, below 1 blurrier (a smooth fill, or the mean of many
    plausible fills, which is what a method scoring well on PSNR by averaging delivers), above 1
    noisier or blockier than the truth. NaN when the truth is flat in the hole.
    """
    return _mean_difference(_hole_differences(images, masks)) / _mean_difference(_hole_differences(reference, masks))


def hole_l1(reference, images, masks) -> tf.Tensor:
    """Mean absolute error over the hole's pixels and channels, per image, (B,): any mask."""
    hole = _hole(masks)
    error = tf.abs(_float(reference) - _float(images)) * hole
    return tf.reduce_sum(error, axis=(1, 2, 3)) / (tf.reduce_sum(hole, axis=(1, 2, 3)) * error.shape[3])
