"""hyperopt.tpe's helper functions, as in hyperopt 0.3.0: the Gaussian-mixture samplers and
log-densities, the adaptive Parzen estimator, the good/bad split, the posterior builders and
the default settings. Maths checked against plain formulas or scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hqueue import tpe
from hqueue.pyll import Literal, rec_eval, scope


def test_default_settings_are_the_ones_tpe_suggest_uses():
    """hyperopt's names, hqueue's values: tpe.suggest starts after 10 random trials (hyperopt:
    20) with gamma="auto" (hyperopt: 0.25), chosen on real HPO problems (issue 11); the other
    defaults are hyperopt's."""
    import inspect

    defaults = {k: v.default for k, v in inspect.signature(tpe.suggest).parameters.items()}
    assert tpe._default_gamma == defaults["gamma"] == "auto"
    assert tpe._default_n_startup_jobs == defaults["n_startup_jobs"] == 10
    assert tpe._default_n_EI_candidates == defaults["n_EI_candidates"] == 24
    assert tpe._default_prior_weight == defaults["prior_weight"] == 1.0
    assert tpe._default_linear_forgetting == defaults["linear_forgetting"] == 25


def test_gmm1_lpdf_matches_the_mixture_density():
    x = np.array([[0.0, 1.0], [2.5, -1.0]])
    w, mu, sigma = [0.25, 0.75], [0.0, 2.0], [1.0, 0.5]
    expected = np.log(sum(wi * stats.norm.pdf(x, m, s) for wi, m, s in zip(w, mu, sigma)))
    np.testing.assert_allclose(tpe.GMM1_lpdf(x, w, mu, sigma), expected)
    assert tpe.GMM1_lpdf(1.0, [1.0], [1.0], [2.0]).shape == ()


def test_gmm1_lpdf_bounded_renormalizes_and_quantized_gives_bucket_mass():
    lpdf = tpe.GMM1_lpdf(0.5, [1.0], [0.0], [1.0], low=0.0, high=1.0)
    mass = stats.norm.cdf(1.0) - stats.norm.cdf(0.0)
    assert np.isclose(lpdf, np.log(stats.norm.pdf(0.5) / mass))
    q = tpe.GMM1_lpdf(np.array([0.0]), [1.0], [0.0], [1.0], q=1.0)
    assert np.isclose(q[0], np.log(stats.norm.cdf(0.5) - stats.norm.cdf(-0.5)))


def test_gmm1_samples_follow_size_bounds_and_q():
    rng = np.random.default_rng(0)
    draws = tpe.GMM1([0.5, 0.5], [0.0, 5.0], [1.0, 1.0], low=-1, high=6, q=0.5, size=(40, 3),
                     rng=rng)
    assert draws.shape == (40, 3)
    assert draws.min() >= -1 and draws.max() <= 6
    assert np.allclose(draws / 0.5, np.round(draws / 0.5))


def test_lgmm1_is_exp_of_gmm1_and_its_lpdf_is_lognormal():
    rng = np.random.default_rng(1)
    draws = tpe.LGMM1([1.0], [0.0], [0.5], size=(2000,), rng=rng)
    assert draws.min() > 0 and abs(np.median(np.log(draws))) < 0.05
    x = np.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(tpe.LGMM1_lpdf(x, [1.0], [0.0], [0.5]),
                               stats.lognorm.logpdf(x, 0.5))


def test_normal_and_lognormal_helpers_match_scipy():
    assert np.isclose(tpe.normal_cdf(1.0, 0.0, 2.0), stats.norm.cdf(0.5))
    assert np.isclose(tpe.lognormal_lpdf(2.0, 0.0, 1.0), stats.lognorm.logpdf(2.0, 1.0))
    expected = np.log(stats.lognorm.cdf(3.0, 1.0) - stats.lognorm.cdf(2.0, 1.0))
    assert np.isclose(tpe.qlognormal_lpdf(np.array([3.0]), 0.0, 1.0, 1.0)[0], expected)


