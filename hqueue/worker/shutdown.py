"""How a Celery worker hands its running trials back when it is told to stop.

On SIGTERM or Ctrl-C (any warm or cold shutdown) a worker releases the trials it runs
(:func:`hqueue.worker.runner.release_running`): each becomes NEW again and its task is re-sent,
so another worker takes it at once instead of after a lease expiry.

- solo and threads pools: trials run in the worker process itself; Celery's
  ``worker_shutting_down`` signal triggers the release.
- prefork pool: the parent sends SIGTERM to each pool process running a trial. In a pool
  process, billiard's SIGTERM handler (which raises SystemExit) is wrapped before each trial:
  the wrapper asks the runner to release its trial, and the runner hands control back to
  billiard's handler once the trial is released and re-sent, so the process then exits as it
  always did (Celery logs a WorkerLostError for that task: expected, the trial was handed back
  first). An idle pool process exits at once, as before. A SIGTERM sent to the whole process
  group (``systemd``, ``docker stop`` through an init) reaches the pool processes directly and
  is handled the same way.

A worker killed outright (SIGKILL, out of memory, lost box) is covered by the leases: the
driver requeues its trials once their lease expires.

Example:
    >>> install()  # make_app() does this; connecting twice is harmless
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from typing import Any

from celery import signals

from ..tasks import TASK_NAME

logger = logging.getLogger(__name__)

_PREVIOUS: dict[str, Any] = {}  # the SIGTERM handler the wrapper replaced


def install() -> None:
    """Connect the Celery signal once per process (``dispatch_uid`` makes it idempotent)."""
    signals.worker_shutting_down.connect(_on_shutting_down, weak=False,
                                         dispatch_uid="hqueue.worker.release_running")


def _on_shutting_down(**_: Any) -> None:
    """Warm or cold shutdown began (SIGTERM/SIGINT/SIGQUIT in the main process)."""
    from .runner import release_running

    release_running()
    _signal_pool_processes_running_trials()


def _signal_pool_processes_running_trials() -> None:
    """SIGTERM to each other process that runs an hqueue trial (it releases it, then exits)."""
    from celery.worker import state

    try:
        pids = {r.worker_pid for r in list(state.active_requests) if r.name == TASK_NAME}
    except Exception:  # runs in a signal handler: never fail the shutdown over this
        return
    for pid in pids - {None, os.getpid()}:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)


def adopt_pool_process_sigterm() -> None:
    """In a prefork pool process, wrap the SIGTERM handler so it releases the trial first.

    Called before each trial (billiard installs its handler after ``worker_process_init``,
    so this is the first moment ours can go on top). A no-op outside pool processes, off the
    main thread, when already done, and when SIGTERM is ignored (``REMAP_SIGTERM``).
    """
    from billiard.process import current_process

    if threading.current_thread() is not threading.main_thread():
        return
    if current_process()._name == "MainProcess":
        return
    current = signal.getsignal(signal.SIGTERM)
    if current in (_pool_process_sigterm, signal.SIG_IGN, None):
        return
    _PREVIOUS["handler"] = current
    signal.signal(signal.SIGTERM, _pool_process_sigterm)


def _pool_process_sigterm(signum: int, frame: Any) -> None:
    from .runner import release_running

    if release_running(then=_exit_as_before) == 0:
        _exit_as_before()


def _exit_as_before() -> None:
    """What SIGTERM did before the wrapper: billiard's handler (raises SystemExit), or die."""
    previous = _PREVIOUS.get("handler", signal.SIG_DFL)
    signal.signal(signal.SIGTERM, previous)
    if callable(previous):
        previous(signal.SIGTERM, None)
    else:
        os.kill(os.getpid(), signal.SIGTERM)
