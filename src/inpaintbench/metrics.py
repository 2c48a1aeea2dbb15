"""Image-quality metrics, batched in numpy (float64), with the conventions of skimage.metrics.

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

The benchmark scores 8-bit images (a method's PNG files, ours quantized alike) with all_metrics_8bit:
the same values from exact integer sums, several times faster (below).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage

WINDOW = 7
K1, K2 = 0.01, 0.03
DATA_RANGE = 1.0


def _float(images) -> np.ndarray:
    images = np.asarray(images, np.float64)
    if images.ndim != 4:
        raise ValueError(f"metrics: images must be (B, H, W, C), got shape {images.shape}")
    return images


def mse(reference, images) -> np.ndarray:
    """Mean squared error per image, (B,)."""
    return np.mean(np.square(_float(reference) - _float(images)), axis=(1, 2, 3))


def l1(reference, images) -> np.ndarray:
    """Mean absolute error per image, (B,)."""
    return np.mean(np.abs(_float(reference) - _float(images)), axis=(1, 2, 3))


def _psnr_of_mse(errors) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 10.0 * np.log10(DATA_RANGE ** 2 / errors)


def psnr(reference, images) -> np.ndarray:
    """PSNR in dB per image, (B,); inf for identical images (as skimage)."""
    return _psnr_of_mse(mse(reference, images))


def _window_mean(values: np.ndarray) -> np.ndarray:
    """Mean over every 7x7 window wholly inside the image, (B, H-6, W-6, C), in float64: the window's column
    sums as six additions of shifted rows (contiguous: twice as fast as filtering across rows), then
    scipy's running mean along the rows, cropped to the windows that fit."""
    rows = values.shape[1] - WINDOW + 1
    sums = values[:, :rows] + values[:, 1:1 + rows]
    for shift in range(2, WINDOW):
        sums += values[:, shift:shift + rows]
    half = (WINDOW - 1) // 2
    return ndimage.uniform_filter1d(sums, WINDOW, axis=2)[:, :, half:-half] / WINDOW


def ssim_map(reference, images) -> np.ndarray:
    """SSIM of every 7x7 window wholly inside the image, (B, H-6, W-6, C)."""
    x, y = _float(reference), _float(images)
    if min(x.shape[1], x.shape[2]) < WINDOW:
        raise ValueError(f"SSIM: images of {x.shape[1]}x{x.shape[2]} px are smaller than the {WINDOW}x{WINDOW} window")
    covariance = WINDOW * WINDOW / (WINDOW * WINDOW - 1.0)
    # the five means in one filtering call: a tenth faster than five
    ux, uy, uxx, uyy, uxy = np.split(_window_mean(np.concatenate([x, y, x * x, y * y, x * y])), 5)
    vx = covariance * (uxx - ux * ux)
    vy = covariance * (uyy - uy * uy)
    vxy = covariance * (uxy - ux * uy)
    c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


def ssim(reference, images) -> np.ndarray:
    """Mean SSIM per image, (B,)."""
    return np.mean(ssim_map(reference, images), axis=(1, 2, 3))


def _hole_mean(values, masks) -> np.ndarray:
    """Mean of `values` (B, H, W, C) over the pixels where `masks` (B, H, W, 1) is 1, (B,); NaN for an empty hole."""
    masks = _float(masks)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _weighted_sum(values, masks) / (np.sum(masks, axis=(1, 2, 3)) * values.shape[3])


