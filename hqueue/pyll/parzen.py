"""hyperopt's TPE building blocks as scope functions and graph builders (reference versions).

``adaptive_parzen_normal`` turns observations into mixture weights, centres and widths;
``adaptive_parzen_samplers[dist]`` builds the graph of the posterior that replaces a prior
``dist`` node; ``ap_split_trials`` splits observations into good and bad by loss. They exist
for code written against hyperopt's ``tpe`` module; hqueue's sampler (:mod:`hqueue.algos.tpe`)
computes the same kind of posterior on arrays without building graphs.

Example:
    >>> import numpy as np
    >>> w, mu, sigma = adaptive_parzen_normal(np.array([0.2, 0.8]), 1.0, 0.5, 1.0)
    >>> [round(float(x), 2) for x in mu]
    [0.2, 0.5, 0.8]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .graph import Apply, Literal, scope

DEFAULT_LF = 25
EPS = 1e-12


@scope.define
def linear_forgetting_weights(N: int, LF: int) -> np.ndarray:  # noqa: N803
    """Weights of ``N`` observations, oldest first: a ramp up to 1 for all but the last ``LF``.

    Example:
        >>> linear_forgetting_weights(3, 5).tolist()
        [1.0, 1.0, 1.0]
    """
    if N < 0 or LF <= 0:
        raise ValueError(f"linear_forgetting_weights: need N >= 0 and LF > 0, got {N}, {LF}")
    if N < LF:
        return np.ones(N)
    return np.concatenate([np.linspace(1.0 / N, 1.0, num=N - LF), np.ones(LF)])


def _neighbour_widths(srtd: np.ndarray) -> np.ndarray:
    """Each sorted centre's width: the larger gap to a neighbour (one-sided at the ends)."""
    sigma = np.zeros_like(srtd)
    sigma[1:-1] = np.maximum(srtd[1:-1] - srtd[:-2], srtd[2:] - srtd[1:-1])
    sigma[0] = srtd[1] - srtd[0]
    sigma[-1] = srtd[-1] - srtd[-2]
    return sigma


@scope.define_info(o_len=3)
def adaptive_parzen_normal(mus: Any, prior_weight: float, prior_mu: float, prior_sigma: float,
                           LF: int = DEFAULT_LF) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: N803
    """Mixture ``(weights, mus, sigmas)`` from observations ``mus`` plus the prior component.

    Centres are sorted with the prior inserted at its place; widths are the larger gap to a
    neighbour, clipped to ``[prior_sigma / min(100, n + 1), prior_sigma]``; the prior keeps
    ``prior_sigma`` and ``prior_weight``; observations older than the last ``LF`` are ramped
    down (:func:`linear_forgetting_weights`). Weights sum to one.
    """
    obs = np.asarray(mus, dtype=float)
    if obs.ndim != 1:
        raise TypeError(f"mus must be a vector, got shape {obs.shape}")
    order = np.argsort(obs, kind="stable")
    pos = int(np.searchsorted(obs[order], prior_mu))
    if len(obs) == 1:  # hyperopt puts a tied prior after the observation
        pos = 0 if prior_mu < obs[0] else 1
    srtd = np.insert(obs[order], pos, prior_mu)
    if len(obs) == 0:
        sigma = np.asarray([prior_sigma], dtype=float)
    elif len(obs) == 1:
        sigma = np.full(2, 0.5 * prior_sigma)
    else:
        sigma = _neighbour_widths(srtd)
    if LF and LF < len(obs):
        obs_weights = linear_forgetting_weights(len(obs), LF)[order]
    else:
        obs_weights = np.ones(len(obs))
    weights = np.insert(obs_weights, pos, prior_weight)
    sigma = np.clip(sigma, prior_sigma / min(100.0, 1.0 + len(srtd)), prior_sigma)
    sigma[pos] = prior_sigma
    return weights / weights.sum(), srtd, sigma


