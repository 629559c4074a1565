"""``hqueue.rdists`` (hyperopt.rdists): checked against direct formulas and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hqueue.rdists import (
    lognorm_gen,
    loguniform_gen,
    qlognormal_gen,
    qloguniform_gen,
    qnormal_gen,
    quniform_gen,
)

# hqueue adds ``random_state`` to rvs and Python int/float scalars; hyperopt draws from
# numpy's global generator
pytestmark = pytest.mark.hqueue_only

X = np.array([0.3, 1.0, 1.7, 2.5, 4.0])


def test_loguniform_matches_formulas() -> None:
    low, high = -1.0, 1.5
    d = loguniform_gen(low, high)
    x = np.exp(np.linspace(low, high, 7))
    np.testing.assert_allclose(d.pdf(x), 1 / (x * (high - low)))
    np.testing.assert_allclose(d.cdf(x), (np.log(x) - low) / (high - low), atol=1e-12)
    np.testing.assert_allclose(d.ppf([0.0, 0.5, 1.0]), np.exp([low, 0.25, high]))
    assert d.pdf(np.exp(high) + 1) == 0 and d.cdf(np.exp(low) / 2) == 0
    draws = d.rvs(size=4000, random_state=0)
    assert draws.min() >= np.exp(low) and draws.max() <= np.exp(high)
    assert stats.kstest(draws, d.cdf).pvalue > 1e-3


def test_loguniform_freeze_keeps_parameters() -> None:
    frozen = loguniform_gen(0, 2)()
    assert frozen.support() == pytest.approx((1.0, np.exp(2)))


@pytest.mark.parametrize(("mu", "sigma"), [(0.0, 1.0), (-4.0, 0.5), (1.0, 2.0)])
def test_lognorm_matches_scipy(mu: float, sigma: float) -> None:
    ref = stats.lognorm(s=sigma, scale=np.exp(mu))
    d = lognorm_gen(mu, sigma)
    x = X * np.exp(mu)
    for name in ("pdf", "logpdf", "cdf", "logcdf", "sf"):
        np.testing.assert_allclose(getattr(d, name)(x), getattr(ref, name)(x), rtol=1e-10)
    np.testing.assert_allclose(d.ppf([0.1, 0.5, 0.9]), ref.ppf([0.1, 0.5, 0.9]))
    assert stats.kstest(d.rvs(size=4000, random_state=1), ref.cdf).pvalue > 1e-3


def test_quniform_table() -> None:
    d = quniform_gen(0, 1, 0.2)
    # ends get half a bucket each: widths 0.1, 0.2, 0.2, 0.2, 0.2, 0.1
    np.testing.assert_allclose(d.pmf(np.array([0, 0.2, 0.4, 0.6, 0.8, 1.0])),
                               [0.1, 0.2, 0.2, 0.2, 0.2, 0.1])
    assert d.pmf(0.1) == d.pmf(-0.2) == d.pmf(1.2) == 0.0
    assert d.logpmf(0.1) == -np.inf
    assert d.logpmf(0.2) == pytest.approx(np.log(0.2))
    assert quniform_gen(0.1, 0.2, 5).pmf(0) == 1.0


def test_qloguniform_table() -> None:
    d = qloguniform_gen(np.log(0.16), np.log(0.55), 0.1)
    edges = np.array([0.16, 0.25, 0.35, 0.45, 0.55])
    want = np.diff(np.log(edges)) / np.log(0.55 / 0.16)
    np.testing.assert_allclose(d.pmf(np.array([0.2, 0.3, 0.4, 0.5])), want)
    assert d.pmf(0.1) == d.pmf(0.6) == d.pmf(0.25) == 0.0


def _normal_mass(lo: float, hi: float, mu: float, sigma: float) -> float:
    return stats.norm.cdf(hi, mu, sigma) - stats.norm.cdf(lo, mu, sigma)


def test_qnormal_pmf_and_tails() -> None:
    mu, sigma, q = 0.3, 1.5, 0.5
    d = qnormal_gen(mu, sigma, q)
    for x in (-2.0, 0.0, 0.5, 3.0):
        assert d.pmf(x) == pytest.approx(_normal_mass(x - q / 2, x + q / 2, mu, sigma))
    assert d.pmf(0.25) == 0.0
    # far tails: a finite log probability where the plain difference underflows to 0
    far = qnormal_gen(0, 1, 1)
    assert -np.inf < far.logpmf(60) < -1000 and -np.inf < far.logpmf(-60) < -1000
    assert far.logpmf(60) == pytest.approx(far.logpmf(-60))
    assert sum(far.pmf(float(k)) for k in range(-10, 11)) == pytest.approx(1.0)


def test_qlognormal_pmf() -> None:
    mu, sigma, q = 1.0, 2.0, 2
    d = qlognormal_gen(mu, sigma, q)
    z = lambda v: (np.log(v) - mu) / sigma  # noqa: E731
    assert d.pmf(0) == pytest.approx(stats.norm.cdf(z(1)))
    assert d.pmf(4) == pytest.approx(stats.norm.cdf(z(5)) - stats.norm.cdf(z(3)))
    assert d.pmf(1) == d.pmf(-2) == 0.0
    np.testing.assert_allclose(d.pmf(np.array([0.0, 1.0])), [d.pmf(0), 0.0])


@pytest.mark.parametrize("dist", [quniform_gen(-3, 4, 1), qloguniform_gen(0, 2, 1),
                                  qnormal_gen(0, 2, 1), qlognormal_gen(0, 1, 1)])
def test_sample_frequencies_match_pmf(dist) -> None:
    draws = dist.rvs(size=20000, random_state=3)
    values, counts = np.unique(draws, return_counts=True)
    np.testing.assert_allclose(counts / len(draws), dist.pmf(values.astype(float)), atol=0.015)


@pytest.mark.parametrize("make", [quniform_gen, qloguniform_gen, qnormal_gen, qlognormal_gen])
def test_rvs_types_follow_q(make) -> None:
    args = (0, 2)
    assert type(make(*args, 1).rvs(random_state=0)) is int
    assert type(make(*args, 1.0).rvs(random_state=0)) is float
    assert make(*args, 1).rvs(size=5, random_state=0).dtype.kind == "i"
    assert np.array_equal(make(*args, 0.5).rvs(size=5, random_state=7),
                          make(*args, 0.5).rvs(size=5, random_state=7))
