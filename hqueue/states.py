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
