"""Which worker processes are alive: each one announces itself in the ``hq:workers`` hash.

A worker process (the one that runs trials: a prefork pool process, or the worker itself with
the solo/threads pools) writes a :class:`WorkerPresence` every :data:`ANNOUNCE_EVERY_S`
seconds and deletes it on a clean exit. Each entry names the process the user started
(``launcher``: the ``hqueue worker`` process, else the Celery worker's main process) besides
the process that runs trials (``pid``). Readers (``hqueue status``, the dashboard) show an
entry as dead, without the trials it claimed, once it was not renewed for
:data:`STALE_AFTER_S`, or at once when the reader is on the worker's host (same host name and
PID namespace) and one of its processes is gone; dead entries are deleted after
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
    >>> registry.list(now=131.0)[0].alive(now=160.0)  # silent for 30 s: dead
    False
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
from .records import holder_is_dead

if TYPE_CHECKING:
    from redis import Redis

logger = logging.getLogger(__name__)

ANNOUNCE_EVERY_S = 2.0
STALE_AFTER_S = 10.0  # five announcements missed: dead, wherever the reader runs
FORGET_AFTER_S = 300.0  # a dead entry is listed (as dead) this long, then deleted


@dataclass(frozen=True)
class WorkerPresence:
    """One worker process as it last described itself.

    ``trials`` holds the ``(exp_key, tid)`` pairs it was running at ``seen`` (epoch seconds);
    ``gpus`` is its ``CUDA_VISIBLE_DEVICES`` (None when unset). ``launcher`` is the pid of the
    process the user started (``hqueue worker``, or ``celery worker`` run directly; 0 when
    not known), ``main`` the Celery worker process's, ``pid_ns`` the PID namespace of the
    three ("" when not known).
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
    launcher: int = 0
    main: int = 0
    pid_ns: str = ""

    @property
    def user_pid(self) -> int:
        """The pid the user started (the launcher), or the trial process's when unknown."""
        return self.launcher or self.main or self.pid

    def processes_gone(self) -> bool:
        """Whether this worker's host is this one (same PID namespace) and one of its
        processes (trial process, Celery worker, launcher) no longer exists."""
        if not self.pid_ns:
            return False
        pids = {p for p in (self.pid, self.main, self.launcher) if p > 0}
        return any(holder_is_dead(f"{self.host}:{self.pid_ns}:{p}:-") for p in pids)

    def age_s(self, now: float | None = None) -> float:
        """Seconds since the worker last announced itself."""
        return max(0.0, (time.time() if now is None else now) - self.seen)

    def alive(self, now: float | None = None, stale_after_s: float = STALE_AFTER_S) -> bool:
        """Whether it announced itself within ``stale_after_s`` and, seen from its own host,
        its processes still exist."""
        return self.age_s(now) <= stale_after_s and not self.processes_gone()

    def live_trials(self, now: float | None = None) -> tuple[tuple[str, int], ...]:
        """The trials it runs: none once it is dead (they are no longer run by it)."""
        return self.trials if self.alive(now) else ()

    def to_record(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "queues": list(self.queues),
                "started": self.started, "seen": self.seen,
                "trials": [[e, int(t)] for e, t in self.trials], "gpus": self.gpus,
                "version": self.version, "extra": dict(self.extra), "launcher": self.launcher,
                "main": self.main, "pid_ns": self.pid_ns}

    @classmethod
    def from_record(cls, worker_id: str, record: dict[str, Any]) -> WorkerPresence:
        return cls(worker_id=worker_id, host=str(record.get("host", "")),
                   pid=int(record.get("pid", 0)),
                   queues=tuple(str(q) for q in record.get("queues", ())),
                   started=float(record.get("started", 0.0)),
                   seen=float(record.get("seen", 0.0)),
                   trials=tuple((str(e), int(t)) for e, t in record.get("trials", ())),
                   gpus=record.get("gpus"), version=str(record.get("version", "")),
                   extra=dict(record.get("extra") or {}),
                   launcher=int(record.get("launcher") or 0),
                   main=int(record.get("main") or 0), pid_ns=str(record.get("pid_ns") or ""))


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
        """Every known worker, most recently seen first; dead entries older than
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
