"""Where a pruner's rung records live: a small protocol, and the in-memory implementation.

A *rung* is a named set of ``{trial: value}`` records. Recording is first-wins per trial, so a
retried trial reporting the same step again never counts twice. Each call returns, read
atomically with the write, a :class:`RungSnapshot`: a few order statistics of the rung, all
that the pruners' rules need, so a report costs the same with 10 or 100,000 trials at a rung.
NaN is recorded as +inf (the worst value). The Redis implementation
(:class:`hqueue.backends.redis.rungs.RedisRungs`) does the same in one Lua script.

Example:
    >>> rungs = MemoryRungs()
    >>> rungs.record(7, step=3, value=0.5, rungs=["sh:0"])[0]
    RungSnapshot(own=0.5, n_others=0, n_better=0, lower=nan, upper=nan)
    >>> rungs.record(8, step=3, value=0.4, rungs=["sh:0"])[0]
    RungSnapshot(own=0.4, n_others=1, n_better=0, lower=0.5, upper=0.5)
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np

from .rules import percentile_position


class RungSnapshot(NamedTuple):
    """A rung as one report saw it.

    ``own``: this trial's recorded value; ``n_others``: how many other trials recorded one;
    ``n_better``: how many of those are strictly lower than ``own``; ``lower``/``upper``: the
    others' order statistics that their ``quantile``-th percentile interpolates between
    (see :func:`~hqueue.pruners.rules.percentile_position`; NaN with no others).
    """

    own: float
    n_others: int
    n_better: int
    lower: float
    upper: float


def summarize(own: float, others: np.ndarray, quantile: float = 50.0) -> RungSnapshot:
    """The snapshot of a rung holding ``own`` and ``others`` (NaN counted as +inf).

    Example:
        >>> summarize(0.3, np.array([0.4, 0.1, 0.2, 0.5]), 25.0)
        RungSnapshot(own=0.3, n_others=4, n_better=2, lower=0.1, upper=0.2)
    """
    own = math.inf if math.isnan(own) else float(own)
    ranked = np.sort(np.where(np.isnan(others), np.inf, np.asarray(others, dtype=float)))
    if not len(ranked):
        return RungSnapshot(own, 0, 0, math.nan, math.nan)
    lo, hi, _ = percentile_position(len(ranked), quantile)
    n_better = int(np.searchsorted(ranked, own, side="left"))
    return RungSnapshot(own, len(ranked), n_better, float(ranked[lo]), float(ranked[hi]))


class RungStorage(Protocol):
    """Shared rung records of one experiment."""

    def record(self, trial: int, step: int, value: float, rungs: Sequence[str],
               quantile: float = 50.0) -> list[RungSnapshot]:
        """Record ``value`` for ``trial`` at each rung (first write wins) and return each rung's
        snapshot, with ``lower``/``upper`` around the others' ``quantile``-th percentile.

        Implementations may also keep ``(step, value)`` as the trial's learning curve in the
        same round trip (the Redis one does).
        """
        ...


class MemoryRungs:
    """Rung records in a dict, for in-process searches (thread-safe, picklable)."""

    def __init__(self) -> None:
        self._rungs: dict[str, dict[int, float]] = {}
        self._lock = threading.Lock()

    def record(self, trial: int, step: int, value: float, rungs: Sequence[str],
               quantile: float = 50.0) -> list[RungSnapshot]:
        """See :meth:`RungStorage.record`."""
        value = math.inf if math.isnan(value) else float(value)
        out = []
        with self._lock:
            for name in rungs:
                rung = self._rungs.setdefault(name, {})
                own = rung.setdefault(int(trial), value)
                others = np.fromiter((v for t, v in rung.items() if t != trial), dtype=float)
                out.append(summarize(own, others, quantile))
        return out

    def names(self) -> set[str]:
        """The rungs recorded so far."""
        with self._lock:
            return set(self._rungs)

    def values(self, rung: str) -> dict[int, float]:
        """A copy of one rung's records (``{trial: value}``)."""
        with self._lock:
            return dict(self._rungs.get(rung, {}))

    def __getstate__(self) -> dict:
        return {"_rungs": self._rungs}

    def __setstate__(self, state: dict) -> None:
        self._rungs = state["_rungs"]
        self._lock = threading.Lock()


def rungs_of(trials: Any) -> MemoryRungs | None:
    """The rung records of an in-memory ``Trials`` (kept on it, so they pickle and resume with
    it); None for anything else (no trials, or trials living elsewhere such as Redis).

    Example:
        >>> from hqueue import Trials
        >>> t = Trials(); rungs_of(t) is rungs_of(t)
        True
    """
    if trials is None or getattr(trials, "asynchronous", True):
        return None
    rungs = trials.__dict__.get("_pruner_rungs")
    if rungs is None:
        rungs = trials.__dict__["_pruner_rungs"] = MemoryRungs()
    return rungs
