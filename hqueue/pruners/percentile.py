"""Median and percentile pruning: stop a trial whose best value so far is worse than the
``percentile``-th value other trials recorded at the same step.

Unlike Optuna's, the reference includes trials that are still running (every trial records its
value at each step it reports), so 8 workers starting together prune each other from the first
steps on. Until ``n_startup_trials`` other trials have recorded a value at a step, nothing is
pruned at that step; steps before ``n_warmup_steps`` and off the ``interval_steps`` grid are
neither recorded nor judged.

Example:
    >>> from hqueue.pruners import MemoryRungs, PruningSession
    >>> median, rungs = Median(n_startup_trials=2), MemoryRungs()
    >>> for trial, value in enumerate([0.3, 0.5, 0.8]):
    ...     s = PruningSession(median, rungs, trial); s.report(value, step=1)
    >>> s.should_prune()  # 0.8 > median(0.3, 0.5)
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..exceptions import BadArgument
from .base import Pruner
from .rules import interpolate, percentile_position
from .storage import RungSnapshot


class Percentile(Pruner):
    """Prune below the ``percentile``-th best of the other trials at the same step."""

    def __init__(self, percentile: float = 25.0, n_startup_trials: int = 5,
                 n_warmup_steps: int = 0, interval_steps: int = 1) -> None:
        if not 0.0 <= float(percentile) <= 100.0:
            raise BadArgument(f"percentile must be in [0, 100], got {percentile!r}")
        if n_startup_trials < 0 or n_warmup_steps < 0 or interval_steps < 1:
            raise BadArgument("n_startup_trials and n_warmup_steps must be >= 0 and "
                              "interval_steps >= 1")
        self.percentile = float(percentile)
        self.n_startup_trials = int(n_startup_trials)
        self.n_warmup_steps = int(n_warmup_steps)
        self.interval_steps = int(interval_steps)

    @property
    def quantile(self) -> float:
        """The percentile the rung snapshots are asked for."""
        return self.percentile

    def rungs(self, trial: int, steps: np.ndarray) -> list[str]:
        step = int(steps[-1])
        if step < self.n_warmup_steps or (step - self.n_warmup_steps) % self.interval_steps:
            return []
        return [f"step:{step}"]

    def decide(self, trial: int, steps: np.ndarray, values: np.ndarray,
               snapshots: Sequence[RungSnapshot]) -> bool:
        if not snapshots or snapshots[0].n_others < max(1, self.n_startup_trials):
            return False
        s = snapshots[0]
        best = float(np.nanmin(values)) if not np.all(np.isnan(values)) else math.inf
        _, _, weight = percentile_position(s.n_others, self.percentile)
        return not math.isfinite(best) or best > interpolate(s.lower, s.upper, weight)


class Median(Percentile):
    """:class:`Percentile` at 50."""

    def __init__(self, n_startup_trials: int = 5, n_warmup_steps: int = 0,
                 interval_steps: int = 1) -> None:
        super().__init__(50.0, n_startup_trials, n_warmup_steps, interval_steps)
