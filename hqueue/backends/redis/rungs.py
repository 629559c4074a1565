"""Pruner rungs and learning curves of one experiment in Redis (``scripts/prune_report.lua``).

:class:`RedisRungs` implements :class:`hqueue.pruners.RungStorage`: one report is one round trip
that appends the point to the trial's curve key and records the value at every rung the report
reached (a sorted set), returning each rung's :class:`~hqueue.pruners.RungSnapshot` read in the
same atomic step, in O(log n). Any number of workers reporting at once therefore decide as if
they had reported one after the other, and a retried trial reporting a step again does not
count twice at a rung (first write wins).

Example:
    >>> import fakeredis
    >>> rungs = RedisRungs(fakeredis.FakeRedis(), "demo")
    >>> rungs.record(3, step=1, value=0.5, rungs=["sh:1"])[0]
    RungSnapshot(own=0.5, n_others=0, n_better=0, lower=nan, upper=nan)
    >>> _ = rungs.record(4, step=1, value=0.25, rungs=["sh:1"])
    >>> rungs.record(3, step=1, value=9.0, rungs=["sh:1"])[0]  # a retry: first value stays
    RungSnapshot(own=0.5, n_others=1, n_better=1, lower=0.25, upper=0.25)
    >>> rungs.curve(3)
    (array([1]), array([9.]))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ...ctrl import MAX_CURVE_POINTS
from ...pruners.storage import RungSnapshot
from .keys import ExperimentKeys
from .records import load_script

if TYPE_CHECKING:
    from redis import Redis


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _by_step(raw: dict) -> tuple[np.ndarray, np.ndarray]:
    by_step = {int(_text(s)): float(_text(v)) for s, v in raw.items()}
    steps = sorted(by_step)
    return (np.array(steps, dtype=np.int64),
            np.array([by_step[s] for s in steps], dtype=float))


class RedisRungs:
    """Rung records and learning curves of experiment ``exp_key`` (see the module docstring)."""

    def __init__(self, client: Redis, exp_key: str | None,
                 max_curve_points: int = MAX_CURVE_POINTS) -> None:
        self.client = client
        self.keys = ExperimentKeys(exp_key)
        self.max_curve_points = int(max_curve_points)
        self._script = client.register_script(load_script("prune_report"))

    def record(self, trial: int, step: int, value: float, rungs: Sequence[str],
               quantile: float = 50.0) -> list[RungSnapshot]:
        """See :meth:`hqueue.pruners.RungStorage.record` (one round trip)."""
        trial, value = int(trial), float(value)
        keys = [self.keys.curve(trial)] + [self.keys.rung(name) for name in rungs]
        reply = self._script(keys=keys, args=[
            trial, int(step), repr(value), self.max_curve_points,
            "inf" if math.isnan(value) else repr(value), repr(float(quantile))])
        return [RungSnapshot(float(_text(own)), int(n), int(better), float(_text(lower)),
                             float(_text(upper)))
                for own, n, better, lower, upper in reply[1:]]

    def curve(self, tid: int) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of trial ``tid``'s learning curve, by step (kept after it ends)."""
        return _by_step(self.client.hgetall(self.keys.curve(tid)))

    def curves(self, tids: Sequence[int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """:meth:`curve` of each of ``tids`` in one round trip (a pipeline); trials that
        reported nothing get empty arrays.

        Example:
            >>> import fakeredis
            >>> rungs = RedisRungs(fakeredis.FakeRedis(), "demo")
            >>> _ = rungs.record(1, step=2, value=0.5, rungs=[])
            >>> {t: c[0].tolist() for t, c in rungs.curves([0, 1]).items()}
            {0: [], 1: [2]}
        """
        with self.client.pipeline(transaction=False) as pipe:
            for tid in tids:
                pipe.hgetall(self.keys.curve(tid))
            replies = pipe.execute()
        return {int(tid): _by_step(raw) for tid, raw in zip(tids, replies)}

    def rung(self, name: str) -> dict[int, float]:
        """One rung's records, ``{tid: value}``."""
        raw = self.client.zrange(self.keys.rung(name), 0, -1, withscores=True)
        return {int(_text(t)): float(v) for t, v in raw}
