"""How a claimed trial ends: the one write that concludes it (DONE, ERROR with its reason,
CANCEL), or a requeue with the attempt counted when that write is impossible.

Every path goes through :func:`conclude` or :func:`requeue_counted`:

- the objective returned: DONE, unless its result cannot be stored (it contains itself, is
  nested too deeply for the codec, or is over ``max_result_bytes``): ERROR
  :class:`ResultNotStorable` with that reason, the last checkpoint kept;
- the objective raised: ERROR with its type and message (:func:`safe_text`: a stand-in when
  its ``__str__`` raises) and its traceback;
- ``trial_timeout`` passed: ERROR :class:`TrialTimeout`; cancelled: CANCEL;
- the runner itself failed to conclude: ERROR if Redis takes the write, else the trial is NEW
  again with the attempt counted (ERROR at the retry cap), else left to its lease.

``run`` is the runner's record of one trial (:class:`hqueue.worker.runner._Run`): its store,
tid, owner, options, ctrl, result, exception and stop reason.

Example:
    >>> safe_text(ValueError("bad x"))
    'bad x'
"""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING, Any, Protocol

from ..backends.redis.codec import encode_value
from ..backends.redis.damaged import DamagedKey
from ..exceptions import HqueueError, TrialPruned
from ..pruners import pruned_result
from ..security import DomainTransferError, SignatureError
from ..states import JOB_STATE_CANCEL, JOB_STATE_DONE, JOB_STATE_ERROR, RunOutcome
from ..tasks import TaskSender, dispatch
from .experiment import MissingDomain

if TYPE_CHECKING:
    from ..backends.redis.store import TrialStore
    from .ctrl import RedisCtrl
    from .experiment import ExperimentOptions

logger = logging.getLogger("hqueue.worker.runner")  # the runner's: one logger per trial

TRACEBACK_CHARS = 20_000  # longest traceback kept in result["traceback"] (its end)
_LOAD_ERRORS = (SignatureError, DomainTransferError, MissingDomain, DamagedKey)
_FINAL_WORD = {JOB_STATE_DONE: RunOutcome.DONE, JOB_STATE_ERROR: RunOutcome.ERROR,
               JOB_STATE_CANCEL: RunOutcome.CANCELLED}


class TrialRun(Protocol):
    """What concluding a trial reads of the runner's record of it
    (:class:`hqueue.worker.runner._Run` is the one implementation)."""

    store: TrialStore
    tid: int
    owner: str
    options: ExperimentOptions
    ctrl: RedisCtrl
    send_task: TaskSender | None
    stop_reason: str | None  # "cancelled", "lost", "timeout", "released" or None
    released: bool
    result: dict | None  # what the objective returned (validated)
    exc: BaseException | None  # what the objective (or loading its domain) raised


class TrialTimeout(HqueueError):
    """The trial ran longer than the experiment's ``trial_timeout``."""


class ResultNotStorable(HqueueError):
    """The objective's result cannot be encoded, or is larger than ``max_result_bytes``."""



def error_unreadable(store: TrialStore, tid: int, owner: str, exc: HqueueError) -> RunOutcome:
    """A claimed trial whose document (or experiment meta) is damaged: ERROR with the
    reason, not run."""
    logger.error("trial %s of %r: %s", tid, store.exp_key, exc)
    result = {"status": "fail", "failure": str(exc)}
    if store.finish(tid, owner, JOB_STATE_ERROR, result, error=(str(type(exc)), str(exc))):
        return RunOutcome.ERROR
    return RunOutcome.LOST


def requeue_counted(run: TrialRun, exc: Exception) -> RunOutcome:
    """The runner failed to conclude the trial: ERROR if Redis takes it, else NEW again with
    the attempt counted (ERROR at the retry cap), else left to its lease."""
    reason = safe_text(exc)
    logger.error("trial %s of %r: could not conclude it (%s: %s)", run.tid, run.store.exp_key,
                 type(exc).__name__, reason, exc_info=not _is_redis_error(exc))
    if not _is_redis_error(exc):
        try:
            result = {"status": "fail", "failure": f"{type(exc).__name__}: {reason}"}
            if run.store.finish(run.tid, run.owner, JOB_STATE_ERROR, result,
                                error=(str(type(exc)), reason)):
                return RunOutcome.ERROR
        except Exception:
            logger.debug("trial %s: finishing it ERROR failed too", run.tid, exc_info=True)
    try:
        word = run.store.expire_owned(run.tid, run.owner, run.options.max_retries)
    except Exception:  # Redis unreachable: its lease expires and the driver requeues it
        return RunOutcome.LOST
    if word == RunOutcome.REQUEUED:
        resend(run.store, run.tid, run.options.queue, run.send_task)
        return RunOutcome.REQUEUED
    return RunOutcome.ERROR if word == RunOutcome.ERROR else RunOutcome.LOST


def _is_redis_error(exc: BaseException) -> bool:
    import redis

    return isinstance(exc, (redis.exceptions.RedisError, OSError))


def safe_text(exc: BaseException) -> str:
    """``str(exc)``, or a stand-in naming its type when its ``__str__`` raises.

    Example:
        >>> class Bad(Exception):
        ...     def __str__(self):
        ...         raise RuntimeError("no")
        >>> safe_text(Bad())
        '<Bad: its __str__ raised RuntimeError>'
    """
    try:
        return str(exc)
    except BaseException as inner:  # noqa: B036 (any failure of user code)
        return f"<{type(exc).__name__}: its __str__ raised {type(inner).__name__}>"