def _weighted_sum(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum(values * weights) per image, (B,), of values (B, H, W, C) and weights (B, H, W, 1): one matrix
    product per image, several times faster than the broadcast product and its sum."""
    batch, channels = values.shape[0], values.shape[3]
    products = np.matmul(np.reshape(weights, (batch, 1, -1)), np.reshape(values, (batch, -1, channels)))
    return products.sum(axis=(1, 2))


def hole_mse(reference, images, masks) -> np.ndarray:
    """Mean squared error over the hole's pixels, (B,)."""
    return _hole_mean(np.square(_float(reference) - _float(images)), masks)


def hole_l1(reference, images, masks) -> np.ndarray:
    """Mean absolute error over the hole's pixels, (B,)."""
    return _hole_mean(np.abs(_float(reference) - _float(images)), masks)


def hole_psnr(reference, images, masks) -> np.ndarray:
    """PSNR over the hole's pixels, (B,)."""
    return _psnr_of_mse(hole_mse(reference, images, masks))


def hole_windows(masks) -> np.ndarray:
    """(B, H-6, W-6, 1): 1 where the 7x7 window of ssim_map lies wholly inside the hole."""
    return (_window_mean(_float(masks)) > 1.0 - 1e-9).astype(np.float64)


def hole_ssim(reference, images, masks) -> np.ndarray:
    """Mean SSIM over the windows wholly inside each image's hole, (B,); NaN where none fits."""
    return _hole_ssim_of_map(ssim_map(reference, images), masks)


def _hole_ssim_of_map(values, masks) -> np.ndarray:
    inside = hole_windows(masks)
    windows = np.sum(inside, axis=(1, 2, 3))
    total = _weighted_sum(values, inside) / values.shape[3]
    return np.where(windows > 0, total / np.maximum(windows, 1.0), np.nan)


METRIC_NAMES = ("psnr", "ssim", "hole_psnr", "hole_ssim", "l1", "hole_l1", "mse", "hole_mse", "sharpness")


def all_metrics(reference, images, masks) -> dict[str, np.ndarray]:
    """Every per-image metric of a batch as numpy arrays: whole-image psnr, ssim, l1, mse, their hole
    versions and the blur measure (sharpness, below). One image at a time: its float64 arrays stay in
    the CPU cache, three times faster than a batch of 32 at 256 px."""
    reference, images, masks = _float(reference), _float(images), _float(masks)
    rows = [_image_metrics(reference[i:i + 1], images[i:i + 1], masks[i:i + 1]) for i in range(len(reference))]
    return {key: np.concatenate([row[key] for row in rows]) for key in METRIC_NAMES}


def _image_metrics(reference: np.ndarray, images: np.ndarray, masks: np.ndarray) -> dict[str, np.ndarray]:
    """all_metrics of float64 arrays, the SSIM map and the errors computed once for whole image and hole."""
    values = ssim_map(reference, images)
    squared, absolute = np.square(reference - images), np.abs(reference - images)
    errors, hole_errors = np.mean(squared, axis=(1, 2, 3)), _hole_mean(squared, masks)
    return {
        "psnr": _psnr_of_mse(errors),
        "ssim": np.mean(values, axis=(1, 2, 3)),
        "hole_psnr": _psnr_of_mse(hole_errors),
        "hole_ssim": _hole_ssim_of_map(values, masks),
        "l1": np.mean(absolute, axis=(1, 2, 3)),
        "hole_l1": _hole_mean(absolute, masks),
        "mse": errors,
        "hole_mse": hole_errors,
        "sharpness": sharpness(reference, images, masks),
    }



# 8-bit images -------------------------------------------------------------------------------------
# The metrics of images delivered as 8-bit files (what the benchmark scores: inpaintbench.external and
# evaluation), the values of all_metrics(reference / 255, images / 255, holes) to float64 rounding (1e-12),
# about three times faster: every sum over pixels, neighbour pairs and windows is taken exactly on the
# integers 0-255 (int32, and float64 matrix products for the sums over a hole), and SSIM is written on the
# window sums, so no image is ever copied to float64 five times over.

PIXEL_MAX = 255


def all_metrics_8bit(reference, images, holes) -> dict[str, np.ndarray]:
    """all_metrics of uint8 images (B, H, W, C) and boolean holes (B, H, W), image by image (in the CPU cache)."""
    reference, images, holes = np.asarray(reference), np.asarray(images), np.asarray(holes, bool)
    if reference.dtype != np.uint8 or images.dtype != np.uint8 or reference.ndim != 4:
        raise ValueError(f"metrics: 8-bit images must be uint8 (B, H, W, C), got {reference.dtype} "
                         f"{reference.shape} and {images.dtype} {images.shape}")
    rows = [_image_metrics_8bit(reference[i], images[i], holes[i]) for i in range(len(reference))]
    return {key: np.array([row[key] for row in rows], np.float64) for key in METRIC_NAMES}


def _image_metrics_8bit(reference: np.ndarray, image: np.ndarray, hole: np.ndarray) -> dict[str, float]:
    x, y = reference.astype(np.int32), image.astype(np.int32)
    difference = y - x
    squared, absolute = np.square(difference), np.abs(difference)
    weights = hole.astype(np.float64)
    pixels, hole_pixels = difference.size, np.count_nonzero(hole) * difference.shape[2]
    values = ssim_map_8bit(x, y)
    inside = _window_sums(hole.astype(np.int32)) == WINDOW * WINDOW
    windows = np.count_nonzero(inside)
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = squared.sum(dtype=np.int64) / (pixels * PIXEL_MAX ** 2)
        hole_errors = _hole_sum(squared, weights) / (hole_pixels * PIXEL_MAX ** 2)
        return {
            "psnr": _psnr_of_mse(errors),
            "ssim": values.mean(),
            "hole_psnr": _psnr_of_mse(hole_errors),
            "hole_ssim": _hole_sum(values, inside) / (windows * values.shape[2]) if windows else np.nan,
            "l1": absolute.sum(dtype=np.int64) / (pixels * PIXEL_MAX),
            "hole_l1": _hole_sum(absolute, weights) / (hole_pixels * PIXEL_MAX),
            "mse": errors,
            "hole_mse": hole_errors,
            "sharpness": _hole_variation(y, weights) / _hole_variation(x, weights),
        }


def _hole_sum(values: np.ndarray, weights: np.ndarray) -> np.float64:
    """sum(values * weights) of an (H, W, C) image and (H, W) weights, in float64 (exact for integers): one
    matrix product, several times faster than the broadcast product and its sum or a boolean index."""
    flat = np.reshape(values, (-1, values.shape[-1])).astype(np.float64, copy=False)
    return (np.reshape(weights, (1, -1)).astype(np.float64, copy=False) @ flat).sum()


def _hole_variation(image: np.ndarray, weights: np.ndarray) -> np.float64:
    """Sum of |difference| of the horizontal and vertical neighbours both in the hole (`weights` 1), of an
    (H, W, C) image: sharpness's measure up to its count of pairs, which the fill's and the truth's share."""
    return (_hole_sum(np.abs(np.diff(image, axis=1)), weights[:, 1:] * weights[:, :-1])
            + _hole_sum(np.abs(np.diff(image, axis=0)), weights[1:] * weights[:-1]))


def _window_sums(values: np.ndarray) -> np.ndarray:
    """Sums over every 7x7 window wholly inside an (H, W, ...) integer array, (H-6, W-6, ...), exact."""
    return _running_sums(_running_sums(values, 0), 1)


def _running_sums(values: np.ndarray, axis: int) -> np.ndarray:
    """Sums of 7 neighbours along `axis` (0 or 1), of the positions where all 7 exist: sums of 2, then of 4,
    then 4 + 2 + 1, four additions where the straightforward sum takes six."""
    def part(array, start, length):
        return array[start:start + length] if axis == 0 else array[:, start:start + length]

    count = values.shape[axis] - WINDOW + 1
    pairs = part(values, 0, count + 4) + part(values, 1, count + 4)
    sums = part(pairs, 0, count) + part(pairs, 2, count)
    sums += part(pairs, 4, count)
    sums += part(values, 6, count)
    return sums


STRIP_VALUES = 128 * 128 * 3  # values per strip of ssim_map_8bit: its arrays stay in a core's cache


def ssim_map_8bit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ssim_map of two (H, W, C) int32 images of 0-255 (data range 255 / 255 = 1), in strips of windows of
    about STRIP_VALUES (at 256 px three times faster than the whole map at once, whose ten arrays leave the
    cache)."""
    if min(x.shape[0], x.shape[1]) < WINDOW:
        raise ValueError(f"SSIM: images of {x.shape[0]}x{x.shape[1]} px are smaller than the {WINDOW}x{WINDOW} window")
    rows, step = x.shape[0] - WINDOW + 1, max(1, STRIP_VALUES // (x.shape[1] * x.shape[2]))
    values = np.empty((rows, x.shape[1] - WINDOW + 1, x.shape[2]))
    for start in range(0, rows, step):
        stop = min(start + step, rows)
        values[start:stop] = _ssim_strip(x[start:stop + WINDOW - 1], y[start:stop + WINDOW - 1])
    return values


def _ssim_strip(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The SSIM map of (h, W, C) int32 images from the window sums a, b, q = sum(x^2 + y^2), p = sum(xy) of
    n = 49 pixels: with the means a / 255n, the sample (co)variances n / (n - 1) (sum / n - mean products) and
    c = (K 255 n)^2, ssim_map's formula is
    (2ab + c1) (2(np - ab) + (n - 1) c2 / n) / ((a^2 + b^2 + c1) (nq - a^2 - b^2 + (n - 1) c2 / n)),
    its integer parts exact in int32 (the largest, nq, is at most 2 (49 * 255)^2 < 2^29)."""
    n = WINDOW * WINDOW
    a, b = _window_sums(x), _window_sums(y)
    squares = x * x
    squares += y * y
    q, p = _window_sums(squares), _window_sums(x * y)
    c1, c2 = (K1 * PIXEL_MAX * n) ** 2, (K2 * PIXEL_MAX * n) ** 2 * (n - 1) / n
    means = a * b
    p *= n
    p -= means
    np.square(a, out=a)
    a += np.square(b, out=b)
    q *= n
    q -= a
    numerator = np.add(2 * means, c1)
    numerator *= np.add(2 * p, c2)
    denominator = np.add(a, c1)
    denominator *= np.add(q, c2)
    numerator /= denominator
    return numerator


# Distribution metrics -----------------------------------------------------------------------------
# FID, KID and P-IDS/U-IDS compare two sets of image features (rows), real and inpainted, in
# float64 with numpy, scipy and scikit-learn; inpaintbench.features computes the features. Tiny
# samples: FID needs 2 rows per set (a covariance), and is biased upwards when there are fewer rows
# than dimensions (read KID then); KID needs 2 rows per set; IDS needs more pairs than dimensions + 1:
# 2n points in d dimensions are at or below a linear classifier's capacity when n <= d + 1 (Cover
# 1965), so even two samples of one distribution are separated at least half the time, and U-IDS
# would read 0 whatever the images. Too few rows raise a ValueError saying so.


def _features(caller: str, name: str, values) -> np.ndarray:
    """`values` as a float64 (n, d) array; a ValueError naming the argument if it is not one, or not finite."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"{caller}: {name} must be features of shape (n, d), got shape {array.shape}")
    bad = array.size - int(np.isfinite(array).sum())
    if bad:
        raise ValueError(f"{caller}: {name} holds {bad} non-finite value(s) (NaN or inf) in shape {array.shape}")
    return array


def _feature_sets(caller: str, real_features, fake_features, minimum: int, paired: bool = False):
    real = _features(caller, "real_features", real_features)
    fake = _features(caller, "fake_features", fake_features)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"{caller}: real_features are {real.shape[1]}-d but fake_features {fake.shape[1]}-d")
    if paired and len(real) != len(fake):
        raise ValueError(f"{caller}: {len(real)} real_features but {len(fake)} fake_features; "
                         "they are paired row by row")
    for name, array in (("real_features", real), ("fake_features", fake)):
        if len(array) < minimum:
            raise ValueError(f"{caller}: {name} has {len(array)} row(s), at least {minimum} needed")
    return real, fake


def _covariance_factor(centred: np.ndarray) -> np.ndarray:
    """F with F F^T = centred^T centred, at most d columns: the rows themselves when they are at
    most d, else a Cholesky factor, or one from the eigendecomposition if the matrix is singular."""
    if len(centred) <= centred.shape[1]:
        return centred.T
    gram = centred.T @ centred
    try:
        return np.linalg.cholesky(gram)
    except np.linalg.LinAlgError:
        values, vectors = np.linalg.eigh(gram)
        return vectors * np.sqrt(np.clip(values, 0.0, None))


def fid(real_features, fake_features) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017):
    |mu_r - mu_f|^2 + tr(S_r + S_f - 2 (S_r S_f)^(1/2)), with sample covariances (n - 1).

    With A, B the centred rows over sqrt(n - 1) (S_r = A^T A, S_f = B^T B) and F F^T = S_r, the
    eigenvalues of S_r S_f are those of the symmetric positive semi-definite (B F)^T (B F), so
    tr (S_r S_f)^(1/2) is the sum of their square roots (taken from the smaller of its two Gram
    forms). No square root of a non-symmetric matrix is taken: the value is real and stable for
    singular covariances (fewer rows than dimensions), where scipy.linalg.sqrtm of S_r S_f may turn
    complex, and small sets cost little. Rounding below 0 returns 0.
    """
    real, fake = _feature_sets("fid", real_features, fake_features, minimum=2)
    a = (real - real.mean(axis=0)) / np.sqrt(len(real) - 1)
    b = (fake - fake.mean(axis=0)) / np.sqrt(len(fake) - 1)
    projected = b @ _covariance_factor(a)
    gram = projected.T @ projected if projected.shape[1] <= len(projected) else projected @ projected.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0.0, None)).sum()
    value = np.sum((real.mean(axis=0) - fake.mean(axis=0)) ** 2) + np.sum(a * a) + np.sum(b * b) - 2.0 * cross
    return max(float(value), 0.0)


