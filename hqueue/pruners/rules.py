"""Pruning decision rules as small vectorized functions over a rung's recorded values.

Every rule minimizes (lower values are better) and treats NaN as a diverged run: a NaN value is
never promoted and never makes another trial look worse than it is.

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


def promotable(own: float, values: np.ndarray, reduction_factor: int) -> bool:
    """Successive halving at one rung: is ``own`` among the best ``max(1, n // eta)`` values?

    ``values`` are all values recorded at the rung, ``own`` included (``n = len(values)``);
    ties promote. The first trial at a rung is promoted (best of one); a NaN ``own`` never is;
    NaN values of others rank last.

    Example:
        >>> promotable(0.3, np.array([0.3, 0.2, 0.4, 0.5, 0.6, 0.7]), 3)  # top 2 of 6
        True
        >>> promotable(0.4, np.array([0.3, 0.2, 0.4, 0.5, 0.6, 0.7]), 3)
        False
    """
    if math.isnan(own):
        return False
    ranked = np.sort(np.where(np.isnan(values), np.inf, values))
    k = max(1, len(ranked) // int(reduction_factor))
    return bool(own <= ranked[k - 1])


def above_percentile(own: float, others: np.ndarray, percentile: float) -> bool:
    """Percentile rule: is ``own`` worse than the ``percentile``-th value of the others?

    NaN values among ``others`` are left out; with no finite reference nothing is pruned
    unless ``own`` itself is NaN.

    Example:
        >>> above_percentile(0.35, np.array([0.1, 0.2, 0.3, 0.4]), 50.0)  # median 0.25
        True
        >>> above_percentile(float("nan"), np.array([]), 50.0)
        True
    """
    if math.isnan(own):
        return True
    finite = others[~np.isnan(others)]
    if finite.size == 0:
        return False
    return bool(own > np.percentile(finite, percentile))


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
