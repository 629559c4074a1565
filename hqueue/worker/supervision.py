"""Who owns a worker's processes, and what happens when one of them dies.

- **The launcher owns its workers.** ``hqueue worker`` starts each Celery worker with
  ``PR_SET_PDEATHSIG`` (Linux: the kernel sends it SIGTERM when the launcher dies, even by
  SIGKILL) and ``HQUEUE_LAUNCHER_PID`` in its environment; the worker also runs a watchdog
  thread that notices the launcher is gone (its parent pid changed) and stops itself the same
  way, on systems without the prctl. A worker stopping on SIGTERM hands its trials back.
- **A Celery worker owns its pool processes.** Each prefork pool process runs the same
  watchdog on its parent, so a Celery worker killed outright does not leave pool processes
  running trials on their own.
- **Objectives may start processes in every pool**: a prefork pool process is not daemonic
  for ``multiprocessing`` (:func:`allow_children`); what a trial leaves running is killed
  when it ends (:mod:`hqueue.worker.isolation`).
- **A pool process that dies mid-trial** (killed, out of memory, ``os._exit`` in the
  objective) is reported by Celery in the parent as ``WorkerLostError``; the parent then hands
  the trial back at once with the attempt counted (ERROR at the retry cap) and re-sends its
  task, instead of leaving it to wait for its lease to expire.
- **A worker process that dies mid-trial** (solo and threads pools run trials in it) is seen
  by its ``hqueue worker`` launcher, which hands back that process's trials the same way
  (:func:`hand_back_dead_worker`) before starting it again.

Example:
    >>> parent_died(os.getppid())
    False
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celery import signals

from ..states import RunOutcome
from ..tasks import TASK_NAME, TaskSender, dispatch
from .isolation import subreaper_allowed

if TYPE_CHECKING:
    from redis import Redis

    from ..backends.redis.store import TrialStore

logger = logging.getLogger(__name__)

LAUNCHER_ENV = "HQUEUE_LAUNCHER_PID"
WATCH_EVERY_S = 0.5
STOP_GRACE_S = 60.0  # after SIGTERM, how long a worker whose parent died may take to exit
_PR_SET_PDEATHSIG = 1
_CONFIG: dict[str, Any] = {}


def install(url: str | None = None, send_task: TaskSender | None = None,
            store_for: Callable[[str, str], TrialStore] | None = None) -> None:
    """Connect the Celery signals (idempotent); ``url``, ``send_task`` and ``store_for(url,
    exp_key)`` (the worker's stores) let the worker hand back the trial of a pool process
    that died."""
    if url is not None:
        _CONFIG.update(url=url, send=send_task, store_for=store_for)
    signals.worker_init.connect(_on_worker_init, weak=False,
                                dispatch_uid="hqueue.worker.supervision.init")
    signals.worker_process_init.connect(_on_pool_process_init, weak=False,
                                        dispatch_uid="hqueue.worker.supervision.pool")
    signals.task_failure.connect(_on_task_failure, weak=False,
                                 dispatch_uid="hqueue.worker.supervision.lost")


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """In a child, before exec: ask Linux to send ``signum`` when the parent dies (a
    ``preexec_fn``; a no-op elsewhere).

    Example:
        >>> import subprocess, sys
        >>> subprocess.run([sys.executable, "-c", "pass"], preexec_fn=die_with_parent).returncode
        0
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)


def parent_died(expected_ppid: int) -> bool:
    """True once this process's parent is no longer ``expected_ppid`` (it was re-parented)."""
    return os.getppid() != expected_ppid


def start_watchdog(expected_ppid: int, what: str) -> threading.Thread:
    """A daemon thread that stops this process (SIGTERM, then SIGKILL after
    :data:`STOP_GRACE_S`) once its parent ``expected_ppid`` is gone."""

    def watch() -> None:
        while not parent_died(expected_ppid):
            time.sleep(WATCH_EVERY_S)
        logger.error("%s: its parent (pid %d) is gone; stopping (trials are handed back)",
                     what, expected_ppid)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(STOP_GRACE_S)
        os.kill(os.getpid(), signal.SIGKILL)

    thread = threading.Thread(target=watch, name="hqueue-parent-watchdog", daemon=True)
    thread.start()
    return thread


def _on_worker_init(**_: Any) -> None:
    """The Celery worker's main process: watch the ``hqueue worker`` launcher if any."""
    subreaper_allowed()  # solo/threads run trials here (prefork's main process runs none)
    launcher = os.environ.get(LAUNCHER_ENV, "")
    if launcher.isdigit():
        start_watchdog(int(launcher), "this worker's `hqueue worker` launcher")