class KernelDistance(NamedTuple):
    """KID over random subsets: the mean and standard deviation of the subsets' estimates."""

    mean: float
    sd: float  # NaN when every subset is the whole of both sets (nothing varies between them)
    subset_size: int  # rows drawn from each set per subset, after the cap by the sets' sizes


def _cubic_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


# Entries of the three whole kernel matrices KID may compute once (about 0.9 GB in float64).
KERNEL_ENTRIES_LIMIT = 3 * 6000 ** 2


def _kernel_blocks(real: np.ndarray, fake: np.ndarray, subsets: int, size: int):
    """A function (real rows, fake rows) -> the kernel matrices of one subset: real-real, fake-fake,
    real-fake. Cut from the whole matrices, computed once, when that is less work than computing
    every subset's (a 3,650-image test split: 7 times less) and fits KERNEL_ENTRIES_LIMIT."""
    whole = len(real) ** 2 + len(fake) ** 2 + len(real) * len(fake)
    if whole <= min(KERNEL_ENTRIES_LIMIT, 3 * subsets * size ** 2):
        real_real, fake_fake = _cubic_kernel(real, real), _cubic_kernel(fake, fake)
        real_fake = _cubic_kernel(real, fake)
        return lambda r, f: (real_real[np.ix_(r, r)], fake_fake[np.ix_(f, f)], real_fake[np.ix_(r, f)])
    return lambda r, f: (_cubic_kernel(real[r], real[r]), _cubic_kernel(fake[f], fake[f]),
                         _cubic_kernel(real[r], fake[f]))


