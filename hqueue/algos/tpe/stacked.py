"""One-dimensional Parzen estimators for many labels at once.

Per suggestion, TPE builds two mixtures (good and bad trials) for every label, samples
candidates from the good one and scores them by the log density ratio. Doing that label by
label costs a few dozen small numpy calls each; here every numeric label's kernels are stacked
into padded ``(labels, kernels)`` arrays and every categorical label's probabilities into
``(labels, options)`` arrays, so a suggestion is a fixed number of array operations whatever
the number of labels. Padding kernels carry weight 0.

Example:
    >>> import numpy as np
    >>> from hqueue.space.distributions import Numeric
    >>> d = Numeric.from_hp("uniform", (0.0, 1.0))
    >>> k = NumericKernels.build([np.array([0.2, 0.4])], [np.ones(2)], [d], prior_weight=1.0)
    >>> k.mus.shape
    (1, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from ...space.distributions import Categorical, Numeric
from .bandwidth import bounded_cap, neighbour_widths
from .mixture import INSIDE, TINY, diff_ndtr

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def _merge_grid_values(obs: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Repeated values of a quantized label (``obs`` sorted) become one kernel with their
    summed weight, so kernels stay as wide as the grid spacing instead of collapsing onto
    popular values."""
    starts = np.flatnonzero(np.concatenate([[True], obs[1:] != obs[:-1]]))
    return obs[starts], np.add.reduceat(w, starts)


@dataclass(frozen=True)
class NumericKernels:
    """Truncated Gaussian kernels of ``P`` labels on their internal axes, padded to ``K``."""

    mus: np.ndarray  # (P, K)
    sigmas: np.ndarray  # (P, K)
    coef: np.ndarray  # (P, K): weight / (sigma * sqrt(2 pi) * mass inside the bounds)
    weights: np.ndarray  # (P, K), rows sum to 1, padding 0
    low: np.ndarray  # (P,)
    high: np.ndarray  # (P,)

    @classmethod
    def build(cls, obs: Sequence[np.ndarray], obs_weights: Sequence[np.ndarray],
              dists: Sequence[Numeric], prior_weight: float | Sequence[float],
              sigma_cap: float | None = None) -> NumericKernels:
        """One kernel per observation (per distinct value for quantized labels) plus a prior
        kernel per label; widths from the neighbour rule (:func:`.bandwidth.neighbour_widths`).

        ``obs[i]`` must be sorted ascending (samplers keep the history's sort order, so no
        sorting happens per suggestion).
        """
        rows = []
        for x, w, d in zip(obs, obs_weights, dists):
            if d.q is not None and len(x) > 1:
                x, w = _merge_grid_values(x, w)
            rows.append((d.to_internal(x), w))  # to_internal is monotone: stays sorted
        n_labels, width = len(rows), 1 + max(len(z) for z, _ in rows)
        mus = np.full((n_labels, width), np.inf)
        weights = np.zeros((n_labels, width))
        is_prior = np.zeros((n_labels, width), dtype=bool)
        prior_w = np.broadcast_to(np.asarray(prior_weight, float), (n_labels,))
        for i, ((z, w), d) in enumerate(zip(rows, dists)):
            at = int(np.searchsorted(z, d.mu))  # the prior kernel goes in its sorted place
            mus[i, :at], mus[i, at], mus[i, at + 1: len(z) + 1] = z[:at], d.mu, z[at:]
            weights[i, :at], weights[i, at] = w[:at], prior_w[i]
            weights[i, at + 1: len(z) + 1] = w[at:]
            is_prior[i, at] = True
        prior_mu = np.array([d.mu for d in dists])
        prior_sigma = np.array([d.sigma for d in dists])
        counts = np.array([len(z) + 1 for z, _ in rows])
        sigmas = neighbour_widths(mus, prior_sigma[:, None], counts[:, None], axis=1)
        cap = bounded_cap(sigma_cap, np.array([d.bounded for d in dists]))
        if cap is not None:
            sigmas = np.minimum(sigmas, np.multiply(cap, prior_sigma)[:, None])
        sigmas = np.where(is_prior, prior_sigma[:, None], sigmas)
        pad = weights == 0
        mus = np.where(pad, prior_mu[:, None], mus)
        sigmas = np.where(pad, 1.0, np.maximum(sigmas, 1e-12))
        weights = weights / weights.sum(axis=1, keepdims=True)
        low = np.array([d.low for d in dists])
        high = np.array([d.high for d in dists])
        mass = _mass_inside(mus, sigmas, low, high)
        coef = weights * _INV_SQRT_2PI / (sigmas * mass)
        return cls(mus, sigmas, coef, weights, low, high)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``(P, n)`` draws on the internal axes: a kernel by weight, then inverse CDF."""
        k = _draw_rows(self.weights, rng, n)
        mu = np.take_along_axis(self.mus, k, 1)
        sigma = np.take_along_axis(self.sigmas, k, 1)
        low, high = self.low[:, None], self.high[:, None]
        a = ndtr((low - mu) / sigma)
        b = ndtr((high - mu) / sigma)
        z = ndtri(np.clip(rng.uniform(a, b), 1e-16, 1 - 1e-16))
        return np.clip(mu + sigma * z, low, high)

    def log_pdf(self, z: np.ndarray) -> np.ndarray:
        """``(P, C)`` log densities of candidates ``z`` (internal axes).

        The ``(P, C, K)`` kernel matrix is computed in float32 (half the memory traffic; the
        scores only need to rank candidates), centred on each candidate in float64 first.
        """
        sq = (z[:, :, None] - self.mus[:, None, :]).astype(np.float32)
        sq *= (1.0 / self.sigmas[:, None, :]).astype(np.float32)
        np.square(sq, out=sq)
        sq *= np.float32(-0.5)
        np.exp(sq, out=sq)
        dens = np.einsum("pck,pk->pc", sq, self.coef.astype(np.float32)).astype(np.float64)
        return np.log(np.maximum(dens, TINY))

    def log_bin_mass(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """``(P, C)`` log probability of each candidate's bin ``[lo, hi]`` (internal axes)."""
        lo = np.maximum(lo, self.low[:, None])
        hi = np.minimum(hi, self.high[:, None])
        a = (lo[:, :, None] - self.mus[:, None, :]) / self.sigmas[:, None, :]
        b = (hi[:, :, None] - self.mus[:, None, :]) / self.sigmas[:, None, :]
        kernel_w = self.coef * self.sigmas / _INV_SQRT_2PI  # weight / mass inside the bounds
        mass = np.einsum("pck,pk->pc", diff_ndtr(a, b), kernel_w)
        return np.log(np.maximum(mass, TINY))


