"""Batched mixture maths for TPE: truncated-Gaussian and categorical mixtures.

Everything is evaluated as one ``(candidates, kernels)`` matrix with a stable log-sum-exp,
never per trial in Python.

Example:
    >>> import numpy as np
    >>> mix = TruncatedGaussianMixture(np.array([0.5, 0.5]), np.array([0.0, 1.0]),
    ...                                np.array([0.1, 0.1]), low=-1.0, high=2.0)
    >>> x = mix.sample(np.random.default_rng(0), 1000)
    >>> bool((x >= -1).all() and (x <= 2).all())
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.special import ndtr, ndtri

_TINY = 1e-300
_INSIDE = 9.0  # a kernel whose bounds are this many sigmas away keeps all its mass
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def logsumexp_rows(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """``log(sum_j b[j] * exp(a[:, j]))`` per row, stable (b broadcasts over rows)."""
    m = np.max(a, axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(a - m)
    s = (e * b).sum(axis=1) if b is not None else e.sum(axis=1)
    with np.errstate(divide="ignore"):
        return np.log(s) + m[:, 0]


@dataclass(frozen=True)
class TruncatedGaussianMixture:
    """Gaussian kernels truncated to ``[low, high]`` (either bound may be infinite)."""

    weights: np.ndarray  # (K,), sums to 1
    mus: np.ndarray  # (K,)
    sigmas: np.ndarray  # (K,)
    low: float = -np.inf
    high: float = np.inf

    def _log_mass(self) -> np.ndarray:
        """log of each kernel's probability mass inside the bounds."""
        out = np.zeros(len(self.mus))
        if self.low == -np.inf and self.high == np.inf:
            return out
        a = (self.low - self.mus) / self.sigmas
        b = (self.high - self.mus) / self.sigmas
        cut = (a > -_INSIDE) | (b < _INSIDE)  # kernels well inside the bounds have mass 1
        out[cut] = _log_diff_ndtr(a[cut], b[cut])
        return out

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws (kernel chosen by weight, then inverse-CDF within the bounds)."""
        k = _draw_index(self.weights, rng, n)
        mu, sigma = self.mus[k], self.sigmas[k]
        a = ndtr((self.low - mu) / sigma)
        b = ndtr((self.high - mu) / sigma)
        u = rng.uniform(a, b)
        z = ndtri(np.clip(u, 1e-16, 1 - 1e-16))
        return np.clip(mu + sigma * z, self.low, self.high)

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        """Log density at each ``x``.

        Summed in linear space (one matmul) and only redone in log space for the rare rows
        where every kernel underflows.
        """
        inv_sigma = 1.0 / self.sigmas
        sq = np.subtract.outer(x, self.mus)  # (candidates, kernels), updated in place
        sq *= inv_sigma
        np.square(sq, out=sq)
        sq *= -0.5
        coef = self.weights * inv_sigma * np.exp(-self._log_mass() - _LOG_SQRT_2PI)
        dens = np.exp(sq) @ coef
        with np.errstate(divide="ignore"):
            out = np.log(dens)
        bad = ~(dens > 1e-280)
        if bad.any():
            out[bad] = logsumexp_rows(sq[bad], coef[None, :])
        return out

    def log_interval_mass(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Log probability of each interval ``[lo, hi]`` (quantized values are bins)."""
        lo = np.maximum(lo, self.low)
        hi = np.minimum(hi, self.high)
        a = (lo[:, None] - self.mus[None, :]) / self.sigmas[None, :]
        b = (hi[:, None] - self.mus[None, :]) / self.sigmas[None, :]
        kernel_w = self.weights * np.exp(-self._log_mass())
        return np.log(np.maximum(_diff_ndtr(a, b) @ kernel_w, _TINY))