def resend(store: TrialStore, tid: int, queue: str, send_task: TaskSender | None) -> None:
    """Send trial ``tid``'s task again (:func:`hqueue.tasks.dispatch`); a failure is logged,
    not raised (the driver re-sends trials queued too long). Without a sender, nothing."""
    if send_task is None:
        return
    try:
        dispatch(store, [tid], queue, send_task)
    except Exception as exc:  # not fatal: the driver re-sends trials queued too long
        logger.warning("trial %s: could not re-send its task (%s: %s); the driver will",
                       tid, type(exc).__name__, exc)


def conclude(run: TrialRun) -> RunOutcome:
    reason, tid = run.stop_reason, run.tid
    if reason == "released":
        return RunOutcome.RELEASED if run.released else RunOutcome.LOST
    if reason == "lost":
        logger.warning("trial %s: this worker lost its lease (requeued, maybe rerun "
                       "elsewhere); its result is discarded", tid)
        return RunOutcome.LOST
    if reason == "timeout":
        limit = run.options.trial_timeout
        exc = TrialTimeout(f"trial_timeout exceeded: trial {tid} ran longer than {limit:g} s; "
                           "its last partial result is kept (raise trial_timeout, or check "
                           "ctrl.should_stop() in the objective)")
        logger.error("trial %s: %s", tid, exc)
        return _finish_failed(run, JOB_STATE_ERROR, exc, with_traceback=False)
    if reason == "cancelled":
        if run.result is not None and run.exc is None:
            return _finish(run, JOB_STATE_CANCEL, run.result)
        return _finish(run, JOB_STATE_CANCEL, _failure_result(run, "cancelled"))
    if isinstance(run.exc, TrialPruned):  # pruning: a finished trial, not an error
        return _finish(run, JOB_STATE_DONE, pruned_result(run.ctrl.current_trial["result"]))
    if run.exc is not None:
        if isinstance(run.exc, _LOAD_ERRORS):
            logger.error("trial %s of %r: %s", tid, run.store.exp_key, run.exc)
            return _finish_failed(run, JOB_STATE_ERROR, run.exc, with_traceback=False)
        logger.error("trial %s: the objective raised %s: %s", tid, type(run.exc).__name__,
                     safe_text(run.exc))
        return _finish_failed(run, JOB_STATE_ERROR, run.exc, with_traceback=True)
    return _finish(run, JOB_STATE_DONE, run.result or {})


def _failure_result(run: TrialRun, message: str, tb: str | None = None) -> dict:
    """The last partial result (or what the objective returned), marked failed."""
    base = run.result if run.result is not None else run.ctrl.current_trial.get("result")
    result = dict(base or {})
    result.update(status="fail", failure=message)
    if tb:
        result["traceback"] = tb
    return result


def _finish_failed(run: TrialRun, state: int, exc: BaseException,
                   with_traceback: bool) -> RunOutcome:
    tb = None
    if with_traceback:
        try:
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        except Exception:  # a traceback that cannot be formatted (a broken __repr__, ...)
            tb = f"{type(exc).__name__} (its traceback could not be formatted)"
        tb = tb[-TRACEBACK_CHARS:]
    message = safe_text(exc)
    result = _failure_result(run, message, tb)
    return _finish(run, state, result, error=(str(type(exc)), message))


def _finish(run: TrialRun, state: int, result: dict,
            error: tuple[str, str] | None = None) -> RunOutcome:
    problem = _unstorable(result, run.options.max_result_bytes)
    if problem is not None:
        logger.error("trial %s: %s", run.tid, problem)
        run.result = None  # the returned result cannot be stored: keep the last checkpoint
        result = _failure_result(run, str(problem))
        if _unstorable(result, run.options.max_result_bytes) is not None:
            result = {"status": "fail", "failure": str(problem)}  # the checkpoint neither
        state, error = JOB_STATE_ERROR, (str(type(problem)), str(problem))
    ok = run.store.finish(run.tid, run.owner, state, result, error=error)
    if not ok:
        logger.warning("trial %s: this worker lost its lease before finishing (requeued, "
                       "maybe rerun elsewhere); its result is discarded", run.tid)
        return RunOutcome.LOST
    return _FINAL_WORD[state]


def _unstorable(result: Any, cap: int) -> ResultNotStorable | None:
    """Why ``result`` cannot be stored as a trial's result, or None when it can."""
    try:
        size = len(encode_value(dict(result)))
    except RecursionError:
        return ResultNotStorable("the result cannot be encoded: it contains itself or is "
                                 "nested too deeply; return a flat dict of numbers and "
                                 "strings, and save large structures as attachments")
    except Exception as exc:  # UnencodableValue, msgpack's own limits, a broken mapping
        return ResultNotStorable(f"the result cannot be encoded: {safe_text(exc)}")
    if size > cap:
        return ResultNotStorable(f"the result is {size} bytes encoded, over max_result_bytes "
                                 f"({cap}); return less, save the rest as attachments "
                                 "(ctrl.attachments[name] = data), or raise max_result_bytes")
    return None
