"""Parzen estimators: observations of one hyperparameter to a mixture.

Policies are plain functions: :func:`forgetting_weights` (older observations count less) and
:func:`neighbour_bandwidths` (each kernel as wide as the larger gap to its sorted neighbours,
clipped to a range set by the prior's width and the number of points).

Example:
    >>> import numpy as np
    >>> from hqueue.space.distributions import Numeric
    >>> d = Numeric.from_hp("uniform", (0.0, 10.0))
    >>> mix = numeric_estimator(np.array([1.0, 2.0, 8.0]), None, d, prior_weight=1.0)
    >>> len(mix.weights), round(float(mix.weights.sum()), 6)
    (4, 1.0)
"""

from __future__ import annotations

import numpy as np

from ...space.distributions import Categorical, Numeric
from .mixture import (
    CategoricalDim,
    CategoricalMixture,
    NumericDim,
    ProductMixture,
    TruncatedGaussianMixture,
)


def forgetting_weights(n: int, flat: int | None) -> np.ndarray:
    """Weights for ``n`` observations oldest first: the newest ``flat`` weigh 1, older ones
    ramp linearly down to ``1/n`` (hyperopt's linear forgetting)."""
    if not flat or n <= flat:
        return np.ones(n)
    return np.concatenate([np.linspace(1.0 / n, 1.0, n - flat), np.ones(flat)])


def neighbour_bandwidths(sorted_mus: np.ndarray, prior_sigma: float) -> np.ndarray:
    """Per-kernel sigma: the larger gap to a sorted neighbour, clipped to
    ``[prior_sigma / min(100, 1 + n), prior_sigma]``."""
    n = len(sorted_mus)
    if n == 1:
        return np.array([prior_sigma])
    gaps = np.diff(sorted_mus)
    sigma = np.empty(n)
    sigma[0] = gaps[0]
    sigma[-1] = gaps[-1]
    sigma[1:-1] = np.maximum(gaps[:-1], gaps[1:])
    return np.clip(sigma, prior_sigma / min(100.0, 1.0 + n), prior_sigma)


def numeric_estimator(obs: np.ndarray, obs_weights: np.ndarray | None, dist: Numeric,
                      prior_weight: float) -> TruncatedGaussianMixture:
    """A truncated Gaussian mixture on the internal axis: one kernel per observation (per
    distinct value for quantized labels) plus one prior kernel (centred on the prior, as wide
    as it)."""
    w = np.ones(len(obs)) if obs_weights is None else np.asarray(obs_weights, float)
    if dist.q is not None and len(obs):
        # repeated grid values become one kernel carrying their total weight, so kernels stay
        # as wide as the grid spacing instead of collapsing onto popular values
        obs, inverse = np.unique(obs, return_inverse=True)
        w = np.bincount(inverse, weights=w)
    z = dist.to_internal(obs)
    mus = np.append(z, dist.mu)
    weights = np.append(w, prior_weight)
    order = np.argsort(mus, kind="stable")
    mus, weights = mus[order], weights[order]
    sigmas = neighbour_bandwidths(mus, dist.sigma)
    sigmas[order == len(z)] = dist.sigma  # the prior kernel keeps the prior's width
    sigmas = np.maximum(sigmas, 1e-12)
    return TruncatedGaussianMixture(weights / weights.sum(), mus, sigmas, dist.low, dist.high)


def categorical_estimator(obs_idx: np.ndarray, obs_weights: np.ndarray | None,
                          dist: Categorical, prior_weight: float) -> CategoricalMixture:
    """Weighted counts of each option plus ``prior_weight`` pseudo-counts per option, shaped
    by the prior probabilities."""
    w = None if obs_weights is None else np.asarray(obs_weights, float)
    counts = np.bincount(np.asarray(obs_idx, dtype=np.int64), weights=w, minlength=dist.size)
    prior = np.asarray(dist.p) * dist.size
    pseudo = counts[: dist.size] + prior_weight * prior
    return CategoricalMixture(pseudo / pseudo.sum())


def _numeric_dim(values: np.ndarray, dist: Numeric, n_dims: int, bandwidth: str,
                 sigma_cap: float | None = None, order: np.ndarray | None = None
                 ) -> NumericDim:
    z = dist.to_internal(values)
    mus = np.append(z, dist.mu)
    if bandwidth == "scott":
        # one width per dimension, shrinking with the number of points as a D-dim KDE should
        sigma = 0.2 * max(len(z), 1) ** (-1.0 / (n_dims + 4)) * dist.sigma
        sigmas = np.full(len(mus), max(sigma, dist.sigma / min(100.0, 1.0 + len(mus))))
    else:
        if order is None:
            order = np.argsort(mus, kind="stable")
        else:  # the values' sort order is known: place the prior kernel in it
            at = np.searchsorted(z[order], dist.mu)
            order = np.concatenate([order[:at], [len(z)], order[at:]])
        sigmas = np.empty(len(mus))
        sigmas[order] = neighbour_bandwidths(mus[order], dist.sigma)
    if sigma_cap is not None:
        sigmas = np.minimum(sigmas, sigma_cap * dist.sigma)
    sigmas[-1] = dist.sigma  # the prior kernel
    return NumericDim(mus, np.maximum(sigmas, 1e-12), dist.low, dist.high, dist.q, dist.log)


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
                    bandwidth: str = "scott", sigma_cap: float | None = None,
                    orders: list[np.ndarray | None] | None = None) -> ProductMixture:
    """A product-kernel mixture over several dimensions: one kernel per observed point (its
    values in every dimension) plus one prior kernel. ``sigma_cap`` bounds the data kernels'
    widths to that fraction of the prior's width; ``orders[i]``, when given, sorts
    ``columns[i]`` (saves a sort)."""
    n = len(columns[0]) if columns else 0
    w = np.ones(n) if obs_weights is None else np.asarray(obs_weights, float)
    weights = np.append(w, prior_weight)
    orders = orders or [None] * len(dists)
    dims = tuple(
        _numeric_dim(col, d, len(dists), bandwidth, sigma_cap, o) if isinstance(d, Numeric)
        else _categorical_dim(col, d, prior_weight)
        for col, d, o in zip(columns, dists, orders)
    )
    return ProductMixture(weights / weights.sum(), dims)
