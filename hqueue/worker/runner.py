"""Run one trial on a worker: claim it, load the domain, evaluate it under a lease, write the
result once. Celery-free (the task in :mod:`hqueue.worker.app` is a thin shell over it).

:func:`run_trial` returns one outcome word:

============  ===============================================================================
``done``      the objective returned; the result is stored, the trial is DONE
``error``     the objective raised or returned something invalid, the domain could not be
              loaded (bad signature, missing module), the trial's document is malformed,
              or ``trial_timeout`` passed: ERROR,
              with ``misc["error"] = (type, message)`` and ``result["traceback"]``
``dropped``   the trial was not NEW (duplicate delivery, cancelled, finished): nothing done
``lost``      the lease was lost meanwhile (the trial was requeued and maybe rerun
              elsewhere): this worker's result is discarded
``cancelled`` the driver cancelled the running trial: CANCEL
``released``  the worker is shutting down: the trial is NEW again and its task re-sent
``requeued``  the runner could not conclude the trial (an unexpected error in hqueue itself):
              it is NEW again with the attempt counted (ERROR at the retry cap)
============  ===============================================================================

Every exit path ends in exactly one of DONE, ERROR (with the true reason: a result that cannot
be encoded or is over ``max_result_bytes`` is ERROR ``ResultNotStorable``; an exception whose
``__str__`` raises is reported by its type), a requeue with the attempt counted, or a release
on shutdown (the only hand-back that does not count the attempt): see
:mod:`hqueue.worker.outcome`. Each trial runs inside
:func:`hqueue.worker.isolation.trial_scope`: the processes it leaves behind are killed and the
recursion limit, working directory and environment are put back; what it prints is captured
per trial (:mod:`hqueue.worker.capture`) and stored before its result.

How a trial runs: the objective runs in a daemon thread of its own while the calling thread
supervises it: it renews the lease every ``lease_s / 3`` (a heartbeat), and at once when a
cancel is pushed to this process (:mod:`hqueue.worker.stops`), and raises the ctrl's
stop flag (``ctrl.should_stop()``) when the heartbeat says the lease is lost or the trial was
cancelled, when ``trial_timeout`` passes, or when :func:`release_running` is called (worker
shutdown). The objective then has ``timeout_grace_s`` to return (``TIMEOUT_STOP_GRACE_S``
after a ``trial_timeout``: the limit is a budget, not a request); after that the runner
raises :class:`TrialInterrupted` inside the objective's thread (effective at its next Python
instruction: code blocked inside a C call keeps running until the call returns), stops waiting
for it, and concludes the trial: a thread that still runs is abandoned (logged; it dies with
the process).

Example:
    >>> import fakeredis
    >>> from hqueue import Domain, hp
    >>> from hqueue.backends.redis.store import TrialStore
    >>> from hqueue.fmin import generate_trial
    >>> from hqueue.security import dumps_domain
    >>> store = TrialStore(fakeredis.FakeRedis(), "demo")
    >>> digest, blob = dumps_domain(Domain(abs, hp.uniform("x", -1, 1)), "demo", b"s3cret")
    >>> _ = store.client.set(store.keys.domain(digest), blob)
    >>> _ = store.client.hset(store.keys.meta, "domain", digest)
    >>> _ = store.create([generate_trial(0, {"x": -0.25})])
    >>> run_trial(store, 0, owner="w1", secret=b"s3cret")
    <RunOutcome.DONE: 'done'>
    >>> store.get(0)["result"]
    {'loss': 0.25, 'status': 'ok'}
    >>> run_trial(store, 0, owner="w2", secret=b"s3cret") == "dropped"  # a duplicate delivery
    True
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..backends.redis.codec import CorruptTrialDocument
from ..backends.redis.damaged import DamagedKey
from ..backends.redis.output import TrialOutputs
from ..backends.redis.segments import finish_outside_segment, segment_of
from ..fmin import spec_from_misc
from ..states import RunOutcome
from ..tasks import TaskSender
from . import stops
from .capture import TrialCapture
from .ctrl import RedisCtrl
from .experiment import ExperimentOptions, load_domain, read_options
from .isolation import in_forked_child, trial_scope
from .outcome import (  # noqa: F401 (TrialTimeout, ResultNotStorable: public names here too)
    ResultNotStorable,
    TrialTimeout,
    conclude,
    error_unreadable,
    requeue_counted,
    resend,
)

if TYPE_CHECKING:
    from ..backends.redis.store import Claim, TrialStore

logger = logging.getLogger(__name__)

OUTCOMES = tuple(RunOutcome)  # every word run_trial may return (str-valued)
TIMEOUT_GRACE_S = 5.0  # how long a stopped objective may take to return
TIMEOUT_STOP_GRACE_S = 1.0  # the same after trial_timeout (shorter when timeout_grace_s is)
POLL_S = 0.1  # how often the supervisor looks at its flags


class TrialInterrupted(BaseException):  # noqa: N818 (like KeyboardInterrupt, not an error)
    """Raised inside an objective that ignored ``ctrl.should_stop()`` past the grace period.

    A BaseException so that an objective's ``except Exception`` does not swallow it.
    """


# -- the trials this process runs, for release_running() -----------------------------------
# Plain dict writes only (atomic under the GIL): release_running() runs in signal handlers,
# where taking a lock could deadlock.
_RUNNING: dict[int, _Run] = {}  # claimed trials, being run
_IN_FLIGHT: dict[int, object] = {}  # run_trial calls not yet returned (claiming included)
_SHUTDOWN: dict[str, Any] = {"requested": False, "then": None}


def release_running(then: Callable[[], None] | None = None) -> int:
    """Hand every trial this process runs back to the queue (worker shutdown).

    Safe in a signal handler: it only raises flags. Each runner then releases its trial
    (``store.release``: NEW again), re-sends its task, stops the objective and returns
    "released"; a trial delivered from now on is re-sent unclaimed. ``then`` is called by
    every :func:`run_trial` call in flight or to come, as it returns (a prefork pool process
    exits there). Returns how many :func:`run_trial` calls are in flight.

    Example:
        >>> release_running()
        0
        >>> accept_trials()  # undo (tests, embedded workers)
    """
    _SHUTDOWN["then"] = then
    _SHUTDOWN["requested"] = True
    for run in list(_RUNNING.values()):
        run.release_requested = True
        run.ctrl.request_stop()
    return len(_IN_FLIGHT)


def accept_trials() -> None:
    """Run trials again after :func:`release_running` (for tests and embedded workers)."""
    _SHUTDOWN["requested"], _SHUTDOWN["then"] = False, None


def _on_stop_pushed(exp_key: str, tid: int) -> None:
    """A cancel was pushed for ``(exp_key, tid)``: its supervisor beats at once (the beat's
    reply confirms the cancel). A trial claimed but not yet supervised asks
    :func:`stops.pushed_recently` when its supervision starts."""
    for run in list(_RUNNING.values()):
        if run.tid == tid and run.store.exp_key == exp_key:
            run.beat_now = True


def running_tids() -> list[tuple[str, int]]:
    """``(exp_key, tid)`` of the trials this process runs now."""
    return [(run.store.exp_key, run.tid) for run in list(_RUNNING.values())]


class _Run:
    """One trial in this process: its ctrl, the objective's thread and the stop flags."""

    def __init__(self, store: TrialStore, claim: Claim, owner: str, options: ExperimentOptions,
                 send_task: TaskSender | None, secret: bytes | None) -> None:
        self.store, self.tid, self.owner, self.options = store, claim.tid, owner, options
        self.send_task, self.secret = send_task, secret
        self.ctrl = RedisCtrl(store, claim.doc, owner,
                              max_attachment_bytes=options.max_attachment_bytes,
                              queue=options.queue, send_task=send_task,
                              pruner_spec=options.pruner)
        self.stop_reason: str | None = None  # "cancelled", "lost", "timeout", "released"
        # a stop pushed (now, or between the claim and here): heartbeat at once
        self.beat_now = stops.pushed_recently(store.exp_key, claim.tid)
        self.release_requested, self.released = False, False
        self.release_before_return = False  # the objective returned after a release request
        self.started: float | None = None  # monotonic time the objective was called
        self.done = threading.Event()
        self.result: dict | None = None
        self.exc: BaseException | None = None
        self.thread: threading.Thread | None = None
        self.output = TrialCapture(TrialOutputs(store.client, store.exp_key), claim.tid)

    def start(self) -> None:
        name = f"hqueue-trial-{self.store.exp_key}-{self.tid}"
        self.thread = threading.Thread(target=self._work, name=name, daemon=True)
        self.thread.start()

    def _work(self) -> None:
        self.output.attach()  # the objective's stdout/stderr (worker/capture.py)
        try:
            domain = load_domain(self.store, self.options.digest, self.secret)
            if not self.release_requested:
                self.started = time.monotonic()
                config = spec_from_misc(self.ctrl.current_trial["misc"])
                self.result = domain.evaluate(config, self.ctrl)
        except BaseException as exc:  # noqa: B036 (reported by the supervisor)
            self.exc = exc
        finally:
            if in_forked_child():  # os.fork() in the objective, and the child returned here
                os._exit(0 if self.exc is None else 1)
            self.release_before_return = self.release_requested
            self.done.set()

    def stop(self, reason: str) -> None:
        if self.stop_reason is None or reason == "released":
            logger.info("trial %s of %r: stopping (%s)", self.tid, self.store.exp_key, reason)
            self.stop_reason = reason
        self.ctrl.request_stop()


