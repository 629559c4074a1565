"""One-dimensional Gaussian mixtures as scope functions: samplers and log-densities.

hyperopt's TPE expresses its posteriors with these (``GMM1``, ``LGMM1`` and their ``_lpdf``,
``categorical_lpdf``, ...); they are reference implementations for code that calls them by name.
hqueue's own sampler (:mod:`hqueue.algos.tpe`) does not go through them.

Example:
    >>> import numpy as np
    >>> float(np.exp(GMM1_lpdf(0.0, [1.0], [0.0], [1.0])))  # standard normal at 0
    0.3989422804014327
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import erf

from .graph import scope
from .stochastic import as_generator, implicit_stochastic

EPS = 1e-12


@scope.define
def normal_cdf(x: Any, mu: Any, sigma: Any) -> Any:
    """The normal distribution's CDF at ``x`` (``sigma`` floored at a tiny positive value)."""
    z = (np.asarray(x, dtype=float) - mu) / np.maximum(np.sqrt(2) * sigma, EPS)
    return 0.5 * (1 + erf(z))


@scope.define
def lognormal_cdf(x: Any, mu: Any, sigma: Any) -> Any:
    """The log-normal CDF at ``x >= 0``."""
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return np.asarray([])
    if x.min() < 0:
        raise ValueError(f"lognormal_cdf: negative argument {x.min()}")
    z = (np.log(np.maximum(x, EPS)) - mu) / np.maximum(np.sqrt(2) * sigma, EPS)
    return 0.5 + 0.5 * erf(z)


@scope.define
def lognormal_lpdf(x: Any, mu: Any, sigma: Any) -> Any:
    """The log-normal log-density at ``x > 0``."""
    sigma = np.maximum(sigma, EPS)
    x = np.asarray(x, dtype=float)
    return -0.5 * ((np.log(x) - mu) / sigma) ** 2 - np.log(sigma * x * np.sqrt(2 * np.pi))


@scope.define
def qlognormal_lpdf(x: Any, mu: Any, sigma: Any, q: float) -> Any:
    """Log-probability that a log-normal draw falls in ``(x - q, x]``."""
    x = np.asarray(x, dtype=float)
    return np.log(lognormal_cdf(x, mu, sigma) - lognormal_cdf(x - q, mu, sigma))


def logsum_rows(x: np.ndarray) -> np.ndarray:
    """``log(sum(exp(x), axis=1))`` computed stably."""
    m = x.max(axis=1)
    return np.log(np.exp(x - m[:, None]).sum(axis=1)) + m


@scope.define
def categorical_lpdf(sample: Any, p: Any) -> np.ndarray:
    """``log(p[sample])``, elementwise."""
    sample = np.asarray(sample, dtype=int)
    return np.log(np.asarray(p)[sample]) if sample.size else np.asarray([])


@scope.define
def randint_via_categorical_lpdf(sample: Any, p: Any) -> np.ndarray:
    """Same as :func:`categorical_lpdf` (``randint`` drawn through a categorical)."""
    return categorical_lpdf(sample, p)


def _draw_components(rng: np.random.Generator, weights: np.ndarray, mus: np.ndarray,
                     sigmas: np.ndarray, n: int, low: float, high: float) -> np.ndarray:
    """``n`` normal draws from the mixture, truncated to ``[low, high)`` by rejection.

    The draws consume the generator as hyperopt's ``GMM1`` does (one multinomial pick of the
    component, then one normal draw), so a seeded generator gives hyperopt's samples.
    """
    if np.isinf(low) and np.isinf(high):
        active = np.argmax(rng.multinomial(1, weights, (n,)), axis=1)
        return rng.normal(loc=mus[active], scale=sigmas[active])
    out: list[float] = []
    while len(out) < n:
        k = int(np.argmax(rng.multinomial(1, weights)))
        draw = rng.normal(loc=mus[k], scale=sigmas[k])
        if low <= draw < high:
            out.append(draw)
    return np.asarray(out)


def _mixture_args(weights: Any, mus: Any, sigmas: Any) -> tuple[np.ndarray, ...]:
    weights, mus, sigmas = (np.asarray(a, dtype=float) for a in (weights, mus, sigmas))
    if not weights.ndim == mus.ndim == sigmas.ndim == 1:
        raise TypeError("weights, mus and sigmas must be vectors")
    if not len(weights) == len(mus) == len(sigmas):
        raise ValueError("weights, mus and sigmas must have the same length")
    return weights, mus, sigmas


def _bounds(low: Any, high: Any) -> tuple[float, float]:
    lo = -np.inf if low is None else float(low)
    hi = np.inf if high is None else float(high)
    if lo >= hi:
        raise ValueError(f"low >= high: {lo} >= {hi}")
    return lo, hi


