"""Joint (multivariate) Parzen estimators: one kernel per trial across all the labels of a
group that are active together, plus one prior kernel.

Real-valued labels form one :class:`NumericBlock` with ``(kernels, dims)`` centres and widths,
so building, sampling and scoring cost a fixed number of array operations whatever the number
of labels; continuous dimensions are scored with matrix products. Categorical labels are
:class:`CategoricalDim` tables (one probability row per kernel).

TPE needs two such mixtures per group, of the good and of the bad trials. :func:`joint_pair`
keeps both in the same arrays (:class:`JointPair`), so each step is one array operation for
both; the numbers are exactly those of two :func:`joint_estimator` mixtures.

Example:
    >>> import numpy as np
    >>> from hqueue.space.distributions import Categorical, Numeric
    >>> dists = [Numeric.from_hp("uniform", (0.0, 1.0)), Categorical("randint", (0.5, 0.5))]
    >>> mix = joint_estimator([np.array([0.2, 0.7]), np.array([0, 1])], None, dists, 1.0)
    >>> mix.numeric.mus.shape, len(mix.weights)
    ((3, 1), 3)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from ...space.distributions import Categorical, Numeric
from .bandwidth import bounded_cap, neighbour_widths, width_floor
from .mixture import INSIDE, LOG_SQRT_2PI, TINY, draw_index, log_diff_ndtr


@dataclass(frozen=True)
class NumericBlock:
    """Truncated Gaussian product kernels over ``D`` real dimensions (internal axes)."""

    mus: np.ndarray  # (K, D); the last kernel is the prior
    sigmas: np.ndarray  # (K, D)
    low: np.ndarray  # (D,)
    high: np.ndarray  # (D,)
    log_mass: np.ndarray  # (K, D): log of each kernel's mass inside each dimension's bounds
    log_sigmas: np.ndarray | None = None  # (K, D): np.log(sigmas), when known in advance

    @classmethod
    def build(cls, mus: np.ndarray, sigmas: np.ndarray, low: np.ndarray,
              high: np.ndarray, log_sigmas: np.ndarray | None = None) -> NumericBlock:
        """The block of kernels ``mus`` (K, D) with widths ``sigmas`` within the bounds."""
        a = low - mus
        a /= sigmas
        b = high - mus
        b /= sigmas
        log_mass = np.zeros(mus.shape)
        cut = a > -INSIDE  # kernels well inside the bounds keep all their mass
        cut |= b < INSIDE
        log_mass[cut] = log_diff_ndtr(a[cut], b[cut])
        return cls(mus, sigmas, low, high, log_mass, log_sigmas)

    def sample(self, rng: np.random.Generator, kernels: np.ndarray) -> np.ndarray:
        """(candidates, D) draws, candidate ``i`` from kernel ``kernels[i]``."""
        mu, sigma = self.mus[kernels], self.sigmas[kernels]
        a = ndtr((self.low - mu) / sigma)
        b = ndtr((self.high - mu) / sigma)
        z = ndtri(np.clip(rng.uniform(a, b), 1e-16, 1 - 1e-16))
        return np.clip(mu + sigma * z, self.low, self.high)

    def log_density(self, dims: Sequence[int], z: np.ndarray,
                    split: int | None = None) -> np.ndarray:
        """(candidates, K): each kernel's log density over dimensions ``dims`` at ``z``
        (candidates, len(dims)), from three matrix products on dimensions standardized by
        the prior kernel (so the expanded terms stay O(1)).

        ``split``: the kernels before it and from it on are two mixtures sharing the block
        (each ending with the same prior kernel); their matrix products are taken apart, so
        each mixture's numbers are those it gets alone.
        """
        dims = list(dims)
        mus, sigmas = self.mus[:, dims], self.sigmas[:, dims]
        centre, scale = mus[-1], sigmas[-1]
        x = (z - centre) / scale
        m = (mus - centre) / scale
        inv_var = (scale / sigmas) ** 2
        # (x*x) @ iv.T - (2x) @ (m*iv).T + sum(m*m*iv), then -0.5 * that - const, in place
        xx, x2, m_iv = x * x, 2.0 * x, m * inv_var
        if split is None:
            quad = xx @ inv_var.T
            quad -= x2 @ m_iv.T
        else:
            quad = np.empty((len(z), len(mus)))
            for part in (slice(0, split), slice(split, None)):
                np.subtract(xx @ inv_var[part].T, x2 @ m_iv[part].T, out=quad[:, part])
        quad += (m * m * inv_var).sum(axis=1)
        np.maximum(quad, 0.0, out=quad)
        quad *= -0.5
        log_sigmas = np.log(sigmas) if self.log_sigmas is None else self.log_sigmas[:, dims]
        log_sigmas += self.log_mass[:, dims]
        quad -= log_sigmas.sum(axis=1) + len(dims) * LOG_SQRT_2PI
        return quad

    def log_bin_mass(self, dim: int, values: np.ndarray, lo: np.ndarray,
                     hi: np.ndarray) -> np.ndarray:
        """(candidates, K): log mass of each candidate's bin ``[lo, hi]`` in dimension
        ``dim``; computed once per distinct value (see :meth:`bin_table`)."""
        first, inverse = distinct(values)
        return self.bin_table(dim, lo[first], hi[first])[inverse]

    def bin_table(self, dim: int, lo: np.ndarray, hi: np.ndarray,
                  sorted_kernels: np.ndarray | None = None,
                  other_kernels: np.ndarray | None = None) -> np.ndarray:
        """(bins, K): log mass of each bin ``[lo, hi]`` in dimension ``dim`` under each
        kernel; only kernels within reach are evaluated, the rest are floored (the wide prior
        kernel is always within reach, so flooring cannot empty a mixture).

        ``sorted_kernels``, when given, lists kernels in ascending order of their centre in
        ``dim`` and ``other_kernels`` all the others: of the sorted ones only those whose
        centre lies within ten widths of a bin are evaluated (the others always are). The
        numbers are the same as evaluating every (bin, kernel) pair, at a cost proportional
        to the pairs within reach.
        """
        lo = np.maximum(lo, self.low[dim])
        hi = np.minimum(hi, self.high[dim])
        if sorted_kernels is None or len(sorted_kernels) < 64:
            return self._dense_bin_table(dim, lo, hi, slice(None))
        mus, sigmas = self.mus[:, dim], self.sigmas[:, dim]
        centres = mus[sorted_kernels]
        reach = (INSIDE + 1.0) * sigmas[sorted_kernels].max()
        first = np.searchsorted(centres, lo - reach, side="left")
        stop = np.searchsorted(centres, hi + reach, side="right")
        # per bin, the window of sorted kernels within reach (padded to the widest one),
        # then every other kernel
        n_window = max(int((stop - first).max()), 1)
        n_other = 0 if other_kernels is None else len(other_kernels)
        window = first[:, None] + np.arange(n_window)
        inside = np.ones((len(lo), n_window + n_other), dtype=bool)
        np.less(window, stop[:, None], out=inside[:, :n_window])
        np.minimum(window, len(sorted_kernels) - 1, out=window)
        kernels = np.empty(inside.shape, dtype=np.intp)
        kernels[:, :n_window] = sorted_kernels[window]
        if n_other:
            kernels[:, n_window:] = other_kernels
        centres, widths = mus[kernels], sigmas[kernels]
        a = lo[:, None] - centres
        a /= widths
        b = hi[:, None] - centres
        b /= widths
        inside &= b > -INSIDE
        inside &= a < INSIDE
        log_mass = self.log_mass[:, dim]
        out = np.empty((len(lo), len(mus)))
        out[:] = np.log(TINY) - log_mass
        # the pairs within reach as flat positions: one nonzero, then cheap takes
        flat = np.flatnonzero(inside)
        kernels = kernels.ravel().take(flat)
        out[flat // inside.shape[1], kernels] = (
            log_diff_ndtr(a.ravel().take(flat), b.ravel().take(flat)) - log_mass[kernels])
        return out

    def _dense_bin_table(self, dim: int, lo: np.ndarray, hi: np.ndarray,
                         kernels: slice | np.ndarray) -> np.ndarray:
        """:meth:`bin_table` over every (bin, kernel) pair, for ``kernels`` only; ``lo`` and
        ``hi`` already clipped to the bounds."""
        mus, sigmas = self.mus[kernels, dim], self.sigmas[kernels, dim]
        a = np.subtract.outer(lo, mus)
        a /= sigmas
        b = np.subtract.outer(hi, mus)
        b /= sigmas
        near = b > -INSIDE
        near &= a < INSIDE
        out = np.full(a.shape, np.log(TINY))
        out[near] = log_diff_ndtr(a[near], b[near])
        out -= self.log_mass[kernels, dim]
        return out


@dataclass(frozen=True)
class CategoricalDim:
    """One categorical dimension: a probability row per kernel (``probs``, kept only for
    the kernels that are sampled from), and the floored logs of the probabilities laid out
    per option (``log_table``; scoring gathers one row per candidate)."""

    probs: np.ndarray | None  # (sampled kernels, n_options)
    log_table: np.ndarray  # (n_options, K): log(max(probability, TINY))

    def sample(self, rng: np.random.Generator, kernels: np.ndarray) -> np.ndarray:
        if self.probs is None:
            raise ValueError("this categorical model keeps no probabilities to sample from")
        cdf = np.cumsum(self.probs[kernels], axis=1)
        u = rng.uniform(0.0, 1.0, len(kernels))[:, None] * cdf[:, -1:]
        return np.minimum((cdf <= u).sum(axis=1), self.probs.shape[1] - 1)

    def log_kernels(self, idx: np.ndarray) -> np.ndarray:
        """(candidates, K): log probability of option ``idx[c]`` under each kernel."""
        return self.log_table[idx]


def distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(first, inverse)`` of a 1-D array: one position per distinct value (ascending) and,
    for each element, the index of its value among them (``values[first][inverse] ==
    values``); ``np.unique`` without its overhead, for the few candidates of a suggestion."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new = np.empty(len(values), dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    inverse = np.empty(len(values), dtype=np.intp)
    inverse[order] = np.cumsum(new) - 1
    return order[new], inverse


def log_mixture(total: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Log density of each candidate given its (candidates, K) summed log-kernel terms
    ``total`` (overwritten) and the kernels' weights.

    A log-sum-exp shifted by each row's maximum; the exponentials (all below 1 after the
    shift) are summed against the weights in float32, enough to rank candidates.
    """
    top = total.max(axis=1, keepdims=True)
    total -= top
    small = total.astype(np.float32)
    np.exp(small, out=small)
    dens = small @ weights.astype(np.float32)
    return np.log(np.maximum(dens.astype(np.float64), TINY)) + top[:, 0]


