"""``hqueue worker``: start Celery worker processes for hqueue, one per GPU when asked.

Each worker is ``celery -A hqueue.worker worker`` with ``HQUEUE_URL`` set. With ``--gpus
0,1`` one worker process starts per GPU with ``CUDA_VISIBLE_DEVICES`` set to that GPU; this
process supervises them and forwards SIGTERM/SIGINT, so each worker hands its running trial
back before exiting. It owns them: they die with it, even when it is SIGKILLed
(``PR_SET_PDEATHSIG`` plus a watchdog, see :mod:`hqueue.worker.supervision`). A worker
that exits without being told to has the trials it was running requeued at once, attempt
counted (:func:`~hqueue.worker.supervision.hand_back_dead_worker`), and is started again when
it failed (a non-zero exit status) or died holding trials (at most :data:`MAX_RESTARTS` times
in :data:`RESTART_WINDOW_S`; one that keeps failing is a configuration error to report).

Example:
    >>> cmd = worker_command(concurrency=2, queues=["hqueue"], pool="prefork",
    ...                      loglevel="INFO", name="cpu")
    >>> cmd[1:5]
    ['-m', 'celery', '-A', 'hqueue.worker']
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

from ..backends.redis.connection import (
    RedisUnreachable,
    check_redis,
    client_from_url,
    mask_url,
)
from ..exceptions import HqueueError
from ..tasks import BROKER_URL_ENV
from .supervision import LAUNCHER_ENV, die_with_parent, hand_back_dead_worker

__all__ = ["RedisUnreachable", "check_redis", "mask_url", "parse_gpus", "run_workers",
           "worker_command"]

logger = logging.getLogger(__name__)


_safe = mask_url  # older name, kept for callers
MAX_RESTARTS = 5  # restarts of one worker process allowed within RESTART_WINDOW_S
RESTART_WINDOW_S = 300.0


def worker_command(concurrency: int, queues: Sequence[str], pool: str, loglevel: str,
                   name: str) -> list[str]:
    """The command line of one Celery worker process."""
    return [sys.executable, "-m", "celery", "-A", "hqueue.worker", "worker",
            f"--concurrency={concurrency}", f"--queues={','.join(queues)}", f"--pool={pool}",
            f"--loglevel={loglevel}", f"--hostname={name}-{uuid.uuid4().hex[:6]}@%h",
            "--without-gossip", "--without-mingle"]


def run_workers(url: str, concurrency: int = 1, queues: Sequence[str] = ("hqueue",),
                gpus: Sequence[str] | None = None, pool: str = "prefork",
                loglevel: str = "INFO", popen: Any = subprocess.Popen,
                broker_url: str | None = None) -> int:
    """Start the worker processes and wait for them; returns the worst exit status.
    ``broker_url``: the Celery broker when it is not the Redis at ``url``."""
    check_redis(url)
    env = dict(os.environ, HQUEUE_URL=url, **{LAUNCHER_ENV: str(os.getpid())})
    if broker_url:
        env[BROKER_URL_ENV] = broker_url
    specs = [(f"gpu{g}", {"CUDA_VISIBLE_DEVICES": str(g)}) for g in gpus] if gpus \
        else [("cpu", {})]

    def start(name: str, extra: dict[str, str]) -> Any:
        return popen(worker_command(concurrency, queues, pool, loglevel, name),
                     env={**env, **extra}, preexec_fn=die_with_parent)

    procs = [start(name, extra) for name, extra in specs]
    logger.info("started %d worker process(es) on queues %s", len(procs), ",".join(queues))
    stopping = {"signal": None}
    restarts: list[list[float]] = [[] for _ in procs]

    def forward(signum: int, frame: Any) -> None:
        stopping["signal"] = signum
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    handled: set[Any] = set()  # worker processes whose exit was already dealt with
    try:
        while True:
            for i, p in enumerate(procs):  # hand back a dead worker's trials, then restart it
                if stopping["signal"] is not None or p.poll() is None or p in handled:
                    continue
                handled.add(p)
                lost = _hand_back_trials_of(url, p.pid, broker_url)
                if (p.returncode != 0 or lost) and _may_restart(restarts[i], p.returncode):
                    procs[i] = start(*specs[i])
            if all(p.poll() is not None for p in procs):
                break
            time.sleep(0.2)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    return max((p.returncode or 0) for p in procs)


def _hand_back_trials_of(url: str, pid: int, broker_url: str | None = None) -> int:
    """Requeue now (attempt counted) the running trials of worker process ``pid``, which exited
    without being told to (a solo or threads worker runs its trials in that process); returns
    how many it held. A worker that stopped cleanly handed its trials back already: 0. Their
    tasks are re-sent to ``broker_url`` (the workers' broker) when given."""
    from ..tasks import celery_sender

    try:  # no long reconnect budget: a launcher must not wait minutes on a Redis that is down
        client = client_from_url(url, socket_connect_timeout=5, socket_timeout=10)
        try:
            done = hand_back_dead_worker(client, pid, celery_sender(url, broker_url))
        finally:
            client.close()
    except Exception:  # the lease still recovers them; never let this stop the launcher
        logger.warning("could not hand back the trials of worker process %s", pid,
                       exc_info=True)
        return 0
    return sum(len(tids) for tids in done.values())


def _may_restart(history: list[float], returncode: int | None) -> bool:
    """Whether to start again a worker that exited on its own (recorded in ``history``)."""
    now = time.monotonic()
    history[:] = [t for t in history if now - t < RESTART_WINDOW_S]
    if len(history) >= MAX_RESTARTS:
        return False
    history.append(now)
    logger.error("a worker process exited on its own (status %s); starting it again "
                 "(%d of %d in %g s)", returncode, len(history), MAX_RESTARTS, RESTART_WINDOW_S)
    return True


def parse_gpus(text: str | None) -> list[str] | None:
    """``"0,1"`` -> ``["0", "1"]``; None or empty -> None."""
    if not text:
        return None
    gpus = [g.strip() for g in text.split(",") if g.strip()]
    if not gpus:
        return None
    for g in gpus:
        if not g.isdigit() and not g.startswith(("GPU-", "MIG-")):
            raise HqueueError(f"--gpus takes GPU indices or UUIDs like 0,1; got {g!r}")
    return gpus