def _mmd2_unbiased(real_real: np.ndarray, fake_fake: np.ndarray, real_fake: np.ndarray) -> float:
    """Unbiased squared MMD of two equal-size samples from their kernel matrices: the diagonals
    k(x_i, x_i) and k(y_i, y_i) are left out of the within-sample means."""
    m = len(real_real)
    within = real_real.sum() - np.trace(real_real) + fake_fake.sum() - np.trace(fake_fake)
    return float(within / (m * (m - 1)) - 2.0 * real_fake.mean())


def kid(real_features, fake_features, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> KernelDistance:
    """Kernel Inception Distance (Binkowski et al. 2018): the unbiased squared MMD with the cubic
    polynomial kernel k(x, y) = (x.y / d + 1)^3, over `subsets` subsets of `subset_size` rows drawn
    without replacement from each set (seeded); MAT's setting by default (100 subsets of up to 1,000).

    The subset size is capped by the smaller set. When that leaves every subset the whole of both
    sets, the estimate is computed once and its sd is NaN: subsets cannot show a spread.
    """
    if subsets < 1 or subset_size < 2:
        raise ValueError(f"kid: subsets ({subsets}) must be at least 1 and subset_size ({subset_size}) at least 2")
    real, fake = _feature_sets("kid", real_features, fake_features, minimum=2)
    size = min(subset_size, len(real), len(fake))
    if size == len(real) == len(fake):
        whole = _mmd2_unbiased(_cubic_kernel(real, real), _cubic_kernel(fake, fake), _cubic_kernel(real, fake))
        return KernelDistance(whole, float("nan"), size)
    rng = np.random.default_rng(seed)
    blocks = _kernel_blocks(real, fake, subsets, size)
    estimates = [_mmd2_unbiased(*blocks(rng.choice(len(real), size, replace=False),
                                        rng.choice(len(fake), size, replace=False))) for _ in range(subsets)]
    sd = float(np.std(estimates, ddof=1)) if subsets > 1 else float("nan")
    return KernelDistance(float(np.mean(estimates)), sd, size)


class DiscriminativeScores(NamedTuple):
    """P-IDS and U-IDS: 0 when inpainted images are told apart from real ones, 0.5 when they are not."""

    p_ids: float
    u_ids: float


def ids(real_features, fake_features) -> DiscriminativeScores:
    """Paired and unpaired Inception discriminative scores (CoModGAN, Zhao et al. 2021; MAT).

    A linear SVM (scikit-learn's LinearSVC, primal solver, C = 1) is fitted to tell the real
    features (row i: an original image) from the inpainted ones (row i: its inpainting) and scored
    on the same features, as CoModGAN and MAT do. U-IDS is its misclassification rate over all
    2n rows; P-IDS the share of pairs whose inpainted image gets the higher decision value, i.e.
    looks more real than its original. Ties (an inpainting with its original's very features)
    count one half, so that identical sets score 0.5, where the strict inequality would read 0.
    Both need n > d + 1 pairs (see above), and they grow towards 0.5 for indistinguishable sets
    only as n grows well past d: compare methods at one n.
    """
    # imported here: only this metric needs scikit-learn, which is slow to import
    from sklearn.svm import LinearSVC

    real, fake = _feature_sets("ids", real_features, fake_features, minimum=1, paired=True)
    pairs, dimensions = real.shape
    if pairs <= dimensions + 1:
        raise ValueError(f"ids: {pairs} pairs of {dimensions}-d features are too few: a linear SVM separates "
                         f"even two samples of one distribution; more than {dimensions + 1} pairs needed")
    svm = LinearSVC(dual=False, C=1.0, random_state=0)
    svm.fit(np.concatenate([real, fake]), np.concatenate([np.ones(pairs), np.zeros(pairs)]))
    real_scores, fake_scores = svm.decision_function(real), svm.decision_function(fake)
    u_ids = 0.5 * (np.mean(real_scores <= 0) + np.mean(fake_scores > 0))
    p_ids = np.mean(fake_scores > real_scores) + 0.5 * np.mean(fake_scores == real_scores)
    return DiscriminativeScores(float(p_ids), float(u_ids))


# --- Fills that look like inpainting: grid artifacts and blur, inside any hole mask -------------
#
# Both measures read the absolute differences between neighbouring pixels (left-right and
# up-down) where both pixels of the pair lie in the hole, averaged over the pairs and channels.


def _hole(masks) -> np.ndarray:
    """(B, H, W, 1) float64 hole weights from masks of shape (B, H, W) or (B, H, W, 1), 1 in the hole."""
    hole = np.asarray(masks, np.float64)
    return hole[..., np.newaxis] if hole.ndim == 3 else hole


def _hole_differences(images, masks):
    """[(|difference|, pair-in-hole weight, boundary position)] for horizontal and vertical neighbours.

    The boundary position of the pair (k - 1, k) along its axis is k: it lies on a stride-s grid
    when k % s == 0, where a network that works on s x s cells would start a new cell.
    """
    x, hole = _float(images), _hole(masks)
    pairs = []
    for axis in (2, 1):
        length = x.shape[axis]
        difference = np.abs(np.diff(x, axis=axis))
        both = np.take(hole, range(1, length), axis=axis) * np.take(hole, range(length - 1), axis=axis)
        position = np.arange(1, length).reshape([length - 1 if a == axis else 1 for a in range(4)])
        pairs.append((difference, both, position))
    return pairs


def _mean_difference(pairs, select=lambda position: True) -> np.ndarray:
    """Mean |difference| per image over the pairs whose boundary position `select` keeps, (B,)."""
    total = count = 0.0
    for difference, weight, position in pairs:
        weight = weight * np.asarray(select(position), np.float64)
        total += _weighted_sum(difference, weight)
        count += np.sum(weight, axis=(1, 2, 3)) * difference.shape[3]
    with np.errstate(divide="ignore", invalid="ignore"):
        return total / count


def blockiness(images, masks, stride: int) -> np.ndarray:
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
    with np.errstate(divide="ignore", invalid="ignore"):
        return on_grid / off_grid


def sharpness(reference, images, masks) -> np.ndarray:
    """The blur measure, per image, (B,): the fill's mean absolute neighbour difference (its mean
    gradient magnitude) inside the hole divided by the ground truth's in the same hole.

    1 is as much fine detail as the truth, below 1 blurrier (a smooth fill, or the mean of many
    plausible fills, which is what a method scoring well on PSNR by averaging delivers), above 1
    noisier or blockier than the truth. NaN when the truth is flat in the hole.
    """
    fill = _mean_difference(_hole_differences(images, masks))
    truth = _mean_difference(_hole_differences(reference, masks))
    with np.errstate(divide="ignore", invalid="ignore"):
        return fill / truth


def known_pixel_change(images: np.ndarray, predictions: np.ndarray, holes: np.ndarray):
    """(mean |prediction - input| on 0-255, PSNR in dB on 0-255) over each image's known pixels; 0 and inf
    when a method left them alone, NaN when an image has no known pixel."""
    difference = absolute_difference(images, predictions) * ~holes[..., None]
    count = (~holes).sum(axis=(1, 2)) * difference.shape[3]
    with np.errstate(invalid="ignore", divide="ignore"):
        change = difference.sum(axis=(1, 2, 3)) / count
        squared = np.square(difference, dtype=np.uint16).sum(axis=(1, 2, 3)) / count  # 255^2 fits 16 bits
        return change, 10 * np.log10(255.0 ** 2 / squared)


def absolute_difference(images: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """|prediction - input| of uint8 arrays, exact, as uint8 (the larger minus the smaller): their integer sums
    are those of float64, at a fraction of the time and memory."""
    return np.maximum(images, predictions) - np.minimum(images, predictions)