def run_trial(store: TrialStore, tid: int, owner: str, secret: bytes | None = None, *,
              send_task: TaskSender | None = None,
              timeout_grace_s: float = TIMEOUT_GRACE_S) -> RunOutcome:
    """Run trial ``tid`` of ``store``'s experiment as ``owner``; returns how it ended.

    ``secret`` defaults to :func:`hqueue.security.load_secret`; ``send_task(exp_key, tid,
    queue)`` sends a trial's task (re-sends on release, ``ctrl.enqueue``); without it those
    tasks are left to the driver, which re-sends trials that stay queued too long.
    """
    token = object()
    _IN_FLIGHT[id(token)] = token
    listening = stops.listen(store.client, _on_stop_pushed)  # before the claim: none missed
    try:
        return _run_trial(store, int(tid), owner, secret, send_task, timeout_grace_s)
    finally:
        listening.release()
        _IN_FLIGHT.pop(id(token), None)
        then = _SHUTDOWN["then"] if _SHUTDOWN["requested"] else None
        if then is not None:
            then()


def _run_trial(store: TrialStore, tid: int, owner: str, secret: bytes | None,
               send_task: TaskSender | None, grace_s: float) -> RunOutcome:
    exp_key = store.exp_key
    try:
        options, damaged = read_options(store), None
    except DamagedKey as exc:  # the experiment's meta: its trials cannot run, say why
        options, damaged = ExperimentOptions(), exc
    if _SHUTDOWN["requested"]:
        logger.info("trial %s of %r: worker shutting down, task re-sent", tid, exp_key)
        resend(store, tid, options.queue, send_task)
        return RunOutcome.RELEASED
    try:
        claim = store.claim(tid, owner, options.lease_s)
    except CorruptTrialDocument as exc:  # claimed, but its document cannot be read
        return error_unreadable(store, tid, owner, exc)
    if claim is None:
        logger.debug("trial %s of %r: not NEW (duplicate delivery, cancelled or finished); "
                     "dropped", tid, exp_key)
        return RunOutcome.DROPPED
    if damaged is not None:
        return error_unreadable(store, tid, owner, damaged)
    if segment_of(claim.doc) != options.segment:  # a search over another space replaced it
        return finish_outside_segment(store, tid, owner, options.segment)
    begin, run = time.monotonic(), _Run(store, claim, owner, options, send_task, secret)
    _RUNNING[id(run)] = run
    try:
        with trial_scope(), run.output:
            if _SHUTDOWN["requested"]:  # shutdown began while this trial was being claimed
                run.release_requested = True
            run.start()
            _supervise(run, grace_s)
            run.output.close()  # its output is stored before its result
            outcome = conclude(run)
    except Exception as exc:  # a bug or Redis gone: never hand it back with the attempt undone
        outcome = requeue_counted(run, exc)
    except BaseException:  # a cold shutdown (SystemExit, KeyboardInterrupt): release it
        _release_quietly(run)
        raise
    finally:
        run.ctrl.closed = True
        _RUNNING.pop(id(run), None)
    logger.info("trial %s of %r: %s (%.1f s)", tid, exp_key, outcome, time.monotonic() - begin)
    return outcome


