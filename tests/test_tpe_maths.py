"""TPE maths checked against plain-loop scipy references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hqueue.algos.tpe.bandwidth import neighbour_widths
from hqueue.algos.tpe.mixture import CategoricalMixture, TruncatedGaussianMixture
from hqueue.algos.tpe.parzen import (
    categorical_estimator,
    forgetting_weights,
    numeric_estimator,
)
from hqueue.algos.tpe.sampler import split_good
from hqueue.history import History
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


def test_neighbour_widths_match_a_plain_loop():
    mus = np.sort(np.random.default_rng(3).uniform(0, 10, 12))
    prior_sigma = 10.0
    expected = []
    for i in range(len(mus)):
        left = mus[i] - mus[i - 1] if i > 0 else mus[1] - mus[0]
        right = mus[i + 1] - mus[i] if i < len(mus) - 1 else mus[-1] - mus[-2]
        gap = max(left, right) if 0 < i < len(mus) - 1 else (left if i == 0 else right)
        expected.append(min(max(gap, prior_sigma / min(100.0, 1.0 + len(mus))), prior_sigma))
    np.testing.assert_allclose(neighbour_widths(mus, prior_sigma, len(mus)), expected)


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


# -- the stacked (all labels at once) estimator agrees with the one-label reference ---------

from hqueue.algos.tpe.stacked import CategoricalTables, NumericKernels  # noqa: E402


def random_numeric_labels(rng):
    dists = [Numeric.from_hp("uniform", (-2.0, 3.0)),
             Numeric.from_hp("loguniform", (np.log(1e-3), 0.0)),
             Numeric.from_hp("normal", (1.0, 2.0)),
             Numeric.from_hp("lognormal", (0.0, 1.0))]
    obs = [d.sample(rng, n) for d, n in zip(dists, (30, 5, 0, 12))]
    weights = [forgetting_weights(len(o), 25) for o in obs]
    order = [np.argsort(o) for o in obs]  # the stacked estimator takes sorted observations
    return dists, [o[i] for o, i in zip(obs, order)], [w[i] for w, i in zip(weights, order)]


@pytest.mark.parametrize("seed", range(4))
def test_stacked_kernels_match_the_one_label_estimator(seed):
    rng = np.random.default_rng(seed)
    dists, obs, weights = random_numeric_labels(rng)
    stacked = NumericKernels.build(obs, weights, dists, prior_weight=1.0)
    z = np.stack([d.to_internal(d.sample(rng, 24)) for d in dists])
    got = stacked.log_pdf(z)
    for i, (d, o, w) in enumerate(zip(dists, obs, weights)):
        reference = numeric_estimator(o, w, d, prior_weight=1.0)
        np.testing.assert_allclose(got[i], reference.log_pdf(z[i]), rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("seed", range(3))
def test_stacked_bin_masses_match_the_one_label_estimator(seed):
    rng = np.random.default_rng(seed)
    dists = [Numeric.from_hp("quniform", (0.0, 20.0, 2.0)),
             Numeric.from_hp("qloguniform", (0.0, 4.0, 1.0))]
    obs = [np.sort(d.sample(rng, n)) for d, n in zip(dists, (40, 7))]
    weights = [np.ones(len(o)) for o in obs]
    stacked = NumericKernels.build(obs, weights, dists, prior_weight=1.0)
    x = np.stack([d.sample(rng, 24) for d in dists])
    lo = np.stack([d.to_internal(xi - d.q / 2) for d, xi in zip(dists, x)])
    hi = np.stack([d.to_internal(xi + d.q / 2) for d, xi in zip(dists, x)])
    got = stacked.log_bin_mass(lo, hi)
    for i, (d, o, w) in enumerate(zip(dists, obs, weights)):
        reference = numeric_estimator(o, w, d, prior_weight=1.0)
        np.testing.assert_allclose(got[i], reference.log_interval_mass(lo[i], hi[i]),
                                   rtol=1e-9)


def test_stacked_samples_stay_inside_each_labels_bounds():
    rng = np.random.default_rng(0)
    dists, obs, weights = random_numeric_labels(rng)
    z = NumericKernels.build(obs, weights, dists, 1.0).sample(rng, 5000)
    assert z[0].min() >= -2.0 and z[0].max() <= 3.0
    assert z[1].min() >= np.log(1e-3) and z[1].max() <= 0.0


def test_stacked_categorical_tables_match_the_one_label_estimator():
    dists = [Categorical("randint", (0.25,) * 4), Categorical("categorical", (0.7, 0.3)),
             Categorical("randint", (1 / 3,) * 3, offset=-1)]
    obs = [np.array([1, 1, 3]), np.array([0, 1, 1, 1]), np.array([-1, 1])]
    weights = [np.ones(len(o)) for o in obs]
    tables = CategoricalTables.build(obs, weights, dists, prior_weight=1.0)
    for i, (d, o) in enumerate(zip(dists, obs)):
        reference = categorical_estimator(o - d.offset, None, d, prior_weight=1.0)
        np.testing.assert_allclose(tables.probs[i, : d.size], reference.probs)
        assert np.all(tables.probs[i, d.size:] == 0)
    draws = tables.sample(np.random.default_rng(0), 2000)
    assert draws[1].max() <= 1 and draws[2].max() <= 2


def test_history_sorted_order_is_kept_across_appends():
    h = History()
    rng = np.random.default_rng(0)
    for step in range(5):
        for tid in range(step * 20, step * 20 + 20):
            vals = {"x": [float(rng.normal())]} if tid % 3 else {"x": []}
            h.add(tid, float(rng.uniform()), vals)
        _, values = h.column("x")
        order = h.sorted_order("x")
        assert sorted(order.tolist()) == list(range(len(values)))
        assert np.all(np.diff(values[order]) >= 0)


def test_joint_block_densities_match_a_per_dimension_scipy_reference():
    from hqueue.algos.tpe.joint import joint_estimator

    rng = np.random.default_rng(5)
    dists = [Numeric.from_hp("uniform", (-3.0, 7.0)), Numeric.from_hp("normal", (100.0, 5.0)),
             Numeric.from_hp("loguniform", (np.log(1e-4), 0.0))]
    cols = [d.sample(rng, 40) for d in dists]
    block = joint_estimator(cols, None, dists, 1.0, "neighbour", sigma_cap=0.01).numeric
    z = np.stack([d.to_internal(d.sample(rng, 6)) for d in dists], axis=1)
    got = block.log_density([0, 1, 2], z)
    for c in range(len(z)):
        for k in range(len(block.mus)):
            expected = 0.0
            for d in range(3):
                mu, s = block.mus[k, d], block.sigmas[k, d]
                a, b = (block.low[d] - mu) / s, (block.high[d] - mu) / s
                expected += stats.truncnorm.logpdf(z[c, d], a, b, loc=mu, scale=s)
            assert got[c, k] == pytest.approx(expected, rel=1e-7, abs=1e-6)


def test_joint_bin_masses_match_scipy():
    from hqueue.algos.tpe.joint import joint_estimator

    rng = np.random.default_rng(1)
    dist = Numeric.from_hp("quniform", (0.0, 20.0, 2.0))
    block = joint_estimator([dist.sample(rng, 15)], None, [dist], 1.0).numeric
    x = dist.sample(rng, 10)
    got = block.log_bin_mass(0, x, x - 1.0, x + 1.0)
    for c in range(len(x)):
        for k in range(len(block.mus)):
            mu, s = block.mus[k, 0], block.sigmas[k, 0]
            dist_k = stats.truncnorm((0.0 - mu) / s, (20.0 - mu) / s, loc=mu, scale=s)
            mass = dist_k.cdf(min(x[c] + 1, 20.0)) - dist_k.cdf(max(x[c] - 1, 0.0))
            if mass > 1e-8:  # scipy loses digits deeper in the tails
                assert got[c, k] == pytest.approx(np.log(mass), rel=1e-6)


def test_joint_estimator_with_a_known_sort_order_matches_sorting():
    from hqueue.algos.tpe.joint import joint_estimator

    rng = np.random.default_rng(2)
    dists = [Numeric.from_hp("uniform", (0.0, 1.0)), Numeric.from_hp("normal", (0.0, 1.0))]
    cols = [d.sample(rng, 50) for d in dists]
    sorted_mix = joint_estimator(cols, None, dists, 1.0, "neighbour", 0.05,
                                 [np.argsort(c, kind="stable") for c in cols])
    plain_mix = joint_estimator(cols, None, dists, 1.0, "neighbour", 0.05)
    np.testing.assert_array_equal(sorted_mix.numeric.sigmas, plain_mix.numeric.sigmas)


def test_joint_widths_follow_the_one_dimensional_neighbour_rule():
    from hqueue.algos.tpe.joint import joint_estimator

    rng = np.random.default_rng(4)
    dist = Numeric.from_hp("uniform", (0.0, 10.0))
    obs = dist.sample(rng, 12)
    block = joint_estimator([obs], None, [dist], 1.0).numeric
    mus = np.append(obs, dist.mu)
    order = np.argsort(mus, kind="stable")
    expected = np.empty(len(mus))
    expected[order] = neighbour_widths(mus[order], dist.sigma, len(mus))
    expected[-1] = dist.sigma
    np.testing.assert_allclose(block.sigmas[:, 0], expected)