@scope.define_info(o_len=3)
def adaptive_parzen_normal_orig(mus: Any, prior_weight: float, prior_mu: float,
                                prior_sigma: float) -> tuple[np.ndarray, ...]:
    """The first version of :func:`adaptive_parzen_normal`: prior first, observations unsorted.

    Widths are neighbour gaps in sorted order, clipped to
    ``[prior_sigma / sqrt(1 + n), prior_sigma]``; with one observation its width is half the
    prior's.
    """
    obs = np.asarray(mus, dtype=float)
    if obs.ndim != 1:
        raise TypeError(f"mus must be a vector, got shape {obs.shape}")
    if len(obs) == 0:
        sigma = np.asarray([prior_sigma], dtype=float)
    elif len(obs) == 1:
        sigma = np.asarray([prior_sigma, 0.5 * prior_sigma])
    else:
        order = np.argsort(obs, kind="stable")
        srtd = obs[order]
        widths = _neighbour_widths(srtd)
        if len(obs) > 2:  # the ends look two neighbours away
            widths[0], widths[-1] = srtd[2] - srtd[0], srtd[-1] - srtd[-3]
        sigma = np.empty_like(obs)
        sigma[order] = widths
        sigma = np.concatenate([[prior_sigma], sigma])
    centres = np.concatenate([[prior_mu], obs])
    sigma = np.clip(sigma, prior_sigma / np.sqrt(1 + len(centres)), prior_sigma)
    weights = np.ones(len(centres))
    weights[0] = prior_weight
    return weights / weights.sum(), centres, sigma


@scope.define
def tpe_cat_pseudocounts(counts: Any, prior_weight: float, p: Any, size: Any) -> Any:
    """Posterior probabilities of a categorical: ``counts`` plus ``prior_weight * n * p``."""
    if np.prod(size) == 0:
        return []
    p = np.asarray(p, dtype=float)
    if p.ndim == 2:
        p = p[0]
    pseudocounts = np.asarray(counts) + p.size * (prior_weight * p)
    return pseudocounts / np.sum(pseudocounts)


@scope.define_info(o_len=2)
def ap_split_trials(o_idxs: Any, o_vals: Any, l_idxs: Any, l_vals: Any, gamma: float,
                    gamma_cap: int = DEFAULT_LF) -> tuple[np.ndarray, np.ndarray]:
    """Split observations ``o_vals`` (of trials ``o_idxs``) by their trial's loss.

    The best ``min(ceil(gamma * sqrt(n)), gamma_cap)`` of the ``n`` losses ``l_vals`` (of
    trials ``l_idxs``) make the ``below`` group; the other trials' observations are ``above``.

    Example:
        >>> below, above = ap_split_trials([0, 1, 2], [5, 6, 7], [0, 1, 2], [3.0, 1.0, 2.0], 0.5)
        >>> below.tolist(), above.tolist()
        ([6], [5, 7])
    """
    l_idxs, l_vals = np.asarray(l_idxs), np.asarray(l_vals)
    n_below = min(int(np.ceil(gamma * np.sqrt(len(l_vals)))), gamma_cap)
    l_order = np.argsort(l_vals, kind="stable")
    good = set(l_idxs[l_order[:n_below]].tolist())
    bad = set(l_idxs[l_order[n_below:]].tolist())
    pairs = list(zip(np.asarray(o_idxs).tolist(), o_vals))
    return (np.asarray([v for i, v in pairs if i in good]),
            np.asarray([v for i, v in pairs if i in bad]))


@scope.define
def broadcast_best(samples: Any, below_llik: Any, above_llik: Any) -> list:
    """Every entry set to the sample with the best ``below_llik - above_llik``."""
    if not len(samples):
        return []
    score = np.asarray(below_llik) - np.asarray(above_llik)
    if len(score) != len(samples):
        raise ValueError("broadcast_best: samples and scores differ in length")
    return [samples[int(np.argmax(score))]] * len(samples)


