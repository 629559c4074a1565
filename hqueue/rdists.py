"""Distributions of hyperopt's ``hp.*`` expressions, as scipy-style objects (``hyperopt.rdists``).

``loguniform_gen`` and ``lognorm_gen`` are ``scipy.stats.rv_continuous`` distributions with
their parameters fixed at construction (``pdf``, ``cdf``, ``ppf``, ``rvs``, ``logpdf``, ...
take no shape arguments). The quantized ones (``quniform_gen``, ``qloguniform_gen``,
``qnormal_gen``, ``qlognormal_gen``) put their mass on the grid ``q * k`` and offer ``pmf``,
``logpmf`` and ``rvs``; a value off the grid or outside the support has probability 0.
``rvs()`` gives a Python ``int`` when ``q`` is an integer, a ``float`` otherwise.

Example:
    >>> from hqueue.rdists import quniform_gen
    >>> d = quniform_gen(0, 1, 0.5)
    >>> [round(d.pmf(x), 3) for x in (0.0, 0.5, 1.0, 0.25)]
    [0.25, 0.5, 0.25, 0.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special
from scipy.stats import rv_continuous

__all__ = ["loguniform_gen", "lognorm_gen", "quniform_gen", "qloguniform_gen", "qnormal_gen",
           "qlognormal_gen"]

def _random_source(random_state: Any) -> Any:
    """A generator with ``uniform``/``normal``: numpy's global one for None, else seeded."""
    if random_state is None:
        return np.random.mtrand._rand
    if isinstance(random_state, (np.random.Generator, np.random.RandomState)):
        return random_state
    return np.random.default_rng(random_state)


def _on_grid(draws: Any, q: float) -> Any:
    """``q * round(draws / q)``: an ``int`` / int array for integer ``q``, float otherwise."""
    k = np.round(np.asarray(draws, dtype=float) / q).astype(np.int64)
    integer_q = isinstance(q, (int, np.integer)) and not isinstance(q, bool)
    values = k * int(q) if integer_q else k * float(q)
    if np.ndim(values) == 0:
        return int(values) if integer_q else float(values)
    return values


def _shaped(values: np.ndarray, x: Any) -> Any:
    """A float for a scalar ``x``, an array shaped like ``x`` otherwise."""
    if np.ndim(x) == 0:
        return float(values.reshape(-1)[0])
    return values.reshape(np.shape(x))


def _log_normal_mass(za: np.ndarray, zb: np.ndarray) -> np.ndarray:
    """``log(Phi(zb) - Phi(za))`` for ``za < zb``, accurate in both tails.

    Intervals right of 0 are mirrored to the left, where ``log_ndtr`` keeps its precision.
    """
    za, zb = np.asarray(za, dtype=float), np.asarray(zb, dtype=float)
    right = za > 0
    lo = np.where(right, -zb, za)
    hi = np.where(right, -za, zb)
    log_hi = special.log_ndtr(hi)
    with np.errstate(divide="ignore"):
        return log_hi + np.log1p(-np.exp(special.log_ndtr(lo) - log_hi))


