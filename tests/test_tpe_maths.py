"""TPE maths checked against plain-loop scipy references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hqueue.algos.tpe.mixture import CategoricalMixture, TruncatedGaussianMixture
from hqueue.algos.tpe.parzen import (
    categorical_estimator,
    forgetting_weights,
    neighbour_bandwidths,
    numeric_estimator,
)
from hqueue.algos.tpe.sampler import split_good
from hqueue.space.distributions import Categorical, Numeric


def reference_pdf(mix, x):
    total = 0.0
    for w, mu, s in zip(mix.weights, mix.mus, mix.sigmas):
        a, b = (mix.low - mu) / s, (mix.high - mu) / s
        total += w * stats.truncnorm.pdf(x, a, b, loc=mu, scale=s)
    return total


def reference_mass(mix, lo, hi):
    total = 0.0
    for w, mu, s in zip(mix.weights, mix.mus, mix.sigmas):
        a, b = (mix.low - mu) / s, (mix.high - mu) / s
        dist = stats.truncnorm(a, b, loc=mu, scale=s)
        total += w * (dist.cdf(min(hi, mix.high)) - dist.cdf(max(lo, mix.low)))
    return total


def random_mixture(rng, k, low, high):
    w = rng.uniform(0.1, 1, k)
    return TruncatedGaussianMixture(w / w.sum(), rng.uniform(-2, 2, k), rng.uniform(0.05, 2, k),
                                    low, high)


@pytest.mark.parametrize("low, high", [(-1.0, 1.5), (-np.inf, np.inf), (0.0, np.inf)])
@pytest.mark.parametrize("seed", range(3))
def test_log_pdf_matches_scipy_truncnorm_mixture(low, high, seed):
    rng = np.random.default_rng(seed)
    mix = random_mixture(rng, 7, low, high)
    x = np.clip(rng.uniform(-3, 3, 25), low, high)
    expected = np.log([reference_pdf(mix, xi) for xi in x])
    np.testing.assert_allclose(mix.log_pdf(x), expected, rtol=1e-9, atol=1e-9)


def test_log_pdf_far_from_every_kernel_stays_finite():
    mix = TruncatedGaussianMixture(np.array([1.0]), np.array([0.0]), np.array([0.01]))
    out = mix.log_pdf(np.array([5.0]))
    assert np.isfinite(out[0]) and out[0] < -1e4


@pytest.mark.parametrize("seed", range(3))
def test_interval_mass_matches_scipy_cdf_differences(seed):
    rng = np.random.default_rng(seed)
    mix = random_mixture(rng, 5, -1.0, 2.0)
    lo = rng.uniform(-1.0, 1.5, 10)
    hi = lo + rng.uniform(0.01, 0.5, 10)
    expected = np.log([reference_mass(mix, a, b) for a, b in zip(lo, hi)])
    np.testing.assert_allclose(mix.log_interval_mass(lo, hi), expected, rtol=1e-7)


def test_interval_mass_is_accurate_in_the_upper_tail():
    mix = TruncatedGaussianMixture(np.array([1.0]), np.array([0.0]), np.array([1.0]))
    got = mix.log_interval_mass(np.array([7.0]), np.array([7.5]))[0]
    expected = np.log(stats.norm.sf(7.0) - stats.norm.sf(7.5))
    assert got == pytest.approx(expected, rel=1e-6)


def test_samples_stay_in_bounds_and_follow_the_mixture():
    rng = np.random.default_rng(0)
    mix = random_mixture(rng, 4, -1.0, 1.0)
    x = mix.sample(rng, 20000)
    assert x.min() >= -1.0 and x.max() <= 1.0

    def cdf(t):
        return np.array([reference_mass(mix, -1.0, ti) for ti in np.atleast_1d(t)])

    assert stats.kstest(x[:400], cdf).pvalue > 0.001


def test_categorical_mixture_samples_by_probability():
    mix = CategoricalMixture(np.array([0.7, 0.2, 0.1]))
    draws = mix.sample(np.random.default_rng(0), 20000)
    np.testing.assert_allclose(np.bincount(draws) / 20000, [0.7, 0.2, 0.1], atol=0.02)
    np.testing.assert_allclose(mix.log_pmf(np.array([0, 2])), np.log([0.7, 0.1]))


def test_forgetting_weights_ramp_old_observations_down():
    w = forgetting_weights(30, 25)
    assert len(w) == 30 and np.all(w[-25:] == 1.0)
    assert w[0] == pytest.approx(1 / 30) and np.all(np.diff(w) >= 0)
    assert np.all(forgetting_weights(10, 25) == 1.0)


def test_neighbour_bandwidths_match_a_plain_loop():
    mus = np.sort(np.random.default_rng(3).uniform(0, 10, 12))
    prior_sigma = 10.0
    expected = []
    for i in range(len(mus)):
        left = mus[i] - mus[i - 1] if i > 0 else mus[1] - mus[0]
        right = mus[i + 1] - mus[i] if i < len(mus) - 1 else mus[-1] - mus[-2]
        gap = max(left, right) if 0 < i < len(mus) - 1 else (left if i == 0 else right)
        expected.append(min(max(gap, prior_sigma / min(100.0, 1.0 + len(mus))), prior_sigma))
    np.testing.assert_allclose(neighbour_bandwidths(mus, prior_sigma), expected)


def test_numeric_estimator_adds_a_prior_kernel_as_wide_as_the_prior():
    dist = Numeric.from_hp("uniform", (0.0, 10.0))
    mix = numeric_estimator(np.array([1.0, 2.0, 3.0]), None, dist, prior_weight=1.0)
    prior = np.flatnonzero(mix.mus == 5.0)
    assert len(prior) == 1 and mix.sigmas[prior[0]] == 10.0
    assert mix.weights.sum() == pytest.approx(1.0) and np.all(np.diff(mix.mus) >= 0)


def test_numeric_estimator_merges_repeated_grid_values():
    dist = Numeric.from_hp("quniform", (0.0, 10.0, 1.0))
    mix = numeric_estimator(np.array([2.0, 2.0, 2.0, 7.0]), None, dist, prior_weight=1.0)
    assert len(mix.mus) == 3  # 2, 7 and the prior
    assert mix.weights[mix.mus == 2.0][0] == pytest.approx(3 / 5)


def test_numeric_estimator_works_in_log_space_for_log_params():
    dist = Numeric.from_hp("loguniform", (np.log(1e-3), 0.0))
    mix = numeric_estimator(np.array([1e-2]), None, dist, prior_weight=1.0)
    assert np.log(1e-2) in mix.mus


def test_categorical_estimator_counts_with_prior_pseudocounts():
    dist = Categorical("randint", (0.25,) * 4)
    mix = categorical_estimator(np.array([1, 1, 3]), None, dist, prior_weight=1.0)
    np.testing.assert_allclose(mix.probs, np.array([1, 3, 1, 2]) / 7)


def test_split_good_takes_the_lowest_losses_up_to_the_cap():
    losses = np.array([5.0, 1.0, 3.0, 0.5, 4.0, 2.0] * 20)
    good = split_good(losses, gamma=0.25, cap=25)
    assert good.sum() == int(np.ceil(0.25 * np.sqrt(120)))
    assert losses[good].max() <= losses[~good].min()
    assert split_good(np.arange(100000.0), 0.25, 25).sum() == 25
