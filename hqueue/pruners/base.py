"""The :class:`Pruner` interface, and :class:`NoPruner`.

A pruner is stateless: everything it decides on is the trial's own curve (the reports accepted
so far, steps strictly increasing, the newest last) and the rung snapshots returned by the
shared :class:`~hqueue.pruners.storage.RungStorage`. So one pruner object serves any number of
trials, threads or processes. Each report goes through two calls:

1. ``rungs(trial, steps)``: the names of the rungs the newest report is recorded at;
2. ``decide(trial, steps, values, snapshots)``: prune now? (``snapshots`` matches ``rungs``).

Example:
    >>> import numpy as np
    >>> NoPruner().decide(0, np.array([1]), np.array([9.0]), [])
    False
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .storage import RungSnapshot


class Pruner:
    """Base class: records nothing, never prunes. Subclasses override one or both hooks."""

    #: the percentile of the other trials' values the rung snapshots bracket
    quantile: float = 50.0

    def rungs(self, trial: int, steps: np.ndarray) -> list[str]:
        """Names of the rungs the newest report (``steps[-1]``) is recorded at."""
        return []

    def decide(self, trial: int, steps: np.ndarray, values: np.ndarray,
               snapshots: Sequence[RungSnapshot]) -> bool:
        """True when the trial should stop after its newest report."""
        return False

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class NoPruner(Pruner):
    """Never prunes (curves are still recorded)."""