@dataclass(frozen=True)
class JointMixture:
    """Weights of the product kernels, the numeric block (the group's real-valued labels,
    in group order) and the categorical tables (its categorical labels, in group order)."""

    weights: np.ndarray  # (K,)
    numeric: NumericBlock | None
    categorical: tuple[CategoricalDim, ...]

    def sample_kernels(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return draw_index(self.weights, rng, n)

    def log_pdf(self, log_kernel_terms: list[np.ndarray]) -> np.ndarray:
        """Log density of the candidates given (candidates, K) log-kernel terms to add (see
        :func:`log_mixture`)."""
        if len(log_kernel_terms) == 1:
            total = log_kernel_terms[0].copy()
        else:
            total = log_kernel_terms[0] + log_kernel_terms[1]
            for term in log_kernel_terms[2:]:
                total += term
        return log_mixture(total, self.weights)


@dataclass(frozen=True)
class JointPair:
    """The good and the bad mixture of a group in shared arrays: kernels ``[0, split)`` are
    the good mixture's and ``[split, K)`` the bad one's, each ending with its prior kernel.
    Candidates are drawn from the good mixture; ``categorical[i].probs`` covers its kernels
    only."""

    split: int
    good_weights: np.ndarray  # (split,)
    bad_weights: np.ndarray  # (K - split,)
    numeric: NumericBlock | None
    categorical: tuple[CategoricalDim, ...]

    def sample_kernels(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return draw_index(self.good_weights, rng, n)

    def log_ratio(self, total: np.ndarray) -> np.ndarray:
        """log good density - log bad density of each candidate, from its (candidates, K)
        summed log-kernel terms ``total`` (overwritten)."""
        good = log_mixture(total[:, : self.split], self.good_weights)
        return good - log_mixture(total[:, self.split:], self.bad_weights)


#: ``orders`` value meaning: sort each column stably, the prior kernel before equal values
#: (what known orders give, without them)
PRIOR_FIRST = "prior first"


def _column_widths(z: np.ndarray, prior_sigma: np.ndarray,
                   orders: list[np.ndarray | None] | str, bandwidth: str) -> np.ndarray:
    """(K, D) kernel widths; the last row of ``z`` is the prior kernel's centre.

    ``orders[d]``, when given, sorts the observations ``z[:-1, d]`` (the prior kernel is
    slotted in before equal values; ``PRIOR_FIRST`` sorts them here with the same result);
    otherwise each column is sorted stably (the prior kernel after equal values).
    """
    n_kernels, n_dims = z.shape
    if bandwidth == "scott":
        width = 0.2 * max(n_kernels - 1, 1) ** (-1.0 / (n_dims + 4)) * prior_sigma
        floor = width_floor(prior_sigma, n_kernels)
        return np.broadcast_to(np.maximum(width, floor), z.shape).copy()
    cols = np.arange(n_dims)
    if n_kernels == 1:
        order = np.zeros(z.shape, dtype=np.int64)
    elif isinstance(orders, str):  # PRIOR_FIRST: sort with the prior kernel moved first
        order = np.argsort(np.concatenate([z[-1:], z[:-1]]), axis=0, kind="stable")
        order -= 1
        order[order < 0] = n_kernels - 1
    elif all(o is None for o in orders):
        order = np.argsort(z, axis=0, kind="stable")
    elif all(o is not None for o in orders):
        order = _slot_prior(np.stack(orders, axis=1), z)
    else:
        order = np.empty(z.shape, dtype=np.int64)
        for d in range(n_dims):
            known = orders[d]
            if known is None:
                order[:, d] = np.argsort(z[:, d], kind="stable")
            else:
                order[:, d] = _slot_prior(known[:, None], z[:, d:d + 1])[:, 0]
    widths = neighbour_widths(z[order, cols], prior_sigma, n_kernels, axis=0)
    out = np.empty_like(widths)
    out[order, cols] = widths
    return out


def _slot_prior(known: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(K, D) sort order of ``z``'s rows per column from ``known`` (K-1, D), the sort order of
    the observations: the prior kernel (row K-1) goes before the values equal to it."""
    n_kernels, n_dims = z.shape
    cols = np.arange(n_dims)
    at = (z[known, cols] < z[-1]).sum(axis=0)  # = searchsorted(sorted column, prior centre)
    slot = np.arange(n_kernels)[:, None]
    src = slot - (slot > at)
    np.minimum(src, n_kernels - 2, out=src)
    return np.where(slot == at, n_kernels - 1, known[src, cols])


def kernel_widths(z: np.ndarray, prior_sigma: np.ndarray, bandwidth: str,
                  sigma_cap: float | np.ndarray | None,
                  orders: list[np.ndarray | None] | Callable[[], list] | str | None = None
                  ) -> np.ndarray:
    """(K, D) widths of the kernels centred on ``z`` (the last row is the prior kernel, as
    wide as the prior): the bandwidth rule, capped at ``sigma_cap`` of the prior's width.

    ``orders`` (see :func:`_column_widths`) may be a function returning them: it is only
    called when the widths depend on the neighbours. Once the cap lies below the rule's
    floor (``prior_sigma / min(100, 1 + K)``, reached after a few hundred trials with the
    default schedule), every data kernel is exactly the cap wide and nothing is sorted.
    """
    n_kernels = len(z)
    if sigma_cap is not None:
        capped = sigma_cap * prior_sigma
        if (capped <= width_floor(prior_sigma, n_kernels)).all():
            sigmas = np.empty(z.shape)
            sigmas[:] = capped
            sigmas[-1] = prior_sigma
            return np.maximum(sigmas, 1e-12, out=sigmas)
    if callable(orders):
        orders = orders()
    sigmas = _column_widths(z, prior_sigma, orders or [None] * z.shape[1], bandwidth)
    if sigma_cap is not None:
        sigmas = np.minimum(sigmas, sigma_cap * prior_sigma)
    sigmas[-1] = prior_sigma  # the prior kernel
    return np.maximum(sigmas, 1e-12)


def pair_widths(z: np.ndarray, split: int, prior_sigma: np.ndarray, bandwidth: str,
                sigma_cap: float | np.ndarray | None,
                bad_orders: list[np.ndarray | None] | Callable[[], list] | str | None = None
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`kernel_widths` of the two mixtures of a :class:`JointPair` (``z[:split]`` and
    ``z[split:]``, each ending with the prior's centre), in one array; with their logs when
    they are the cap's and the prior's widths only (else None)."""
    if sigma_cap is not None:
        capped = sigma_cap * prior_sigma
        if (capped <= width_floor(prior_sigma, split)).all() and \
                (capped <= width_floor(prior_sigma, len(z) - split)).all():
            rows = np.maximum(np.stack([capped, prior_sigma]), 1e-12)
            log_rows = np.log(rows)
            sigmas, log_sigmas = np.empty(z.shape), np.empty(z.shape)
            for out, (data_row, prior_row) in ((sigmas, rows), (log_sigmas, log_rows)):
                out[:] = data_row
                out[split - 1] = out[-1] = prior_row
            return sigmas, log_sigmas
    return np.concatenate([kernel_widths(z[:split], prior_sigma, bandwidth, sigma_cap),
                           kernel_widths(z[split:], prior_sigma, bandwidth, sigma_cap,
                                         bad_orders)]), None


def numeric_block(z: np.ndarray, prior_sigma: np.ndarray, low: np.ndarray, high: np.ndarray,
                  bandwidth: str, sigma_cap: float | np.ndarray | None,
                  orders: list[np.ndarray | None] | Callable[[], list] | None = None
                  ) -> NumericBlock:
    """The block of kernels centred on ``z`` (K, D) on the internal axes, the last row
    being the prior's centre; ``prior_sigma``, ``low`` and ``high`` per dimension."""
    return NumericBlock.build(z, kernel_widths(z, prior_sigma, bandwidth, sigma_cap, orders),
                              low, high)


def _numeric_block(columns: list[np.ndarray], dists: list[Numeric], bandwidth: str,
                   sigma_cap: float | None, orders: list[np.ndarray | None]) -> NumericBlock:
    z = np.stack([np.append(d.to_internal(c), d.mu) for c, d in zip(columns, dists)], axis=1)
    return numeric_block(z, np.array([d.sigma for d in dists]),
                         np.array([d.low for d in dists]), np.array([d.high for d in dists]),
                         bandwidth, bounded_cap(sigma_cap, np.array([d.bounded for d in dists])),
                         orders)


def _categorical_dim(values: np.ndarray, dist: Categorical, prior_weight: float) -> CategoricalDim:
    return categorical_dim(np.asarray(values, np.int64) - dist.offset, dist, prior_weight)


def categorical_dim(idx: np.ndarray, dist: Categorical, prior_weight: float,
                    sampled: bool = True) -> CategoricalDim:
    """One kernel per observed option index in ``idx`` plus the prior kernel.
    ``sampled=False`` skips the probability rows (only scoring is possible then)."""
    return categorical_tables([(np.asarray(idx)[:, None], prior_weight)], [dist], sampled)[0]


def categorical_tables(models: list[tuple[np.ndarray, float]], dists: Sequence[Categorical],
                       sampled: bool) -> tuple[CategoricalDim, ...]:
    """One :class:`CategoricalDim` per categorical dimension ``dists[c]``, holding the kernels
    of one or more mixtures side by side: each mixture ``(idx, prior_weight)`` has a kernel
    per row of ``idx`` (option indices, one column per dimension) followed by its prior
    kernel. Probabilities are kept for the first mixture's kernels when ``sampled``.

    A kernel's probability of option ``o`` is ``eps * p[o]``, plus ``1 - eps`` where it was
    observed: the logs are taken of those few values (per mixture, dimension and option),
    then laid out; all dimensions at once.
    """
    n_dims = len(dists)
    if not n_dims:
        return ()
    width = max(d.size for d in dists)
    prior = np.zeros((n_dims, width))
    for c, d in enumerate(dists):
        prior[c, : d.size] = d.p
    # mixing each one-hot kernel with the prior so the marginal matches the 1-D estimator's
    # pseudo-counts: prior mass prior_weight * k / (n + prior_weight * k)
    eps = np.array([[min(1.0, w * (d.size - 1) / (len(idx) + w * d.size)) if len(idx) else 1.0
                     for d in dists] for idx, w in models])[:, :, None]
    off = eps * prior  # (mixtures, dims, options)
    values = np.concatenate([prior[None], off, off + (1.0 - eps)])
    logs = np.log(np.maximum(values, TINY))
    n_models = len(models)
    sizes = [len(idx) + 1 for idx, _ in models]
    ends = list(itertools.accumulate(sizes))
    observed = np.full((n_dims, ends[-1]), -1, dtype=np.int64)  # -1: a prior kernel
    for (idx, _), end, size in zip(models, ends, sizes):
        observed[:, end - size:end - 1] = idx.T
    hit = observed[:, None, :] == np.arange(width)[None, :, None]  # (dims, options, K)
    table = np.empty(hit.shape)  # log probabilities, per option
    for m, (end, size) in enumerate(zip(ends, sizes)):
        kernels = slice(end - size, end - 1)
        table[:, :, kernels] = logs[1 + m][:, :, None]
        np.copyto(table[:, :, kernels], logs[1 + n_models + m][:, :, None],
                  where=hit[:, :, kernels])
        table[:, :, end - 1] = logs[0]
    probs = None
    if sampled:
        n = sizes[0] - 1
        probs = np.empty((n_dims, n + 1, width))
        probs[:, :n] = values[1][:, None, :]
        np.copyto(probs[:, :n], values[1 + n_models][:, None, :],
                  where=hit[:, :, :n].transpose(0, 2, 1))
        probs[:, n] = prior
    return tuple(CategoricalDim(None if probs is None else probs[c, :, : d.size],
                                table[c, : d.size]) for c, d in enumerate(dists))


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


def joint_pair(plan: Any, good: tuple[np.ndarray, np.ndarray, np.ndarray, float],
               bad: tuple[np.ndarray, np.ndarray, np.ndarray, float], bandwidth: str,
               sigma_cap: float | None,
               bad_orders: list[np.ndarray | None] | Callable[[], list] | str | None = None,
               liar_scale: tuple[int, float] | None = None) -> JointPair:
    """The good and the bad joint estimators of a group (each as :func:`joint_estimator`
    builds it) in one :class:`JointPair`.

    ``good`` and ``bad`` are ``(z, idx, obs_weights, prior_weight)``: the observations of
    the real-valued members on their internal axes (n, numeric members), the categorical
    members' option indices (n, categorical members), their weights and the prior kernel's
    weight. ``plan`` gives the members' priors: ``prior_mu``, ``prior_sigma``, ``low``,
    ``high`` (arrays over the real-valued members) and ``cat_dists``.
    ``bad_orders`` sort the bad observations per real-valued member (see
    :func:`kernel_widths`). ``liar_scale=(k, factor)``: the bad kernels from the ``k``-th
    observation on (the pending trials of a constant liar) are ``factor`` times as wide
    (at most the prior's width).
    """
    z_good, idx_good, w_good, prior_good = good
    z_bad, idx_bad, w_bad, prior_bad = bad
    split = len(w_good) + 1
    weights = []
    for w, prior_weight in ((w_good, prior_good), (w_bad, prior_bad)):
        w = np.append(w, prior_weight)
        w /= w.sum()
        weights.append(w)
    block = None
    if len(plan.prior_mu):
        centre = plan.prior_mu[None, :]
        z = np.concatenate([z_good, centre, z_bad, centre])
        cap = bounded_cap(sigma_cap, np.isfinite(plan.low) & np.isfinite(plan.high))
        sigmas, log_sigmas = pair_widths(z, split, plan.prior_sigma, bandwidth, cap, bad_orders)
        if liar_scale is not None:  # the pending trials' kernels, widened
            rows = slice(split + liar_scale[0], len(z) - 1)
            sigmas[rows] = np.minimum(sigmas[rows] * liar_scale[1], plan.prior_sigma)
            log_sigmas = None
        min_sigma = getattr(plan, "min_sigma", None)
        if min_sigma is not None:  # ordinal choices keep reaching their neighbours
            sigmas = np.maximum(sigmas, min_sigma)
            log_sigmas = None
        block = NumericBlock.build(z, sigmas, plan.low, plan.high, log_sigmas)
    categorical = categorical_tables([(idx_good, prior_good), (idx_bad, prior_bad)],
                                     plan.cat_dists, sampled=True)
    return JointPair(split, weights[0], weights[1], block, categorical)
