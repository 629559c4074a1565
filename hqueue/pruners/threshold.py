"""Threshold pruning (out of bounds or NaN) and the patience wrapper.

Example:
    >>> import numpy as np
    >>> Threshold(upper=1.0).decide(0, np.array([1, 2]), np.array([0.5, 1.5]), [])
    True
    >>> Threshold().decide(0, np.array([1]), np.array([np.nan]), [])  # NaN always prunes
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..exceptions import BadArgument
from .base import Pruner
from .rules import outside, stalled
from .storage import RungSnapshot


class Threshold(Pruner):
    """Prune when the newest value is NaN, below ``lower`` or above ``upper``.

    Reports before step ``n_warmup_steps`` are not judged.
    """

    def __init__(self, lower: float | None = None, upper: float | None = None,
                 n_warmup_steps: int = 0) -> None:
        if lower is not None and upper is not None and lower > upper:
            raise BadArgument(f"lower ({lower}) must be <= upper ({upper})")
        self.lower, self.upper = lower, upper
        self.n_warmup_steps = int(n_warmup_steps)

    def decide(self, trial: int, steps: np.ndarray, values: np.ndarray,
               snapshots: Sequence[RungSnapshot]) -> bool:
        if steps[-1] < self.n_warmup_steps:
            return False
        return bool(outside(values[-1:], self.lower, self.upper)[0])


class Patience(Pruner):
    """Prune once the trial has not improved for ``patience`` reports.

    With ``wrapped`` (another pruner), prune only when both agree: the trial has stalled *and*
    ``wrapped`` says prune (Optuna's ``PatienceWrapper``). The wrapped pruner's rungs are
    recorded as usual.
    """

    def __init__(self, patience: int, wrapped: Pruner | None = None,
                 min_delta: float = 0.0) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise BadArgument(f"patience must be an int >= 1, got {patience!r}")
        if min_delta < 0:
            raise BadArgument(f"min_delta must be >= 0, got {min_delta!r}")
        self.patience, self.wrapped, self.min_delta = patience, wrapped, float(min_delta)

    @property
    def quantile(self) -> float:
        return 50.0 if self.wrapped is None else self.wrapped.quantile

    def rungs(self, trial: int, steps: np.ndarray) -> list[str]:
        return [] if self.wrapped is None else self.wrapped.rungs(trial, steps)

    def decide(self, trial: int, steps: np.ndarray, values: np.ndarray,
               snapshots: Sequence[RungSnapshot]) -> bool:
        if not stalled(values, self.patience, self.min_delta):
            return False
        return self.wrapped is None or self.wrapped.decide(trial, steps, values, snapshots)
