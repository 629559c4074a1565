"""A worker process announces itself in Redis while it lives (``hqueue status``, dashboard).

The beacon is a daemon thread in each process that runs trials: every prefork pool process
(started on ``worker_process_init``), or the worker process itself with the solo and threads
pools (``worker_ready``). Every :data:`~hqueue.backends.redis.presence.ANNOUNCE_EVERY_S` it
writes who it is (its pid, the Celery worker's and the pid of the ``hqueue worker`` launcher
the user started, from :data:`~hqueue.worker.supervision.LAUNCHER_ENV`), which queues it
serves and which trials it runs now (:mod:`hqueue.backends.redis.presence`); it deletes its
entry when the process exits cleanly. A Redis outage only delays announcements: the thread
logs once and keeps trying.

Example:
    >>> import fakeredis
    >>> from hqueue.backends.redis.presence import WorkerRegistry
    >>> client = fakeredis.FakeRedis()
    >>> beacon = Beacon(client, queues=["gpu"], every_s=60)
    >>> beacon.announce_now()
    >>> [w.queues for w in WorkerRegistry(client).list()]
    [('gpu',)]
    >>> beacon.stop()
    >>> WorkerRegistry(client).list()
    []
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from celery import signals

from .. import __version__
from ..backends.redis.presence import ANNOUNCE_EVERY_S, WorkerPresence, WorkerRegistry
from ..backends.redis.records import pid_namespace
from .identity import worker_id
from .supervision import LAUNCHER_ENV

if TYPE_CHECKING:
    from celery import Celery
    from redis import Redis

logger = logging.getLogger(__name__)

_BEACON: dict[int, Beacon] = {}  # pid -> this process's beacon
_CONFIG: dict[str, Any] = {}  # "app": the Celery app, "client_factory": () -> Redis


class Beacon:
    """Announces this process every ``every_s`` seconds from a daemon thread; ``main`` is
    the Celery worker's pid (this process's by default: the solo and threads pools)."""

    def __init__(self, client: Redis, queues: Sequence[str], every_s: float = ANNOUNCE_EVERY_S,
                 main: int | None = None) -> None:
        self.registry = WorkerRegistry(client)
        self.main = os.getpid() if main is None else int(main)
        launcher = os.environ.get(LAUNCHER_ENV, "")
        self.launcher = int(launcher) if launcher.isdigit() else self.main
        self.pid_ns = pid_namespace()
        self.worker_id = worker_id()
        self.queues = tuple(queues)
        self.every_s = every_s
        self.started = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def presence(self) -> WorkerPresence:
        """What this process says about itself now."""
        from .runner import running_tids

        return WorkerPresence(self.worker_id, socket.gethostname(), os.getpid(), self.queues,
                              started=self.started, seen=time.time(),
                              trials=tuple(running_tids()),
                              gpus=os.environ.get("CUDA_VISIBLE_DEVICES"),
                              version=__version__, launcher=self.launcher, main=self.main,
                              pid_ns=self.pid_ns)

    def announce_now(self) -> None:
        """Write this process's entry once (errors are logged, never raised)."""
        try:
            self.registry.announce(self.presence())
            if self._failing:
                logger.info("worker presence: Redis reachable again")
            self._failing = False
        except Exception as exc:
            if not self._failing:
                logger.warning("worker presence: cannot write to Redis (%s); retrying", exc)
            self._failing = True

    def start(self) -> None:
        """Start the announcing thread."""
        self._thread = threading.Thread(target=self._loop, name="hqueue-beacon", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.announce_now()
            self._stop.wait(self.every_s)

    def stop(self) -> None:
        """Stop announcing and delete this process's entry."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)  # an announcement in flight must not land after the delete
        try:
            self.registry.remove(self.worker_id)
        except Exception as exc:  # leaving: the entry goes stale and is forgotten later
            logger.debug("worker presence: could not remove %s (%s)", self.worker_id, exc)


def install(app: Celery, client_factory: Callable[[], Redis]) -> None:
    """Start a beacon in every process that runs trials of ``app`` (once per process).

    ``client_factory()`` returns the Redis client to write with.
    """
    _CONFIG.update(app=app, client_factory=client_factory)
    signals.worker_process_init.connect(_on_pool_process_init, weak=False,
                                        dispatch_uid="hqueue.worker.beacon.pool")
    signals.worker_ready.connect(_on_worker_ready, weak=False,
                                 dispatch_uid="hqueue.worker.beacon.ready")
    signals.worker_process_shutdown.connect(_on_exit, weak=False,
                                            dispatch_uid="hqueue.worker.beacon.pool_exit")
    signals.worker_shutdown.connect(_on_exit, weak=False,
                                    dispatch_uid="hqueue.worker.beacon.exit")


def _queues(app: Celery) -> list[str]:
    try:
        names = list(app.amqp.queues.consume_from or app.amqp.queues)
    except Exception:
        names = []
    return names or [app.conf.task_default_queue]


def start_here(main: int | None = None) -> Beacon | None:
    """Start this process's beacon if :func:`install` ran and none runs yet (``main``: the
    Celery worker's pid when this is one of its pool processes)."""
    pid = os.getpid()
    if pid in _BEACON or "app" not in _CONFIG:
        return _BEACON.get(pid)
    try:
        beacon = Beacon(_CONFIG["client_factory"](), _queues(_CONFIG["app"]), main=main)
    except Exception as exc:
        logger.warning("worker presence disabled in this process: %s", exc)
        return None
    _BEACON[pid] = beacon
    beacon.start()
    atexit.register(_on_exit)  # cold shutdowns skip Celery's worker_shutdown signal
    return beacon


def _on_pool_process_init(**_: Any) -> None:
    from billiard.process import current_process

    if current_process()._name == "MainProcess":
        return  # the solo pool sends this too, before the worker handles SIGTERM: wait for
        # worker_ready, so an entry never outlives a worker stopped while starting
    start_here(main=os.getppid())


def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    pool = getattr(sender, "pool", None)
    if pool is not None and "prefork" in type(pool).__module__:
        return  # the pool processes announce themselves, not their parent
    start_here()


def _on_exit(**_: Any) -> None:
    beacon = _BEACON.pop(os.getpid(), None)
    if beacon is not None:
        beacon.stop()
