"""Parzen estimators: observations of one hyperparameter to a mixture.

Policies are plain functions: :func:`forgetting_weights` (older observations count less) and
:func:`.bandwidth.neighbour_widths` (each kernel as wide as the larger gap to its sorted
neighbours, clipped to a range set by the prior's width and the number of points).

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
from .bandwidth import neighbour_widths
from .mixture import CategoricalMixture, TruncatedGaussianMixture


def forgetting_weights(n: int, flat: int | None) -> np.ndarray:
    """Weights for ``n`` observations oldest first: the newest ``flat`` weigh 1, older ones
    ramp linearly down to ``1/n`` (hyperopt's linear forgetting)."""
    if not flat or n <= flat:
        return np.ones(n)
    return np.concatenate([np.linspace(1.0 / n, 1.0, n - flat), np.ones(flat)])


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
    sigmas = neighbour_widths(mus, dist.sigma, len(mus))
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