def _draw_index(p: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` indices drawn with probabilities ``p`` (inverse CDF on the cumulative sum)."""
    cdf = np.cumsum(p)
    return np.minimum(np.searchsorted(cdf, rng.uniform(0.0, cdf[-1], n), side="right"),
                      len(p) - 1)


def _diff_ndtr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Phi(b) - Phi(a) for a <= b, taking the upper tail when a > 0 (no cancellation there)."""
    flip = a > 0
    return ndtr(np.where(flip, -a, b)) - ndtr(np.where(flip, -b, a))


def _log_diff_ndtr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Phi(b) - Phi(a)), floored at log(1e-300)."""
    return np.log(np.maximum(_diff_ndtr(a, b), _TINY))


@dataclass(frozen=True)
class CategoricalMixture:
    """A categorical distribution over ``len(probs)`` options."""

    probs: np.ndarray

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return _draw_index(self.probs, rng, n)

    def log_pmf(self, idx: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(self.probs[idx], _TINY))


# -- joint (multivariate) kernels: one kernel per trial across several dimensions -------------

@dataclass(frozen=True)
class NumericDim:
    """One real dimension of a product mixture: a truncated Gaussian per kernel.

    ``q``/``log`` describe quantization in value space (then densities are bin masses).
    """

    mus: np.ndarray  # (K,) internal axis
    sigmas: np.ndarray  # (K,)
    low: float
    high: float
    q: float | None = None
    log: bool = False

    @cached_property
    def _log_mass(self) -> np.ndarray:
        return TruncatedGaussianMixture(np.ones(len(self.mus)), self.mus, self.sigmas,
                                        self.low, self.high)._log_mass()

    def sample(self, rng: np.random.Generator, kernels: np.ndarray) -> np.ndarray:
        mu, sigma = self.mus[kernels], self.sigmas[kernels]
        a = ndtr((self.low - mu) / sigma)
        b = ndtr((self.high - mu) / sigma)
        z = ndtri(np.clip(rng.uniform(a, b), 1e-16, 1 - 1e-16))
        return np.clip(mu + sigma * z, self.low, self.high)

    def log_kernels(self, z: np.ndarray, lo: np.ndarray | None = None,
                    hi: np.ndarray | None = None) -> np.ndarray:
        """(candidates, kernels) log densities at ``z``, or, when ``lo``/``hi`` are given, log
        masses of the bins ``[lo, hi]`` around the quantized values ``z``.

        Quantized candidates repeat values, so bin masses are computed once per distinct value.
        """
        log_mass = self._log_mass
        if lo is None:
            sq = np.subtract.outer(z, self.mus)
            sq /= self.sigmas
            np.square(sq, out=sq)
            sq *= -0.5
            sq -= np.log(self.sigmas) + _LOG_SQRT_2PI + log_mass
            return sq
        _, first, inverse = np.unique(z, return_index=True, return_inverse=True)
        lo_u = np.maximum(lo[first], self.low)
        hi_u = np.minimum(hi[first], self.high)
        a = np.subtract.outer(lo_u, self.mus) / self.sigmas
        b = np.subtract.outer(hi_u, self.mus) / self.sigmas
        # only kernel/bin pairs within _INSIDE sigmas carry mass; the wide prior kernel
        # always does, so flooring the rest cannot empty a mixture
        near = (b > -_INSIDE) & (a < _INSIDE)
        out = np.full(a.shape, np.log(_TINY))
        out[near] = _log_diff_ndtr(a[near], b[near])
        return (out - log_mass)[inverse.reshape(-1)]


@dataclass(frozen=True)
class CategoricalDim:
    """One categorical dimension of a product mixture: a probability row per kernel."""

    probs: np.ndarray  # (K, n_options)

    def sample(self, rng: np.random.Generator, kernels: np.ndarray) -> np.ndarray:
        cdf = np.cumsum(self.probs[kernels], axis=1)
        u = rng.uniform(0.0, 1.0, len(kernels))[:, None] * cdf[:, -1:]
        return np.minimum((cdf <= u).sum(axis=1), self.probs.shape[1] - 1)

    def log_kernels(self, idx: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(self.probs[:, idx].T, _TINY))


@dataclass(frozen=True)
class ProductMixture:
    """Kernels that are products over dimensions, sampled and scored jointly."""

    weights: np.ndarray  # (K,)
    dims: tuple[NumericDim | CategoricalDim, ...]

    def sample_kernels(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return _draw_index(self.weights, rng, n)

    def gaussian_log_kernels(self, dims: Sequence[int], z: np.ndarray) -> np.ndarray:
        """(candidates, kernels): each kernel's log density summed over the continuous
        dimensions ``dims`` at the candidates ``z`` (candidates, len(dims)).

        The squared distances come from three matrix products, after standardizing every
        dimension by the prior kernel (the last one) so the expanded terms stay O(1).
        """
        mus = np.stack([self.dims[i].mus for i in dims], axis=1)  # (K, D)
        sigmas = np.stack([self.dims[i].sigmas for i in dims], axis=1)
        centre, scale = mus[-1], sigmas[-1]
        x = (z - centre) / scale
        m = (mus - centre) / scale
        inv_var = (scale / sigmas) ** 2
        quad = (x * x) @ inv_var.T - 2.0 * x @ (m * inv_var).T + (m * m * inv_var).sum(axis=1)
        np.maximum(quad, 0.0, out=quad)
        const = np.log(sigmas).sum(axis=1) + len(dims) * _LOG_SQRT_2PI
        for i in dims:
            const = const + self.dims[i]._log_mass
        return -0.5 * quad - const

    def log_pdf(self, per_dim_log_kernels: list[np.ndarray]) -> np.ndarray:
        """Log density of candidates given each dimension's (candidates, kernels) matrix."""
        total = per_dim_log_kernels[0].copy()
        for m in per_dim_log_kernels[1:]:
            total += m
        with np.errstate(divide="ignore"):
            return logsumexp_rows(total + np.log(self.weights)[None, :])