# -- supervision ------------------------------------------------------------------------------
def _supervise(run: _Run, grace_s: float) -> None:
    """Heartbeat and watch the flags until the objective returns or its grace runs out."""
    every = run.options.lease_s / 3
    next_beat, stopping_since = time.monotonic() + every, None
    while not run.done.wait(POLL_S):
        now = time.monotonic()
        if now >= next_beat or run.beat_now:
            run.beat_now = False
            _heartbeat(run)
            next_beat = now + every
        _check_flags(run, now)
        if run.stop_reason is not None:
            stopping_since = now if stopping_since is None else stopping_since
            grace = min(grace_s, TIMEOUT_STOP_GRACE_S) if run.stop_reason == "timeout" \
                else grace_s
            if now - stopping_since >= grace:
                _interrupt(run)
                return
    if run.release_before_return and run.stop_reason != "released":
        run.stop("released")  # it stopped for the release before the loop saw the request
        _release(run)


def _check_flags(run: _Run, now: float) -> None:
    if run.release_requested and run.stop_reason != "released":
        run.stop("released")
        _release(run)
    if run.ctrl.lost:
        run.stop("lost")
    timeout = run.options.trial_timeout
    if timeout is not None and run.started is not None and now - run.started >= timeout:
        run.stop("timeout")


