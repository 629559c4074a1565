"""Which worker processes are alive: each one announces itself in the ``hq:workers`` hash.

A worker process (the one that runs trials: a prefork pool process, or the worker itself with
the solo/threads pools) writes a :class:`WorkerPresence` every :data:`ANNOUNCE_EVERY_S`
seconds and deletes it on a clean exit. Readers (``hqueue status``, the dashboard) treat an
entry not renewed for :data:`STALE_AFTER_S` as a dead worker and forget it after
:data:`FORGET_AFTER_S`. Presence is for people watching; trial recovery never depends on it
(leases do that, see :mod:`hqueue.backends.redis.store`).

Example:
    >>> import fakeredis
    >>> registry = WorkerRegistry(fakeredis.FakeRedis())
    >>> registry.announce(WorkerPresence("box:41:ab12cd34", "box", 41, ("hqueue",),
    ...                                  started=100.0, seen=130.0, trials=(("exp1", 7),)))
    >>> [w.worker_id for w in registry.list(now=131.0)]
    ['box:41:ab12cd34']
    >>> registry.list(now=131.0)[0].alive(now=131.0), registry.list(now=131.0)[0].trials
    (True, (('exp1', 7),))
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .codec import decode_value, encode_value
from .damaged import as_damaged_key
from .keys import WORKERS

if TYPE_CHECKING:
    from redis import Redis

logger = logging.getLogger(__name__)

ANNOUNCE_EVERY_S = 5.0
STALE_AFTER_S = 20.0
FORGET_AFTER_S = 3600.0


@dataclass(frozen=True)
class WorkerPresence:
    """One worker process as it last described itself.

    ``trials`` holds the ``(exp_key, tid)`` pairs it was running at ``seen`` (epoch seconds);
    ``gpus`` is its ``CUDA_VISIBLE_DEVICES`` (None when unset).
    """

    worker_id: str
    host: str
    pid: int
    queues: tuple[str, ...]
    started: float
    seen: float
    trials: tuple[tuple[str, int], ...] = ()
    gpus: str | None = None
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def age_s(self, now: float | None = None) -> float:
        """Seconds since the worker last announced itself."""
        return max(0.0, (time.time() if now is None else now) - self.seen)

    def alive(self, now: float | None = None, stale_after_s: float = STALE_AFTER_S) -> bool:
        """Whether it announced itself within ``stale_after_s``."""
        return self.age_s(now) <= stale_after_s

    def to_record(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "queues": list(self.queues),
                "started": self.started, "seen": self.seen,
                "trials": [[e, int(t)] for e, t in self.trials], "gpus": self.gpus,
                "version": self.version, "extra": dict(self.extra)}

    @classmethod
    def from_record(cls, worker_id: str, record: dict[str, Any]) -> WorkerPresence:
        return cls(worker_id=worker_id, host=str(record.get("host", "")),
                   pid=int(record.get("pid", 0)),
                   queues=tuple(str(q) for q in record.get("queues", ())),
                   started=float(record.get("started", 0.0)),
                   seen=float(record.get("seen", 0.0)),
                   trials=tuple((str(e), int(t)) for e, t in record.get("trials", ())),
                   gpus=record.get("gpus"), version=str(record.get("version", "")),
                   extra=dict(record.get("extra") or {}))


class WorkerRegistry:
    """Reads and writes the ``hq:workers`` hash (worker id -> msgpack record)."""

    def __init__(self, client: Redis) -> None:
        self.client = client

    def announce(self, presence: WorkerPresence) -> None:
        """Write (or renew) one worker's entry."""
        self.client.hset(WORKERS, presence.worker_id, encode_value(presence.to_record()))

    def remove(self, worker_id: str) -> None:
        """Delete one worker's entry (clean exit)."""
        self.client.hdel(WORKERS, worker_id)

    def list(self, now: float | None = None, forget_after_s: float = FORGET_AFTER_S
             ) -> list[WorkerPresence]:
        """Every known worker, most recently seen first; entries older than
        ``forget_after_s`` are deleted, and unreadable ones skipped."""
        now = time.time() if now is None else now
        found, forgotten = [], []
        try:
            entries = self.client.hgetall(WORKERS)
        except Exception as exc:
            damaged = as_damaged_key(exc, WORKERS)
            if damaged is None:
                raise
            logger.warning("%s; no worker is listed until it is repaired", damaged)
            return []
        for raw_id, raw in entries.items():
            worker_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            try:
                presence = WorkerPresence.from_record(worker_id, decode_value(raw))
            except Exception:  # a damaged entry must not break `hqueue status`
                continue
            if presence.age_s(now) > forget_after_s:
                forgotten.append(worker_id)
            else:
                found.append(presence)
        if forgotten:
            self.client.hdel(WORKERS, *forgotten)
        return sorted(found, key=lambda p: (-p.seen, p.worker_id))

    def running(self, exp_key: str, now: float | None = None) -> dict[int, WorkerPresence]:
        """Live workers of one experiment by the tid they run."""
        return {tid: w for w in self.list(now) if w.alive(now)
                for e, tid in w.trials if e == exp_key}


def alive_count(workers: Sequence[WorkerPresence], now: float | None = None) -> int:
    """How many of ``workers`` are alive."""
    return sum(w.alive(now) for w in workers)