def _mass_inside(mus: np.ndarray, sigmas: np.ndarray, low: np.ndarray,
                 high: np.ndarray) -> np.ndarray:
    """Probability mass of each kernel inside its label's bounds (1 for interior kernels)."""
    a = (low[:, None] - mus) / sigmas
    b = (high[:, None] - mus) / sigmas
    mass = np.ones_like(mus)
    cut = (a > -INSIDE) | (b < INSIDE)
    mass[cut] = np.maximum(diff_ndtr(a[cut], b[cut]), TINY)
    return mass


def _draw_rows(weights: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """``(P, n)`` indices, row ``p`` drawn with probabilities ``weights[p]``."""
    cdf = np.cumsum(weights, axis=1)
    u = rng.uniform(0.0, 1.0, (len(weights), n)) * cdf[:, -1:]
    k = (cdf[:, None, :] <= u[:, :, None]).sum(axis=2)
    return np.minimum(k, weights.shape[1] - 1)


@dataclass(frozen=True)
class CategoricalTables:
    """Option probabilities of ``P`` categorical labels, padded to the widest."""

    probs: np.ndarray  # (P, M)

    @classmethod
    def build(cls, obs: Sequence[np.ndarray], obs_weights: Sequence[np.ndarray],
              dists: Sequence[Categorical], prior_weight: float | Sequence[float]
              ) -> CategoricalTables:
        """Weighted counts plus ``prior_weight`` pseudo-counts per option (shaped by the
        prior probabilities)."""
        width = max(d.size for d in dists)
        probs = np.zeros((len(dists), width))
        prior_w = np.broadcast_to(np.asarray(prior_weight, float), (len(dists),))
        for i, (x, w, d) in enumerate(zip(obs, obs_weights, dists)):
            idx = np.asarray(x, dtype=np.int64) - d.offset
            counts = np.bincount(idx, weights=w, minlength=d.size)[: d.size]
            pseudo = counts + prior_w[i] * np.asarray(d.p) * d.size
            probs[i, : d.size] = pseudo / pseudo.sum()
        return cls(probs)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return _draw_rows(self.probs, rng, n)

    def log_pmf(self, idx: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(np.take_along_axis(self.probs, idx, 1), TINY))
