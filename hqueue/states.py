"""Trial states and result statuses.

Enums for new code, plus hyperopt's module-level constants (same values) for old code.

Example:
    >>> from hqueue.states import TrialState, JOB_STATE_DONE, STATUS_OK
    >>> TrialState(JOB_STATE_DONE) is TrialState.DONE
    True
    >>> STATUS_OK
    'ok'
"""

from __future__ import annotations

import enum


class TrialState(enum.IntEnum):
    """Life cycle of a trial document (``doc['state']``)."""

    NEW = 0
    RUNNING = 1
    DONE = 2
    ERROR = 3
    CANCEL = 4


class TrialStatus(str, enum.Enum):
    """Outcome an objective reports in ``result['status']``."""

    NEW = "new"
    RUNNING = "running"
    SUSPENDED = "suspended"
    OK = "ok"
    FAIL = "fail"
    PRUNED = "pruned"  # stopped early by a pruner; not a failure (hqueue only)


class _Word(str, enum.Enum):
    """A str-valued enum that prints as its word (``"%s" % x``, f-strings, ``str(x)``), on
    every Python hqueue supports; equal to (and hashed as) that string."""

    def __str__(self) -> str:
        return self.value


class CancelOutcome(_Word):
    """What cancelling a trial did (``TrialBackend.cancel``, ``TrialStore.cancel``).

    Example:
        >>> CancelOutcome.STOPPING == "stopping", f"{CancelOutcome.CANCELLED}"
        (True, 'cancelled')
    """

    CANCELLED = "cancelled"  # it was queued: now CANCEL
    STOPPING = "stopping"  # it is running: its ctrl.should_stop() turns True
    FINISHED = "finished"  # it had already ended (or is unknown): nothing changed


class RunOutcome(_Word):
    """How a worker's handling of one delivered task ended (``worker.run_trial``'s return,
    logged per trial).

    Example:
        >>> RunOutcome("requeued") is RunOutcome.REQUEUED
        True
    """

    DONE = "done"  # the result is stored
    ERROR = "error"  # ERROR with its reason
    DROPPED = "dropped"  # a duplicate delivery, or the trial was not NEW: not run
    LOST = "lost"  # the lease was lost (requeued or finished elsewhere): nothing written
    CANCELLED = "cancelled"  # stopped on request: CANCEL
    RELEASED = "released"  # handed back unfinished at a worker's shutdown: NEW again
    REQUEUED = "requeued"  # could not be concluded: NEW again with the attempt counted


JOB_STATE_NEW = TrialState.NEW.value
JOB_STATE_RUNNING = TrialState.RUNNING.value
JOB_STATE_DONE = TrialState.DONE.value
JOB_STATE_ERROR = TrialState.ERROR.value
JOB_STATE_CANCEL = TrialState.CANCEL.value
JOB_STATES = [JOB_STATE_NEW, JOB_STATE_RUNNING, JOB_STATE_DONE, JOB_STATE_ERROR, JOB_STATE_CANCEL]
JOB_VALID_STATES = {JOB_STATE_NEW, JOB_STATE_RUNNING, JOB_STATE_DONE}

STATUS_NEW = TrialStatus.NEW.value
STATUS_RUNNING = TrialStatus.RUNNING.value
STATUS_SUSPENDED = TrialStatus.SUSPENDED.value
STATUS_OK = TrialStatus.OK.value
STATUS_FAIL = TrialStatus.FAIL.value
STATUS_PRUNED = TrialStatus.PRUNED.value
# hyperopt's tuple, unchanged: objectives end pruned trials by raising TrialPruned
STATUS_STRINGS = ("new", "running", "suspended", "ok", "fail")
