"""Where a pruner's rung records live: a small protocol, and the in-memory implementation.

A *rung* is a named set of ``{trial: value}`` records. Recording is first-wins per trial, so a
retried trial reporting the same step again never counts twice; each call returns, atomically
with the write, what the rung holds (a :class:`RungSnapshot`), which is all a pruner decides on.
The Redis implementation (:class:`hqueue.backends.redis.rungs.RedisRungs`) does the same in one
Lua script.

Example:
    >>> rungs = MemoryRungs()
    >>> rungs.record(7, step=3, value=0.5, rungs=["sh:0"])[0]
    RungSnapshot(own=0.5, others=array([], dtype=float64))
    >>> snap = rungs.record(8, step=3, value=0.4, rungs=["sh:0"])[0]
    >>> snap.own, snap.others.tolist()
    (0.4, [0.5])
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np


class RungSnapshot(NamedTuple):
    """A rung as one report saw it: this trial's recorded value and the other trials' values."""

    own: float
    others: np.ndarray


class RungStorage(Protocol):
    """Shared rung records of one experiment."""

    def record(self, trial: int, step: int, value: float,
               rungs: Sequence[str]) -> list[RungSnapshot]:
        """Record ``value`` for ``trial`` at each rung (first write wins) and return each rung.

        Implementations may also keep ``(step, value)`` as the trial's learning curve in the
        same round trip (the Redis one does).
        """
        ...


class MemoryRungs:
    """Rung records in a dict, for in-process searches (thread-safe, picklable)."""

    def __init__(self) -> None:
        self._rungs: dict[str, dict[int, float]] = {}
        self._lock = threading.Lock()

    def record(self, trial: int, step: int, value: float,
               rungs: Sequence[str]) -> list[RungSnapshot]:
        """See :meth:`RungStorage.record`."""
        out = []
        with self._lock:
            for name in rungs:
                rung = self._rungs.setdefault(name, {})
                own = rung.setdefault(int(trial), float(value))
                others = np.fromiter((v for t, v in rung.items() if t != trial), dtype=float)
                out.append(RungSnapshot(own, others))
        return out

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