def _on_pool_process_init(**_: Any) -> None:
    """A prefork pool process: die with the Celery worker that forked it (a watchdog, not
    PR_SET_PDEATHSIG, which fires when the forking *thread* ends), and let objectives start
    processes (billiard marks pool processes daemonic, and ``multiprocessing`` refuses
    children to daemonic processes; hqueue kills what a trial leaves behind instead). The solo
    and threads pools send the same signal in the worker's main process: nothing to do there
    (its parent may be a shell or a demo that is meant to exit)."""
    from billiard.process import current_process

    if current_process()._name == "MainProcess":
        return
    start_watchdog(os.getppid(), "this pool process's Celery worker")
    allow_children()
    subreaper_allowed()


def allow_children() -> None:
    """Clear the daemon flag of this process for ``multiprocessing`` and ``billiard``."""
    import multiprocessing

    from billiard import process as billiard_process

    for current in (multiprocessing.current_process(), billiard_process.current_process()):
        with contextlib.suppress(AttributeError, TypeError):
            current._config["daemon"] = False


def _on_task_failure(sender: Any = None, exception: Any = None, args: Any = None,
                     **_: Any) -> None:
    """In the worker's main process: a pool process died running an hqueue trial."""
    from billiard.exceptions import WorkerLostError

    if not isinstance(exception, WorkerLostError) or getattr(sender, "name", "") != TASK_NAME:
        return
    try:
        exp_key, tid = args[0], int(args[1])
        hand_back_lost_trial(exp_key, tid)
    except Exception:  # never let this break the worker's event loop
        logger.warning("could not hand back the trial of a lost pool process (%r)", args,
                       exc_info=True)


def hand_back_lost_trial(exp_key: str, tid: int) -> RunOutcome | None:
    """Requeue (attempt counted) or ERROR trial ``tid`` if its owner is a dead process of this
    host; re-send its task when requeued. Returns REQUEUED, ERROR or None."""
    url, store_for = _CONFIG.get("url"), _CONFIG.get("store_for")
    if url is None or store_for is None:
        return None
    store = store_for(url, exp_key)
    raw = store.client.hget(store.keys.trial(tid), "owner") or b""
    owner = raw.decode() if isinstance(raw, bytes) else str(raw)
    parts = owner.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit() \
            or _alive(int(parts[1])):
        return None
    return _hand_back(store, tid, owner, f"its pool process {parts[1]} died",
                      _CONFIG.get("send"))


def _hand_back(store: TrialStore, tid: int, owner_prefix: str, why: str,
               send: TaskSender | None) -> RunOutcome | None:
    """``expire.lua`` for one trial still owned by ``owner_prefix``: requeued with the attempt
    counted (its task re-sent) or ERROR at the retry cap. Returns REQUEUED, ERROR or None."""
    from .experiment import read_options

    options = read_options(store)
    word = store.expire_owned(tid, owner_prefix, options.max_retries)
    logger.warning("trial %s of %r: %s; %s", tid, store.exp_key, why,
                   {RunOutcome.REQUEUED: "requeued (attempt counted)",
                    RunOutcome.ERROR: "ERROR (retry cap reached)"}.get(word, "nothing to do"))
    if word == RunOutcome.REQUEUED and send is not None:
        dispatch(store, [tid], options.queue, send)
    return word


def hand_back_dead_worker(client: Redis, pid: int, send: TaskSender | None = None,
                          host: str | None = None) -> dict[str, dict[int, RunOutcome]]:
    """In ``hqueue worker``: every RUNNING trial of every experiment still owned by its
    worker process ``pid`` of this host, which died (a solo or threads worker runs trials in
    that process), is requeued at once with its attempt counted and its task re-sent
    (``send``), or ERROR at the retry cap: what a prefork worker does for a lost pool process,
    instead of waiting for the lease. Returns ``{exp_key: {tid: "requeued" | "error"}}``.

    Example:
        >>> import fakeredis
        >>> hand_back_dead_worker(fakeredis.FakeRedis(), 12345)
        {}
    """
    from ..backends.redis.records import list_experiments
    from ..backends.redis.store import TrialStore

    prefix = f"{host or socket.gethostname()}:{int(pid)}:"
    done: dict[str, dict[int, str]] = {}
    for exp_key in list_experiments(client):
        store = TrialStore(client, exp_key)
        try:  # one damaged experiment must not stop the others' recovery
            tids = store.running_tids()
            pipe = client.pipeline(transaction=False)
            for tid in tids:
                pipe.hget(store.keys.trial(tid), "owner")
            owners = pipe.execute(raise_on_error=False)
            for tid, owner in zip(tids, owners):
                if isinstance(owner, bytes) and owner.decode(errors="replace").startswith(prefix):
                    word = _hand_back(store, tid, prefix, f"its worker process {pid} died", send)
                    if word is not None:
                        done.setdefault(exp_key, {})[tid] = word
        except Exception:
            logger.warning("could not hand back the trials of dead worker process %s in "
                           "experiment %r", pid, exp_key, exc_info=True)
    return done


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
