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

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

#: floor of probabilities and densities before taking logs
TINY = 1e-300
#: a kernel whose bounds are this many sigmas away keeps all its mass
INSIDE = 9.0
LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


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
        cut = (a > -INSIDE) | (b < INSIDE)  # kernels well inside the bounds have mass 1
        out[cut] = log_diff_ndtr(a[cut], b[cut])
        return out

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws (kernel chosen by weight, then inverse-CDF within the bounds)."""
        k = draw_index(self.weights, rng, n)
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
        coef = self.weights * inv_sigma * np.exp(-self._log_mass() - LOG_SQRT_2PI)
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
        return np.log(np.maximum(diff_ndtr(a, b) @ kernel_w, TINY))


def draw_index(p: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` indices drawn with probabilities ``p`` (inverse CDF on the cumulative sum)."""
    cdf = np.cumsum(p)
    return np.minimum(np.searchsorted(cdf, rng.uniform(0.0, cdf[-1], n), side="right"),
                      len(p) - 1)


def diff_ndtr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Phi(b) - Phi(a) for a <= b, taking the upper tail when a > 0 (no cancellation there)."""
    flip = a > 0
    return ndtr(np.where(flip, -a, b)) - ndtr(np.where(flip, -b, a))


def log_diff_ndtr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Phi(b) - Phi(a)), floored at log(1e-300)."""
    return np.log(np.maximum(diff_ndtr(a, b), TINY))


@dataclass(frozen=True)
class CategoricalMixture:
    """A categorical distribution over ``len(probs)`` options."""

    probs: np.ndarray

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return draw_index(self.probs, rng, n)

    def log_pmf(self, idx: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(self.probs[idx], TINY))