@implicit_stochastic
@scope.define
def GMM1(weights: Any, mus: Any, sigmas: Any, low: Any = None, high: Any = None,  # noqa: N802
         q: Any = None, rng: Any = None, size: Any = ()) -> np.ndarray:
    """Draws of a 1-D Gaussian mixture truncated to ``[low, high)``, rounded to ``q``.

    Example:
        >>> GMM1([1.0], [0.0], [1.0], size=(3,), rng=np.random.default_rng(0)).shape
        (3,)
    """
    weights, mus, sigmas = _mixture_args(weights, mus, sigmas)
    lo, hi = _bounds(low, high)
    samples = _draw_components(as_generator(rng), weights, mus, sigmas, int(np.prod(size)), lo, hi)
    samples = samples.reshape(size)
    return samples if q is None else np.round(samples / q) * q


@implicit_stochastic
@scope.define
def LGMM1(weights: Any, mus: Any, sigmas: Any, low: Any = None, high: Any = None,  # noqa: N802
          q: Any = None, rng: Any = None, size: Any = ()) -> np.ndarray:
    """``exp`` of :func:`GMM1` draws (bounds are logs), rounded to ``q``."""
    weights, mus, sigmas = _mixture_args(weights, mus, sigmas)
    lo, hi = _bounds(low, high)
    draws = _draw_components(as_generator(rng), weights, mus, sigmas, int(np.prod(size)), lo, hi)
    samples = np.exp(draws).reshape(size)
    return samples if q is None else np.round(samples / q) * q


def _p_accept(weights: np.ndarray, mus: np.ndarray, sigmas: np.ndarray, low: Any,
              high: Any) -> float:
    if low is None and high is None:
        return 1.0
    lo, hi = _bounds(low, high)
    return float(np.sum(weights * (normal_cdf(hi, mus, sigmas) - normal_cdf(lo, mus, sigmas))))


def _bucket_mass(samples: np.ndarray, weights: np.ndarray, mus: np.ndarray, sigmas: np.ndarray,
                 q: float, low: float, high: float, cdf: Any) -> np.ndarray:
    upper = np.minimum(samples + q / 2, high)
    lower = np.maximum(samples - q / 2, low)
    return sum(w * (cdf(upper, m, s) - cdf(lower, m, s)) for w, m, s in zip(weights, mus, sigmas))


@scope.define
def GMM1_lpdf(samples: Any, weights: Any, mus: Any, sigmas: Any, low: Any = None,  # noqa: N802
              high: Any = None, q: Any = None) -> np.ndarray:
    """Log-density (log-mass when ``q`` is set) of :func:`GMM1` at ``samples``, any shape.

    Example:
        >>> GMM1_lpdf([[0.0, 1.0]], [1.0], [0.0], [1.0]).shape
        (1, 2)
    """
    shape = np.shape(samples)
    x = np.asarray(samples, dtype=float).reshape(-1)
    if x.size == 0:
        return np.asarray([])
    weights, mus, sigmas = _mixture_args(weights, mus, sigmas)
    p_accept = _p_accept(weights, mus, sigmas, low, high)
    if q is None:
        mahal = ((x[:, None] - mus) / np.maximum(sigmas, EPS)) ** 2
        coef = weights / np.sqrt(2 * np.pi * sigmas**2) / p_accept
        rval = logsum_rows(-0.5 * mahal + np.log(coef))
    else:
        lo, hi = (-np.inf if low is None else low), (np.inf if high is None else high)
        mass = _bucket_mass(x, weights, mus, sigmas, q, lo, hi, normal_cdf)
        rval = np.log(mass) - np.log(p_accept)
    return rval.reshape(shape)


@scope.define
def LGMM1_lpdf(samples: Any, weights: Any, mus: Any, sigmas: Any, low: Any = None,  # noqa: N802
               high: Any = None, q: Any = None) -> np.ndarray:
    """Log-density (log-mass when ``q`` is set) of :func:`LGMM1` at ``samples``, any shape.

    With bounds and no ``q`` the density is divided by the mixture's mass inside the bounds,
    as for :func:`GMM1_lpdf`; hyperopt 0.3.0 leaves that case unnormalized.
    """
    shape = np.shape(samples)
    x = np.asarray(samples, dtype=float).reshape(-1)
    weights, mus, sigmas = _mixture_args(weights, mus, sigmas)
    p_accept = _p_accept(weights, mus, sigmas, low, high)
    if q is None:
        rval = logsum_rows(lognormal_lpdf(x[:, None], mus, sigmas) + np.log(weights))
    else:
        lo = 0.0 if low is None else max(0.0, float(np.exp(low)))
        hi = np.inf if high is None else float(np.exp(high))
        mass = _bucket_mass(x, weights, mus, sigmas, q, lo, hi, lognormal_cdf)
        rval = np.log(mass) - np.log(p_accept)
    return rval.reshape(shape)