class loguniform_gen(rv_continuous):  # noqa: N801 (hyperopt's name)
    """``Y = exp(X)`` with ``X ~ U(low, high)``: support ``[e**low, e**high]``.

    Example:
        >>> d = loguniform_gen(0, 1)
        >>> round(float(d.cdf(np.exp(0.5))), 6)
        0.5
    """

    def __init__(self, low: float = 0, high: float = 1) -> None:
        self._low, self._high = float(low), float(high)
        super().__init__(a=np.exp(self._low), b=np.exp(self._high), name="loguniform")

    def _updated_ctor_param(self) -> dict:
        # freezing / copying rebuilds the object from these
        return {"low": self._low, "high": self._high}

    def _pdf(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (x * (self._high - self._low))

    def _logpdf(self, x: np.ndarray) -> np.ndarray:
        return -np.log(x) - np.log(self._high - self._low)

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        return (np.log(x) - self._low) / (self._high - self._low)

    def _ppf(self, p: np.ndarray) -> np.ndarray:
        return np.exp(self._low + p * (self._high - self._low))

    def _rvs(self, size: Any = None, random_state: Any = None) -> np.ndarray:
        return np.exp(_random_source(random_state).uniform(self._low, self._high, size))


class lognorm_gen(rv_continuous):  # noqa: N801 (hyperopt's name)
    """``Y = exp(X)`` with ``X ~ N(mu, sigma)`` (scipy's ``lognorm(s=sigma, scale=e**mu)``).

    Example:
        >>> d = lognorm_gen(mu=0, sigma=1)
        >>> float(d.median())
        1.0
    """

    def __init__(self, mu: float = 0, sigma: float = 1) -> None:
        self.mu_, self.s_ = float(mu), float(sigma)
        super().__init__(a=0.0, name="lognorm")

    def _updated_ctor_param(self) -> dict:
        return {"mu": self.mu_, "sigma": self.s_}

    def _z(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return (np.log(x) - self.mu_) / self.s_

    def _logpdf(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return (-0.5 * self._z(x) ** 2 - np.log(x) - np.log(self.s_)
                    - 0.5 * np.log(2 * np.pi))

    def _pdf(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self._logpdf(x))

    def _cdf(self, x: np.ndarray) -> np.ndarray:
        return special.ndtr(self._z(x))

    def _logcdf(self, x: np.ndarray) -> np.ndarray:
        return special.log_ndtr(self._z(x))

    def _sf(self, x: np.ndarray) -> np.ndarray:
        return special.ndtr(-self._z(x))

    def _logsf(self, x: np.ndarray) -> np.ndarray:
        return special.log_ndtr(-self._z(x))

    def _ppf(self, p: np.ndarray) -> np.ndarray:
        return np.exp(self.mu_ + self.s_ * special.ndtri(p))

    def _isf(self, p: np.ndarray) -> np.ndarray:
        return np.exp(self.mu_ - self.s_ * special.ndtri(p))

    def _rvs(self, size: Any = None, random_state: Any = None) -> np.ndarray:
        return np.exp(_random_source(random_state).normal(self.mu_, self.s_, size))


class _QTable:
    """A distribution on the grid points ``xs = qlow + q * i`` with probabilities ``ps``."""

    q: float
    qlow: float
    xs: np.ndarray
    ps: np.ndarray

    def pmf(self, x: Any) -> Any:
        """Probability of ``x`` (0 off the grid or outside the support)."""
        x1 = np.atleast_1d(np.asarray(x, dtype=float))
        k = np.round(x1 / self.q)
        idx = np.round(k - np.round(self.qlow / self.q)).astype(np.int64)
        ok = np.isclose(k * self.q, x1) & (idx >= 0) & (idx < len(self.ps))
        out = np.zeros_like(x1)
        out[ok] = self.ps[idx[ok]]
        return _shaped(out, x)

    def logpmf(self, x: Any) -> Any:
        """``log(pmf(x))``, ``-inf`` where the probability is 0."""
        p = np.atleast_1d(np.asarray(self.pmf(x), dtype=float))
        with np.errstate(divide="ignore"):
            return _shaped(np.log(p), x)


class quniform_gen(_QTable):  # noqa: N801 (hyperopt's name)
    """``Y = q * round(X / q)`` with ``X ~ U(low, high)``.

    Each grid point gets the width of ``[low, high]`` that rounds to it, so the two end points
    get less than the ones inside.

    Example:
        >>> d = quniform_gen(0, 10, 1)
        >>> round(d.pmf(0), 3), round(d.pmf(5), 3), type(d.rvs(random_state=0))
        (0.05, 0.1, <class 'int'>)
    """

    def __init__(self, low: float, high: float, q: float) -> None:
        self.low, self.high, self.q = float(low), float(high), q
        self.qlow = float(np.round(self.low / q) * q)
        self.qhigh = float(np.round(self.high / q) * q)
        n = int(np.round((self.qhigh - self.qlow) / q)) + 1
        self.xs = self.qlow + q * np.arange(n)
        if n == 1:
            self.ps = np.ones(1)
        else:
            width = np.full(n, float(q))
            width[0] = self.qlow + 0.5 * q - self.low
            width[-1] = self.high - (self.qhigh - 0.5 * q)
            self.ps = width / width.sum()

    def rvs(self, size: Any = (), random_state: Any = None) -> Any:
        """Draw ``size`` values (a scalar for ``size=()``).

        Example:
            >>> quniform_gen(0, 10, 1.0).rvs(size=3, random_state=0).dtype
            dtype('float64')
        """
        draws = _random_source(random_state).uniform(self.low, self.high, size)
        return _on_grid(draws, self.q)


class qloguniform_gen(_QTable):  # noqa: N801 (hyperopt's name)
    """``Y = q * round(exp(X) / q)`` with ``X ~ U(low, high)``.

    Example:
        >>> d = qloguniform_gen(np.log(0.25), np.log(0.75), 1)
        >>> [round(d.pmf(x), 3) for x in (0, 1, 2)]
        [0.631, 0.369, 0.0]
    """

    def __init__(self, low: float, high: float, q: float) -> None:
        self.low, self.high, self.q = float(low), float(high), q
        elow, ehigh = np.exp(self.low), np.exp(self.high)
        self.qlow = float(np.round(elow / q) * q)
        self.qhigh = float(np.round(ehigh / q) * q)
        n = int(np.round((self.qhigh - self.qlow) / q)) + 1
        self.xs = self.qlow + q * np.arange(n)
        # mass of loguniform(low, high) on [x - q/2, x + q/2], clipped to the support
        lo = np.clip(self.xs - 0.5 * q, elow, ehigh)
        hi = np.clip(self.xs + 0.5 * q, elow, ehigh)
        mass = (np.log(hi) - np.log(lo)) / (self.high - self.low) if ehigh > elow \
            else np.ones(n)
        self.ps = mass / mass.sum()

    def rvs(self, size: Any = (), random_state: Any = None) -> Any:
        """Draw ``size`` values (a scalar for ``size=()``).

        Example:
            >>> type(qloguniform_gen(0, 2, 0.5).rvs(random_state=0))
            <class 'float'>
        """
        draws = np.exp(_random_source(random_state).uniform(self.low, self.high, size))
        return _on_grid(draws, self.q)


class _FromLogPmf:
    """``pmf`` as the exponential of the subclass's ``logpmf``."""

    def logpmf(self, x: Any) -> Any:
        raise NotImplementedError

    def pmf(self, x: Any) -> Any:
        """Probability of ``x`` (0 off the support)."""
        return _shaped(np.exp(np.atleast_1d(self.logpmf(x))), x)


class qnormal_gen(_FromLogPmf):  # noqa: N801 (hyperopt's name)
    """``Y = q * round(X / q)`` with ``X ~ N(mu, sigma)``.

    Example:
        >>> d = qnormal_gen(0, 1, 1)
        >>> round(d.pmf(0), 4), d.pmf(0.5)
        (0.3829, 0.0)
    """

    def __init__(self, mu: float, sigma: float, q: float) -> None:
        self.mu, self.sigma = float(mu), float(sigma)
        self.q = q

    def in_domain(self, x: Any) -> Any:
        """Whether ``x`` is a multiple of ``q``."""
        x = np.asarray(x, dtype=float)
        return np.isclose(x, np.round(x / self.q) * self.q)

    def logpmf(self, x: Any) -> Any:
        """Log probability of ``x`` (``-inf`` off the grid); accurate far in the tails."""
        x1 = np.atleast_1d(np.asarray(x, dtype=float))
        out = np.full(x1.shape, -np.inf)
        ok = self.in_domain(x1)
        za = (x1[ok] - 0.5 * self.q - self.mu) / self.sigma
        zb = (x1[ok] + 0.5 * self.q - self.mu) / self.sigma
        out[ok] = _log_normal_mass(za, zb)
        return _shaped(out, x)

    def rvs(self, size: Any = (), random_state: Any = None) -> Any:
        """Draw ``size`` values (a scalar for ``size=()``).

        Example:
            >>> type(qnormal_gen(0, 10, 1).rvs(random_state=0))
            <class 'int'>
        """
        draws = _random_source(random_state).normal(self.mu, self.sigma, size)
        return _on_grid(draws, self.q)


class qlognormal_gen(_FromLogPmf):  # noqa: N801 (hyperopt's name)
    """``Y = q * round(exp(X) / q)`` with ``X ~ N(mu, sigma)``: support ``0, q, 2q, ...``.

    Example:
        >>> d = qlognormal_gen(0, 1, 1)
        >>> round(d.pmf(0), 4), round(d.pmf(1), 4), d.pmf(-1)
        (0.2441, 0.4133, 0.0)
    """

    def __init__(self, mu: float, sigma: float, q: float) -> None:
        self.mu, self.sigma = float(mu), float(sigma)
        self.q = q

    def in_domain(self, x: Any) -> Any:
        """Whether ``x`` is a non-negative multiple of ``q``."""
        x = np.asarray(x, dtype=float)
        return (x >= 0) & np.isclose(x, np.round(x / self.q) * self.q)

    def logpmf(self, x: Any) -> Any:
        """Log probability of ``x`` (``-inf`` off the support)."""
        x1 = np.atleast_1d(np.asarray(x, dtype=float))
        out = np.full(x1.shape, -np.inf)
        ok = self.in_domain(x1)
        xs = x1[ok]
        lower = xs - 0.5 * self.q
        with np.errstate(divide="ignore", invalid="ignore"):
            za = np.where(lower > 0, (np.log(np.where(lower > 0, lower, 1.0)) - self.mu)
                          / self.sigma, -np.inf)
            zb = (np.log(xs + 0.5 * self.q) - self.mu) / self.sigma
            out[ok] = _log_normal_mass(za, zb)
        return _shaped(out, x)

    def rvs(self, size: Any = (), random_state: Any = None) -> Any:
        """Draw ``size`` values (a scalar for ``size=()``).

        Example:
            >>> type(qlognormal_gen(0, 10, 1.0).rvs(random_state=0))
            <class 'float'>
        """
        draws = np.exp(_random_source(random_state).normal(self.mu, self.sigma, size))
        return _on_grid(draws, self.q)