def test_categorical_lpdfs_index_the_probabilities():
    p = [0.2, 0.8]
    np.testing.assert_allclose(tpe.categorical_lpdf(np.array([1, 0]), p), np.log([0.8, 0.2]))
    np.testing.assert_allclose(tpe.randint_via_categorical_lpdf(np.array([0]), p),
                               np.log([0.2]))


def test_linear_forgetting_weights_ramp_the_oldest():
    assert tpe.linear_forgetting_weights(3, 25).tolist() == [1.0, 1.0, 1.0]
    w = tpe.linear_forgetting_weights(30, 25)
    assert len(w) == 30 and w[0] == 1 / 30 and w[0] < w[3] < 1.0 and np.all(w[4:] == 1.0)


def test_adaptive_parzen_normal_inserts_the_prior_in_order():
    weights, mus, sigmas = tpe.adaptive_parzen_normal(np.array([0.9, 0.1]), 1.0, 0.5, 1.0)
    assert mus.tolist() == [0.1, 0.5, 0.9]
    assert sigmas[1] == 1.0 and np.isclose(weights.sum(), 1.0)
    assert np.allclose(sigmas[[0, 2]], 0.4)  # gap to the prior


def test_adaptive_parzen_normal_orig_puts_the_prior_first():
    mus = np.array([5.0, 4.0, 6.5])
    weights, centres, sigmas = tpe.adaptive_parzen_normal_orig(mus, 3.3, 7.0, 2.0)
    assert centres[0] == 7.0 and np.all(centres[1:] == mus) and sigmas[0] == 2.0
    assert np.all(weights[0] > weights[1:]) and np.isclose(weights.sum(), 1.0)


def test_ap_split_trials_keeps_the_best_ceil_gamma_sqrt_n():
    below, above = tpe.ap_split_trials([0, 1, 2, 3], [10, 11, 12, 13], [0, 1, 2, 3],
                                       [4.0, 1.0, 3.0, 2.0], 0.25)
    assert below.tolist() == [11] and sorted(above.tolist()) == [10, 12, 13]


def test_tpe_cat_pseudocounts_adds_the_prior():
    p = np.array([0.5, 0.5])
    probs = tpe.tpe_cat_pseudocounts(np.array([3.0, 1.0]), 1.0, p, (1,))
    assert np.allclose(probs, [4 / 6, 2 / 6])


def test_broadcast_best_picks_the_highest_score():
    assert tpe.broadcast_best([1, 2, 3], np.array([0.0, 2.0, 1.0]), np.zeros(3)) == [2, 2, 2]


@pytest.mark.parametrize("dist", ["uniform", "quniform", "loguniform", "qloguniform",
                                  "normal", "qnormal", "lognormal", "qlognormal", "randint",
                                  "categorical"])
def test_adaptive_parzen_samplers_build_posteriors_with_lpdfs(dist):
    prior_args = {"uniform": (0.0, 1.0), "quniform": (0.0, 10.0, 1.0),
                  "loguniform": (-2.0, 0.0), "qloguniform": (0.0, 3.0, 1.0),
                  "normal": (0.0, 1.0), "qnormal": (0.0, 10.0, 1.0), "lognormal": (0.0, 1.0),
                  "qlognormal": (0.0, 1.0, 1.0), "randint": (5,),
                  "categorical": (np.array([0.3, 0.7]),)}[dist]
    obs = Literal()
    post = tpe.adaptive_parzen_samplers[dist](obs, 1.0, *prior_args, size=(6,),
                                              rng=np.random.default_rng(0))
    observations = {"randint": np.array([1, 3]), "categorical": np.array([1, 1])}.get(
        dist, np.array([0.5, 1.0]))
    draws = rec_eval(post, memo={obs: observations})
    assert len(draws) == 6
    lpdf = getattr(scope, post.name + "_lpdf", None)
    if lpdf is not None:
        kwargs = {k: v for k, v in post.named_args if k not in ("rng", "size")}
        scores = rec_eval(lpdf(post, *post.pos_args, **kwargs), memo={obs: observations})
        assert np.all(np.isfinite(scores))
