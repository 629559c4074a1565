"""Pruner rungs and learning curves of one experiment in Redis (``scripts/prune_report.lua``).

:class:`RedisRungs` implements :class:`hqueue.pruners.RungStorage`: one report is one round trip
that appends the point to the trial's curve key and records the value at every rung the report
reached (a sorted set), returning each rung's :class:`~hqueue.pruners.RungSnapshot` read in the
same atomic step, in O(log n). Any number of workers reporting at once therefore decide as if
they had reported one after the other, and a retried trial reporting a step again does not
count twice at a rung (first write wins). On a worker, :meth:`RedisRungs.report` also stores the
trial's partial result (the checkpoint ``ctrl.report`` makes) in that same script, so one
``ctrl.report`` is one round trip.

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

import functools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ...ctrl import MAX_CURVE_POINTS
from ...pruners.storage import RungSnapshot
from ...trial_doc import utcnow
from .codec import encode_value
from .damaged import guarded
from .keys import ExperimentKeys
from .records import load_script

if TYPE_CHECKING:
    from redis import Redis


@functools.cache
def _script_text() -> str:
    """``prune_report.lua`` read once per process (a worker makes a RedisRungs per trial)."""
    return load_script("prune_report")


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
        self._script = guarded(client.register_script(_script_text()))

    def record(self, trial: int, step: int, value: float, rungs: Sequence[str],
               quantile: float = 50.0) -> list[RungSnapshot]:
        """See :meth:`hqueue.pruners.RungStorage.record` (one round trip)."""
        return self._call(trial, step, value, rungs, quantile, "", None)[1]

    def report(self, trial: int, owner: str, result: Mapping[str, Any] | None, step: int,
               value: float, rungs: Sequence[str],
               quantile: float = 50.0) -> tuple[bool, list[RungSnapshot]]:
        """:meth:`record` and the checkpoint of ``result`` (the running trial's partial result,
        only while ``owner`` holds it; None: no checkpoint) in one atomic round trip.

        Returns ``(stored, snapshots)``; ``stored`` is False when ``owner`` no longer holds
        the trial, and then nothing was written (no snapshots).

        Example:
            >>> import fakeredis
            >>> from hqueue.backends.redis.store import TrialStore
            >>> from hqueue.fmin import generate_trial
            >>> store = TrialStore(fakeredis.FakeRedis(), "demo")
            >>> _ = store.create([generate_trial(0, {"x": 1.0})])
            >>> _ = store.claim(0, owner="w1", lease_s=30)
            >>> rungs = RedisRungs(store.client, "demo")
            >>> rungs.report(0, "w1", {"status": "running"}, 1, 0.5, ["sh:1"])
            (True, [RungSnapshot(own=0.5, n_others=0, n_better=0, lower=nan, upper=nan)])
            >>> rungs.report(0, "w2", {"status": "running"}, 2, 0.4, ["sh:2"])
            (False, [])
        """
        if result is None:
            return True, self.record(trial, step, value, rungs, quantile)
        return self._call(trial, step, value, rungs, quantile, str(owner), result)

    def _call(self, trial: int, step: int, value: float, rungs: Sequence[str],
              quantile: float, owner: str,
              result: Mapping[str, Any] | None) -> tuple[bool, list[RungSnapshot]]:
        trial, value = int(trial), float(value)
        keys = self.keys
        checkpoint = [encode_value(dict(result)), encode_value(utcnow())] if owner else ["", ""]
        reply = self._script(
            keys=[keys.trial(trial), keys.changes, keys.seq, keys.curve(trial)]
            + [keys.rung(name) for name in rungs],
            args=[trial, int(step), repr(value), self.max_curve_points,
                  "inf" if math.isnan(value) else repr(value), repr(float(quantile)),
                  owner, *checkpoint])
        return bool(reply[0]), [
            RungSnapshot(float(_text(own)), int(n), int(better), float(_text(lower)),
                         float(_text(upper)))
            for own, n, better, lower, upper in reply[2:]]

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
