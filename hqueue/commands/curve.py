"""Learning curves on a terminal: what ``hqueue show`` draws under a trial (the curve itself
is read by :func:`hqueue.backends.redis.curves.trial_curves`).

Example:
    >>> import numpy as np
    >>> print(sparkline(np.array([1.0, 0.5, 0.25, 0.2, float("nan")])))
    █▄▁▁×
    >>> curve_lines(np.array([1, 2, 3]), np.array([0.9, 0.4, 0.5]))[1:]
    ['  █▁▂', '  3 points, steps 1-3: first 0.9, best 0.4 (step 2), last 0.5']
"""

from __future__ import annotations

import numpy as np

from ._common import fmt

BARS = "▁▂▃▄▅▆▇█"
WIDTH = 60  # characters of a sparkline; longer curves are binned (each bin's last value)


def sparkline(values: np.ndarray, width: int = WIDTH) -> str:
    """One character per value (or per bin of values when there are more than ``width``),
    from ``▁`` (lowest) to ``█`` (highest); NaN and infinite values are ``×``.

    Example:
        >>> sparkline(np.arange(100.0), width=4)
        '▁▃▆█'
    """
    values = np.asarray(values, dtype=float)
    if len(values) > width:  # the last value of each of ``width`` bins
        ends = np.ceil(np.arange(1, width + 1) * len(values) / width).astype(int) - 1
        values = values[ends]
    finite = np.isfinite(values)
    if not finite.any():
        return "×" * len(values)
    lo, hi = values[finite].min(), values[finite].max()
    scaled = np.zeros(len(values), dtype=int) if hi == lo else np.round(
        (np.where(finite, values, lo) - lo) / (hi - lo) * (len(BARS) - 1)).astype(int)
    return "".join(BARS[k] if ok else "×" for k, ok in zip(scaled, finite))


def curve_lines(steps: np.ndarray, values: np.ndarray) -> list[str]:
    """The ``learning curve`` section of ``hqueue show`` (empty when nothing was reported)."""
    if len(steps) == 0:
        return []
    values = np.asarray(values, dtype=float)
    best = int(np.nanargmin(values)) if np.isfinite(values).any() else len(values) - 1
    return ["learning curve (ctrl.report)", f"  {sparkline(values)}",
            f"  {len(steps)} points, steps {steps[0]}-{steps[-1]}: first {fmt(values[0])}, "
            f"best {fmt(values[best])} (step {steps[best]}), last {fmt(values[-1])}"]