def _parzen(obs: Any, prior_weight: Any, mu: Any, sigma: Any) -> Apply:
    return scope.adaptive_parzen_normal(obs, prior_weight, mu, sigma)


def _ap_uniform(obs: Any, prior_weight: Any, low: Any, high: Any, q: Any = None, *,
                log: bool = False, size: Any = (), rng: Any = None) -> Apply:
    mu, sigma = 0.5 * (high + low), 1.0 * (high - low)
    if log:
        floor = scope.maximum(EPS, scope.exp(low))
        w, m, s = _parzen(scope.log(scope.maximum(obs, floor)), prior_weight, mu, sigma)
        return scope.LGMM1(w, m, s, low=low, high=high, q=q, size=size, rng=rng)
    w, m, s = _parzen(obs, prior_weight, mu, sigma)
    return scope.GMM1(w, m, s, low=low, high=high, q=q, size=size, rng=rng)


def _ap_normal(obs: Any, prior_weight: Any, mu: Any, sigma: Any, q: Any = None, *,
               log: bool = False, size: Any = (), rng: Any = None) -> Apply:
    if log:
        w, m, s = _parzen(scope.log(scope.maximum(obs, EPS)), prior_weight, mu, sigma)
        return scope.LGMM1(w, m, s, q=q, size=size, rng=rng)
    w, m, s = _parzen(obs, prior_weight, mu, sigma)
    return scope.GMM1(w, m, s, q=q, size=size, rng=rng)


def _ap_randint(obs: Any, prior_weight: Any, low: Any, high: Any = None, size: Any = (),
                rng: Any = None, LF: int = DEFAULT_LF) -> Apply:  # noqa: N803
    weights = scope.linear_forgetting_weights(scope.len(obs), LF=LF)
    domain = low if high is None else high - low
    offset = Literal(0) if high is None else low
    counts = scope.bincount(obs, offset=offset, minlength=domain, weights=weights)
    pseudo = counts + prior_weight
    return scope.randint_via_categorical(pseudo / scope.sum(pseudo), size=size, rng=rng)


def _ap_categorical(obs: Any, prior_weight: Any, p: Any, size: Any = (), rng: Any = None,
                    LF: int = DEFAULT_LF) -> Apply:  # noqa: N803
    weights = scope.linear_forgetting_weights(scope.len(obs), LF=LF)
    counts = scope.bincount(obs, p=p, weights=weights)
    return scope.categorical(scope.tpe_cat_pseudocounts(counts, prior_weight, p, size),
                             size=size, rng=rng)


def _sampler(kind: Callable[..., Apply], quantized: bool, log: bool) -> Callable[..., Apply]:
    if quantized:
        def build(obs: Any, prior_weight: Any, a: Any, b: Any, q: Any, size: Any = (),
                  rng: Any = None) -> Apply:
            return kind(obs, prior_weight, a, b, q, log=log, size=size, rng=rng)
    else:
        def build(obs: Any, prior_weight: Any, a: Any, b: Any, size: Any = (),
                  rng: Any = None) -> Apply:
            return kind(obs, prior_weight, a, b, None, log=log, size=size, rng=rng)
    return build


# prior distribution name -> builder(obs, prior_weight, *prior_args, size=, rng=) of its posterior
adaptive_parzen_samplers: dict[str, Callable[..., Apply]] = {
    "uniform": _sampler(_ap_uniform, False, False),
    "quniform": _sampler(_ap_uniform, True, False),
    "loguniform": _sampler(_ap_uniform, False, True),
    "qloguniform": _sampler(_ap_uniform, True, True),
    "normal": _sampler(_ap_normal, False, False),
    "qnormal": _sampler(_ap_normal, True, False),
    "lognormal": _sampler(_ap_normal, False, True),
    "qlognormal": _sampler(_ap_normal, True, True),
    "randint": _ap_randint,
    "categorical": _ap_categorical,
}
