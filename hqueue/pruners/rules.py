"""Pruning decision rules as small vectorized functions over a rung's recorded values.

Every rule minimizes (lower values are better) and treats NaN as a diverged run: a NaN (or
infinite) value is never promoted, and other trials' NaN values rank last, as +inf.

Example:
    >>> import numpy as np
    >>> promotable(0.2, np.array([0.5, 0.1, 0.9]), reduction_factor=3)
    False
    >>> promotable(0.1, np.array([0.5, 0.2, 0.9]), reduction_factor=3)
    True
    >>> above_percentile(0.6, np.array([0.1, 0.5, 0.9]), 50.0)
    True
"""

from __future__ import annotations

import math

import numpy as np


def rung_steps(min_resource: int, reduction_factor: int, min_early_stopping_rate: int = 0,
               max_resource: int | None = None, limit: int = 64) -> np.ndarray:
    """The steps of the successive-halving rungs, ``min_resource * eta**(rate + k)``.

    Rungs stop below ``max_resource`` (a trial that reached it is finished, never pruned).

    Example:
        >>> rung_steps(1, 3, max_resource=27).tolist()
        [1, 3, 9]
        >>> rung_steps(2, 2, 1, max_resource=20).tolist()
        [4, 8, 16]
    """
    exponents = np.arange(min_early_stopping_rate, min_early_stopping_rate + limit)
    steps = min_resource * np.power(float(reduction_factor), exponents)
    if max_resource is not None:
        steps = steps[steps < max_resource]
    return steps[steps < 2**62].astype(np.int64)


def rungs_crossed(rungs: np.ndarray, previous_step: float, step: float) -> np.ndarray:
    """Indices of the rungs in ``(previous_step, step]`` (the rungs a new report reaches).

    Example:
        >>> rungs_crossed(np.array([1, 3, 9]), 2, 10).tolist()
        [1, 2]
    """
    return np.flatnonzero((rungs > previous_step) & (rungs <= step))


def _ranked(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.sort(np.where(np.isnan(values), np.inf, values))


def promotable(own: float, values: np.ndarray, reduction_factor: int) -> bool:
    """Successive halving at one rung: is ``own`` among the best ``max(1, n // eta)`` values?

    ``values`` are all values recorded at the rung, ``own`` included (``n = len(values)``);
    ties promote. The first trial at a rung is promoted (best of one); a NaN or infinite
    ``own`` never is; NaN values of others rank last (as +inf).

    Example:
        >>> promotable(0.3, np.array([0.3, 0.2, 0.4, 0.5, 0.6, 0.7]), 3)  # top 2 of 6
        True
        >>> promotable(0.4, np.array([0.3, 0.2, 0.4, 0.5, 0.6, 0.7]), 3)
        False
    """
    if not math.isfinite(own):
        return False
    k = max(1, len(values) // int(reduction_factor))
    return bool(own <= _ranked(values)[k - 1])


def kept_at_rung(own: float, n_better: int, n_others: int, reduction_factor: int) -> bool:
    """:func:`promotable` from counts: ``n_better`` of the ``n_others`` other values are
    strictly below ``own`` (what a rung storage returns instead of every value).

    Example:
        >>> kept_at_rung(0.3, n_better=1, n_others=5, reduction_factor=3)  # 2nd of 6
        True
        >>> kept_at_rung(0.4, n_better=2, n_others=5, reduction_factor=3)
        False
    """
    if not math.isfinite(own):
        return False
    return n_better < max(1, (n_others + 1) // int(reduction_factor))


def percentile_position(n: int, percentile: float) -> tuple[int, int, float]:
    """Indices of the two order statistics (0-based, ascending) that the ``percentile``-th
    value of ``n`` values interpolates between, and the weight of the upper one (numpy's
    default 'linear' method).

    Example:
        >>> percentile_position(4, 25.0)
        (0, 1, 0.75)
    """
    p = percentile / 100.0 * (n - 1)
    lo = int(math.floor(p))
    return lo, int(math.ceil(p)), p - lo


def interpolate(lower: float, upper: float, weight: float) -> float:
    """``lower + weight * (upper - lower)``, exact when both are equal (also when infinite).

    Example:
        >>> interpolate(0.0, 2.0, 0.25), interpolate(float("inf"), float("inf"), 0.5)
        (0.5, inf)
    """
    if lower == upper or weight == 0.0:
        return float(lower)
    return float(lower + weight * (upper - lower))


def above_percentile(own: float, others: np.ndarray, percentile: float) -> bool:
    """Percentile rule: is ``own`` worse than the ``percentile``-th value of the others?

    NaN values among ``others`` count as +inf (worst); with no others nothing is pruned; a NaN
    or infinite ``own`` always is.

    Example:
        >>> above_percentile(0.35, np.array([0.1, 0.2, 0.3, 0.4]), 50.0)  # median 0.25
        True
        >>> above_percentile(float("nan"), np.array([]), 50.0)
        True
    """
    if not math.isfinite(own):
        return True
    if len(others) == 0:
        return False
    ranked = _ranked(others)
    lo, hi, weight = percentile_position(len(ranked), percentile)
    return bool(own > interpolate(ranked[lo], ranked[hi], weight))


def outside(values: np.ndarray, lower: float | None, upper: float | None) -> np.ndarray:
    """Threshold rule, elementwise: NaN, below ``lower`` or above ``upper``.

    Example:
        >>> outside(np.array([0.5, 2.0, np.nan, -1.0]), 0.0, 1.0).tolist()
        [False, True, True, True]
    """
    values = np.asarray(values, dtype=float)
    bad = np.isnan(values)
    if lower is not None:
        bad |= values < lower
    if upper is not None:
        bad |= values > upper
    return bad


def stalled(values: np.ndarray, patience: int, min_delta: float = 0.0) -> bool:
    """Patience rule: none of the last ``patience`` reports improved on the best before them
    by more than ``min_delta`` (NaN ignored; with ``patience`` reports or fewer, not stalled).

    Example:
        >>> stalled(np.array([1.0, 0.5, 0.6, 0.7]), patience=2)
        True
        >>> stalled(np.array([1.0, 0.5, 0.6, 0.4]), patience=2)
        False
    """
    values = np.asarray(values, dtype=float)
    patience = max(int(patience), 1)
    if len(values) <= patience:
        return False
    before, window = values[:-patience], values[-patience:]
    if np.all(np.isnan(before)):
        return False
    if np.all(np.isnan(window)):
        return True
    return bool(np.nanmin(window) >= np.nanmin(before) - min_delta)
