"""The TPE kernel-width rule, in one place: each kernel as wide as the larger gap to its
sorted neighbours, clipped to ``[prior_sigma / min(100, 1 + n), prior_sigma]`` where ``n``
counts the kernels (the prior's included).

The per-label estimator (:mod:`.parzen`), the stacked one (:mod:`.stacked`) and the joint
one (:mod:`.joint`) all call :func:`neighbour_widths`; they differ only in how their centres
are laid out (one sorted vector, ``+inf``-padded sorted rows, sorted columns).

Example:
    >>> import numpy as np
    >>> neighbour_widths(np.array([0.0, 0.1, 0.5, 1.0]), 1.0, 4).tolist()
    [0.2, 0.4, 0.5, 0.5]
"""

from __future__ import annotations

import numpy as np


def width_floor(prior_sigma: np.ndarray | float, n_kernels: np.ndarray | int
                ) -> np.ndarray | float:
    """The narrowest a data kernel may be: ``prior_sigma / min(100, 1 + n_kernels)``.

    Example:
        >>> float(width_floor(2.0, 3))
        0.5
    """
    return prior_sigma / np.minimum(100.0, 1.0 + n_kernels)


def bounded_cap(sigma_cap: float | None, bounded: np.ndarray) -> float | np.ndarray | None:
    """The ``shrink`` cap per dimension: ``sigma_cap`` on bounded priors, none (``inf``) on
    unbounded ones (normal, lognormal and their quantized forms). A bounded prior's width is
    the search range, so a cap in its units anneals the search; an unbounded prior's
    ``sigma`` is only a scale, and the optimum may lie many of them away (hyperopt's
    ``many_dists`` needs two normals about 2 sigmas out), which capped kernels reach only in
    tiny steps. The float itself when every dimension is bounded (the common case).

    Example:
        >>> bounded_cap(0.1, np.array([True, True]))
        0.1
        >>> bounded_cap(0.1, np.array([True, False])).tolist()
        [0.1, inf]
    """
    if sigma_cap is None or bounded.all():
        return sigma_cap
    return np.where(bounded, sigma_cap, np.inf)


def neighbour_widths(sorted_mus: np.ndarray, prior_sigma: np.ndarray | float,
                     n_kernels: np.ndarray | int, axis: int = -1) -> np.ndarray:
    """Kernel widths for centres sorted along ``axis``: the larger gap to a neighbour
    (non-finite gaps, e.g. to ``+inf`` padding, do not count; a kernel without any finite gap
    gets ``prior_sigma``), clipped to ``[width_floor, prior_sigma]``. ``prior_sigma`` and
    ``n_kernels`` broadcast against ``sorted_mus``.

    Example (two padded rows):
        >>> rows = np.array([[0.0, 0.2, np.inf], [0.0, 0.3, 0.4]])
        >>> neighbour_widths(rows, 1.0, np.array([[2], [3]]), axis=1).round(3).tolist()
        [[0.333, 0.333, 1.0], [0.3, 0.3, 0.25]]
    """
    with np.errstate(invalid="ignore"):
        gaps = np.diff(sorted_mus, axis=axis)
    gaps[~np.isfinite(gaps)] = np.nan
    pad_shape = list(gaps.shape)
    pad_shape[axis] = 1
    pad = np.full(pad_shape, np.nan)
    left = np.concatenate([pad, gaps], axis=axis)
    right = np.concatenate([gaps, pad], axis=axis)
    with np.errstate(invalid="ignore"):
        sigma = np.fmax(left, right)
    sigma = np.where(np.isnan(sigma), prior_sigma, sigma)
    return np.clip(sigma, width_floor(prior_sigma, n_kernels), prior_sigma)