def _heartbeat(run: _Run) -> None:
    try:
        beat = run.store.heartbeat(run.tid, run.owner, run.options.lease_s)
    except Exception as exc:  # Redis unreachable for a moment: the next beat tries again
        logger.warning("trial %s: heartbeat failed (%s: %s); retrying", run.tid,
                       type(exc).__name__, exc)
        return
    if not beat.alive:
        run.stop("lost")
    elif beat.cancel_requested:
        run.stop("cancelled")


def _interrupt(run: _Run) -> None:
    """Raise TrialInterrupted in the objective's thread; abandon it if it keeps running."""
    thread = run.thread
    if thread is None or thread.ident is None or not thread.is_alive():
        return
    logger.warning("trial %s: the objective ignored ctrl.should_stop() (%s); interrupting it",
                   run.tid, run.stop_reason)
    ident, exc = ctypes.c_ulong(thread.ident), ctypes.py_object(TrialInterrupted)
    if ctypes.pythonapi.PyThreadState_SetAsyncExc(ident, exc) > 1:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ident, None)
    if not run.done.wait(1.0):
        logger.warning("trial %s: the objective still runs (blocked in native code?); it is "
                       "abandoned and keeps running in this process until it returns: restart "
                       "the worker if it holds a GPU", run.tid)


def _release(run: _Run) -> None:
    try:
        run.released = run.store.release(run.tid, run.owner)
    except Exception as exc:
        logger.warning("trial %s: could not release it (%s: %s); its lease will expire and the "
                       "driver requeues it", run.tid, type(exc).__name__, exc)
        return
    if run.released:
        resend(run.store, run.tid, run.options.queue, run.send_task)


def _release_quietly(run: _Run) -> None:
    if run.released:
        return
    try:
        if run.store.release(run.tid, run.owner):
            run.released = True
            resend(run.store, run.tid, run.options.queue, run.send_task)
    except Exception:
        logger.debug("trial %s: release after an error failed too", run.tid, exc_info=True)


