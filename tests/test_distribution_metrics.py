"""FID, KID and P-IDS/U-IDS on synthetic features: closed forms, unbiasedness, the ends of each scale.

No network and no weights: the metrics take any (n, d) features, so small d keeps these fast.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.stats import special_ortho_group

from inpaintbench import metrics


def gaussian(rng, n, mean, cov):
    return rng.multivariate_normal(mean, cov, size=n)


def closed_form_fid(mean_a, cov_a, mean_b, cov_b) -> float:
    root = scipy.linalg.sqrtm(cov_a)
    cross = scipy.linalg.sqrtm(root @ cov_b @ root).real
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * cross))


# FID ----------------------------------------------------------------------------------------------

def test_fid_of_a_set_with_itself_is_zero():
    features = np.random.default_rng(0).gamma(2.0, 1.0, (300, 16))
    assert metrics.fid(features, features) == pytest.approx(0.0, abs=1e-9)
    assert metrics.fid(features, features[::-1]) == pytest.approx(0.0, abs=1e-9)  # order does not matter


def test_fid_of_two_large_gaussian_samples_matches_the_closed_form_within_sampling_error():
    rng = np.random.default_rng(1)
    d = 4
    rotation = special_ortho_group.rvs(d, random_state=2)
    cov_a = np.diag([1.0, 0.5, 2.0, 0.2])
    cov_b = rotation @ np.diag([0.3, 1.5, 1.0, 0.8]) @ rotation.T  # does not commute with cov_a
    mean_a, mean_b = np.zeros(d), np.array([0.5, -0.3, 0.2, 0.0])
    truth = closed_form_fid(mean_a, cov_a, mean_b, cov_b)
    estimates = [metrics.fid(gaussian(rng, 20000, mean_a, cov_a), gaussian(rng, 20000, mean_b, cov_b))
                 for _ in range(10)]
    standard_error = np.std(estimates, ddof=1) / np.sqrt(len(estimates))
    assert abs(np.mean(estimates) - truth) < 3 * standard_error, (np.mean(estimates), truth, standard_error)
    assert truth > 20 * standard_error  # the test could tell a wrong formula from a right one


def test_fid_agrees_with_the_textbook_formula_where_sqrtm_is_well_conditioned():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(400, 8))
    b = rng.normal(size=(300, 8)) @ rng.normal(size=(8, 8)) * 0.5 + 0.3
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    textbook = (np.sum((a.mean(0) - b.mean(0)) ** 2)
                + np.trace(cov_a + cov_b - 2 * scipy.linalg.sqrtm(cov_a @ cov_b).real))
    assert metrics.fid(a, b) == pytest.approx(textbook, rel=1e-9)


def covariance_fid(a, b):
    """FID from the covariances, tr (S_a S_b)^(1/2) as tr (S_a^(1/2) S_b S_a^(1/2))^(1/2) by eigendecompositions."""
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values, vectors = np.linalg.eigh(cov_a)
    root = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root @ cov_b @ root), 0, None)).sum()
    return float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)


@pytest.mark.parametrize("rows_a, rows_b, d, constant", [
    (12, 10, 64, False), (100, 10, 16, False), (10, 100, 16, False), (400, 300, 8, False), (400, 300, 8, True)],
    ids=["fewer rows than d", "more, fewer", "fewer, more", "more rows than d", "singular covariance"])
def test_fid_equals_the_covariance_computation_whether_rows_outnumber_dimensions_or_not(rows_a, rows_b, d, constant):
    rng = np.random.default_rng(4)
    a, b = rng.gamma(2.0, 1.0, (rows_a, d)), rng.gamma(2.0, 1.0, (rows_b, d)) @ rng.normal(size=(d, d)) * 0.3 + 0.5
    if constant:  # a feature that never varies (a dead channel): no Cholesky factor
        a[:, 0] = 1.0
    value = metrics.fid(a, b)
    assert np.isfinite(value) and value > 0
    assert value == pytest.approx(covariance_fid(a, b), rel=1e-8)
    assert metrics.fid(b, a) == pytest.approx(value, rel=1e-9)
    assert metrics.fid(a, a) == pytest.approx(0.0, abs=1e-8)


def test_fid_is_symmetric_and_grows_with_a_mean_shift():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8))
    direction = np.ones(8) / np.sqrt(8)
    shifts = [0.0, 0.25, 0.5, 1.0, 2.0]
    values = [metrics.fid(a, b + s * direction) for s in shifts]
    assert np.all(np.diff(values) > 0), values
    for s, value in zip(shifts, values):
        assert metrics.fid(b + s * direction, a) == pytest.approx(value, rel=1e-9)
        assert value - values[0] == pytest.approx(s * s, rel=0.1, abs=0.02)  # |mean shift|^2, same covariances


@pytest.mark.parametrize("real, fake, message", [
    (np.ones((5, 3)), np.full((5, 3), np.nan), "fake_features holds 15 non-finite"),
    (np.array([[1.0, np.inf], [0.0, 1.0]]), np.ones((2, 2)), "real_features holds 1 non-finite"),
    (np.ones((5, 3)), np.ones((5, 4)), "real_features are 3-d but fake_features 4-d"),
    (np.ones(5), np.ones((5, 1)), r"real_features must be features of shape \(n, d\)"),
    (np.ones((5, 3)), np.ones((1, 3)), "fake_features has 1 row"),
])
def test_fid_errors_name_the_argument_at_fault(real, fake, message):
    with pytest.raises(ValueError, match=f"^fid: {message}"):
        metrics.fid(real, fake)


# KID ----------------------------------------------------------------------------------------------

def brute_force_mmd2(x, y):
    """The unbiased squared MMD with the cubic kernel, one pair at a time."""
    d, m = x.shape[1], len(x)

    def k(u, v):
        return (u @ v / d + 1.0) ** 3

    within = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    return within - 2.0 * sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)


def test_kid_of_whole_small_sets_is_the_unbiased_mmd_computed_pair_by_pair():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(7, 3)) + 0.4
    result = metrics.kid(x, y)
    assert result.mean == pytest.approx(brute_force_mmd2(x, y), rel=1e-12)
    assert result.subset_size == 7 and np.isnan(result.sd)  # every subset would be the whole sets


def test_kid_of_two_samples_of_one_distribution_is_zero_within_two_standard_errors():
    rng = np.random.default_rng(7)
    unbiased, biased = [], []
    for _ in range(40):
        x, y = rng.normal(size=(60, 8)), rng.normal(size=(60, 8))
        unbiased.append(metrics.kid(x, y, subsets=5, subset_size=30, seed=1).mean)
        kernel = metrics._cubic_kernel  # the V-statistic, diagonals kept: biased upwards
        biased.append(kernel(x, x).mean() + kernel(y, y).mean() - 2 * kernel(x, y).mean())
    standard_error = np.std(unbiased, ddof=1) / np.sqrt(len(unbiased))
    assert abs(np.mean(unbiased)) < 2 * standard_error, (np.mean(unbiased), standard_error)
    assert np.mean(biased) > 5 * standard_error  # so the test would catch a biased estimator


def test_kid_grows_with_a_shift():
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    results = [metrics.kid(a, b + shift, subsets=20, subset_size=100) for shift in (0.0, 0.25, 0.5, 1.0)]
    means = [result.mean for result in results]
    assert np.all(np.diff(means) > 0), means
    assert results[-1].mean > 5 * results[-1].sd


def test_kid_subsets_and_seed_make_it_reproducible():
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(200, 6)), rng.normal(size=(150, 6)) + 0.2
    first = metrics.kid(a, b, subsets=10, subset_size=50, seed=3)
    assert metrics.kid(a, b, subsets=10, subset_size=50, seed=3) == first
    assert metrics.kid(a, b, subsets=10, subset_size=50, seed=4).mean != first.mean
    assert metrics.kid(a, b, subsets=11, subset_size=50, seed=3).mean != first.mean
    assert first.subset_size == 50 and first.sd > 0


def test_kid_from_whole_kernel_matrices_equals_kid_subset_by_subset(monkeypatch):
    rng = np.random.default_rng(10)
    a, b = rng.normal(size=(120, 5)), rng.normal(size=(90, 5)) + 0.3
    cut = metrics.kid(a, b, subsets=30, subset_size=40)
    monkeypatch.setattr(metrics, "KERNEL_ENTRIES_LIMIT", 0)  # every subset's kernels computed afresh
    fresh = metrics.kid(a, b, subsets=30, subset_size=40)
    assert fresh.mean == pytest.approx(cut.mean, rel=1e-10) and fresh.sd == pytest.approx(cut.sd, rel=1e-10)


def test_kid_caps_the_subset_size_by_the_smaller_set():
    rng = np.random.default_rng(11)
    result = metrics.kid(rng.normal(size=(40, 4)), rng.normal(size=(60, 4)), subsets=10)
    assert result.subset_size == 40 and result.sd > 0  # the larger set's rows still vary between subsets
    with pytest.raises(ValueError, match="kid: fake_features has 1 row"):
        metrics.kid(rng.normal(size=(40, 4)), rng.normal(size=(1, 4)))


# P-IDS / U-IDS -----------------------------------------------------------------------------------

def test_ids_of_identical_sets_is_one_half():
    features = np.random.default_rng(12).normal(size=(200, 6))
    assert metrics.ids(features, features.copy()) == (0.5, 0.5)


def test_ids_of_two_samples_of_one_distribution_is_near_one_half():
    rng = np.random.default_rng(13)
    scores = metrics.ids(rng.normal(size=(3000, 4)), rng.normal(size=(3000, 4)))
    assert 0.45 < scores.u_ids <= 0.5 and 0.45 < scores.p_ids < 0.55, scores


def test_ids_of_well_separated_sets_is_near_zero():
    rng = np.random.default_rng(14)
    real = rng.normal(size=(500, 6))
    scores = metrics.ids(real, rng.normal(size=(500, 6)) + 8.0)
    assert scores.u_ids < 0.01 and scores.p_ids < 0.01, scores


def test_p_ids_compares_each_inpainting_with_its_own_original():
    """Inpaintings a hair off their originals: the sets overlap (U-IDS well above 0), yet each
    inpainting is told from its own original (P-IDS 0)."""
    rng = np.random.default_rng(15)
    real = rng.normal(size=(2000, 4))
    scores = metrics.ids(real, real + np.array([0.3, 0.0, 0.0, 0.0]))
    assert scores.u_ids > 0.3 and scores.p_ids == 0.0, scores


def test_ids_needs_more_pairs_than_dimensions_and_paired_rows():
    rng = np.random.default_rng(16)
    with pytest.raises(ValueError, match="ids: 9 pairs of 8-d features are too few"):
        metrics.ids(rng.normal(size=(9, 8)), rng.normal(size=(9, 8)))
    with pytest.raises(ValueError, match="ids: 30 real_features but 20 fake_features"):
        metrics.ids(rng.normal(size=(30, 2)), rng.normal(size=(20, 2)))
