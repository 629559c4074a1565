"""Joint (multivariate) Parzen estimators: one kernel per trial across all the labels of a
group that are active together, plus one prior kernel.

Real-valued labels form one :class:`NumericBlock` with ``(kernels, dims)`` centres and widths,
so building, sampling and scoring cost a fixed number of array operations whatever the number
of labels; continuous dimensions are scored with matrix products. Categorical labels are
:class:`CategoricalDim` tables (one probability row per kernel).

Example:
    >>> import numpy as np
    >>> from hqueue.space.distributions import Categorical, Numeric
    >>> dists = [Numeric.from_hp("uniform", (0.0, 1.0)), Categorical("randint", (0.5, 0.5))]
    >>> mix = joint_estimator([np.array([0.2, 0.7]), np.array([0, 1])], None, dists, 1.0)
    >>> mix.numeric.mus.shape, len(mix.weights)
    ((3, 1), 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from ...space.distributions import Categorical, Numeric
from .mixture import _INSIDE, _LOG_SQRT_2PI, _TINY, _draw_index, _log_diff_ndtr


@dataclass(frozen=True)
class NumericBlock:
    """Truncated Gaussian product kernels over ``D`` real dimensions (internal axes)."""

    mus: np.ndarray  # (K, D); the last kernel is the prior
    sigmas: np.ndarray  # (K, D)
    low: np.ndarray  # (D,)
    high: np.ndarray  # (D,)
    log_mass: np.ndarray  # (K, D): log of each kernel's mass inside each dimension's bounds

    def sample(self, rng: np.random.Generator, kernels: np.ndarray) -> np.ndarray:
        """(candidates, D) draws, candidate ``i`` from kernel ``kernels[i]``."""
        mu, sigma = self.mus[kernels], self.sigmas[kernels]
        a = ndtr((self.low - mu) / sigma)
        b = ndtr((self.high - mu) / sigma)
        z = ndtri(np.clip(rng.uniform(a, b), 1e-16, 1 - 1e-16))
        return np.clip(mu + sigma * z, self.low, self.high)

    def log_density(self, dims: Sequence[int], z: np.ndarray) -> np.ndarray:
        """(candidates, K): each kernel's log density over dimensions ``dims`` at ``z``
        (candidates, len(dims)), from three matrix products on dimensions standardized by
        the prior kernel (so the expanded terms stay O(1))."""
        dims = list(dims)
        mus, sigmas = self.mus[:, dims], self.sigmas[:, dims]
        centre, scale = mus[-1], sigmas[-1]
        x = (z - centre) / scale
        m = (mus - centre) / scale
        inv_var = (scale / sigmas) ** 2
        quad = (x * x) @ inv_var.T - 2.0 * x @ (m * inv_var).T + (m * m * inv_var).sum(axis=1)
        np.maximum(quad, 0.0, out=quad)
        const = (np.log(sigmas) + self.log_mass[:, dims]).sum(axis=1) + len(dims) * _LOG_SQRT_2PI
        return -0.5 * quad - const

    def log_bin_mass(self, dim: int, values: np.ndarray, lo: np.ndarray,
                     hi: np.ndarray) -> np.ndarray:
        """(candidates, K): log mass of each candidate's bin ``[lo, hi]`` in dimension
        ``dim``; computed once per distinct value, and only for kernels within reach (the
        wide prior kernel always is, so flooring the rest cannot empty a mixture)."""
        _, first, inverse = np.unique(values, return_index=True, return_inverse=True)
        mus, sigmas = self.mus[:, dim], self.sigmas[:, dim]
        a = np.subtract.outer(np.maximum(lo[first], self.low[dim]), mus) / sigmas
        b = np.subtract.outer(np.minimum(hi[first], self.high[dim]), mus) / sigmas
        near = (b > -_INSIDE) & (a < _INSIDE)
        out = np.full(a.shape, np.log(_TINY))
        out[near] = _log_diff_ndtr(a[near], b[near])
        return (out - self.log_mass[:, dim])[inverse.reshape(-1)]


@dataclass(frozen=True)
class CategoricalDim:
    """One categorical dimension: a probability row per kernel."""

    probs: np.ndarray  # (K, n_options)

    def sample(self, rng: np.random.Generator, kernels: np.ndarray) -> np.ndarray:
        cdf = np.cumsum(self.probs[kernels], axis=1)
        u = rng.uniform(0.0, 1.0, len(kernels))[:, None] * cdf[:, -1:]
        return np.minimum((cdf <= u).sum(axis=1), self.probs.shape[1] - 1)

    def log_kernels(self, idx: np.ndarray) -> np.ndarray:
        return np.log(np.maximum(self.probs[:, idx].T, _TINY))


@dataclass(frozen=True)
class JointMixture:
    """Weights of the product kernels, the numeric block (the group's real-valued labels,
    in group order) and the categorical tables (its categorical labels, in group order)."""

    weights: np.ndarray  # (K,)
    numeric: NumericBlock | None
    categorical: tuple[CategoricalDim, ...]

    def sample_kernels(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return _draw_index(self.weights, rng, n)

    def log_pdf(self, log_kernel_terms: list[np.ndarray]) -> np.ndarray:
        """Log density of the candidates given (candidates, K) log-kernel terms to add.

        A log-sum-exp shifted by each row's maximum; the exponentials (all below 1 after the
        shift) are summed against the weights in float32, enough to rank candidates.
        """
        total = log_kernel_terms[0].copy()
        for term in log_kernel_terms[1:]:
            total += term
        top = total.max(axis=1, keepdims=True)
        total -= top
        dens = np.exp(total.astype(np.float32)) @ self.weights.astype(np.float32)
        return np.log(np.maximum(dens.astype(np.float64), _TINY)) + top[:, 0]


def _column_widths(z: np.ndarray, prior_sigma: np.ndarray, orders: list[np.ndarray | None],
                   bandwidth: str) -> np.ndarray:
    """(K, D) kernel widths; the last row of ``z`` is the prior kernel's centre."""
    n_kernels, n_dims = z.shape
    if bandwidth == "scott":
        width = 0.2 * max(n_kernels - 1, 1) ** (-1.0 / (n_dims + 4)) * prior_sigma
        floor = prior_sigma / min(100.0, 1.0 + n_kernels)
        return np.broadcast_to(np.maximum(width, floor), z.shape).copy()
    order = np.empty(z.shape, dtype=np.int64)
    for d in range(n_dims):
        known = orders[d]
        if known is None:
            order[:, d] = np.argsort(z[:, d], kind="stable")
        else:  # the observations' sort order is known: slot the prior kernel into it
            at = np.searchsorted(z[known, d], z[-1, d])
            order[:, d] = np.concatenate([known[:at], [n_kernels - 1], known[at:]])
    sorted_z = np.take_along_axis(z, order, axis=0)
    widths = np.full(z.shape, np.nan)
    if n_kernels > 1:
        gaps = np.diff(sorted_z, axis=0)
        left = np.vstack([np.full((1, n_dims), np.nan), gaps])
        right = np.vstack([gaps, np.full((1, n_dims), np.nan)])
        widths = np.fmax(left, right)
    widths = np.where(np.isnan(widths), prior_sigma, widths)
    widths = np.clip(widths, prior_sigma / min(100.0, 1.0 + n_kernels), prior_sigma)
    out = np.empty_like(widths)
    np.put_along_axis(out, order, widths, axis=0)
    return out


def _numeric_block(columns: list[np.ndarray], dists: list[Numeric], bandwidth: str,
                   sigma_cap: float | None, orders: list[np.ndarray | None]) -> NumericBlock:
    z = np.stack([np.append(d.to_internal(c), d.mu) for c, d in zip(columns, dists)], axis=1)
    prior_sigma = np.array([d.sigma for d in dists])
    sigmas = _column_widths(z, prior_sigma, orders, bandwidth)
    if sigma_cap is not None:
        sigmas = np.minimum(sigmas, sigma_cap * prior_sigma)
    sigmas[-1] = prior_sigma  # the prior kernel
    sigmas = np.maximum(sigmas, 1e-12)
    low = np.array([d.low for d in dists])
    high = np.array([d.high for d in dists])
    a, b = (low - z) / sigmas, (high - z) / sigmas
    log_mass = np.zeros(z.shape)
    cut = (a > -_INSIDE) | (b < _INSIDE)  # kernels well inside the bounds keep all their mass
    log_mass[cut] = _log_diff_ndtr(a[cut], b[cut])
    return NumericBlock(z, sigmas, low, high, log_mass)


def _categorical_dim(values: np.ndarray, dist: Categorical, prior_weight: float) -> CategoricalDim:
    n, k = len(values), dist.size
    prior = np.asarray(dist.p, float)
    # mixing each one-hot kernel with the prior so the marginal matches the 1-D estimator's
    # pseudo-counts: prior mass prior_weight * k / (n + prior_weight * k)
    eps = min(1.0, prior_weight * (k - 1) / (n + prior_weight * k)) if n else 1.0
    probs = np.empty((n + 1, k))
    probs[:n] = eps * prior
    probs[np.arange(n), np.asarray(values, np.int64) - dist.offset] += 1.0 - eps
    probs[n] = prior
    return CategoricalDim(probs)


def joint_estimator(columns: list[np.ndarray], obs_weights: np.ndarray | None,
                    dists: list[Numeric | Categorical], prior_weight: float,
                    bandwidth: str = "neighbour", sigma_cap: float | None = None,
                    orders: list[np.ndarray | None] | None = None) -> JointMixture:
    """One product kernel per observed point (its values in every dimension) plus one prior
    kernel. ``sigma_cap`` bounds the data kernels' widths to that fraction of the prior's
    width; ``orders[i]``, when given, sorts ``columns[i]`` (saves a sort)."""
    n = len(columns[0]) if columns else 0
    w = np.ones(n) if obs_weights is None else np.asarray(obs_weights, float)
    weights = np.append(w, prior_weight)
    orders = orders or [None] * len(dists)
    numeric = [i for i, d in enumerate(dists) if isinstance(d, Numeric)]
    block = _numeric_block([columns[i] for i in numeric], [dists[i] for i in numeric],
                           bandwidth, sigma_cap, [orders[i] for i in numeric]) if numeric else None
    categorical = tuple(_categorical_dim(columns[i], dists[i], prior_weight)
                        for i, d in enumerate(dists) if isinstance(d, Categorical))
    return JointMixture(weights / weights.sum(), block, categorical)
