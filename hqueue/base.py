"""``hqueue.base``: hyperopt's ``base`` module names (Trials, Domain, Ctrl, constants, ...).

Example:
    >>> from hqueue.base import Trials, JOB_STATE_DONE, STATUS_OK
"""

from __future__ import annotations

from .ctrl import Ctrl
from .domain import Domain
from .exceptions import (
    AllTrialsFailed,
    DuplicateLabel,
    InvalidLoss,
    InvalidResultStatus,
    InvalidTrial,
)
from .fmin import STOP_EXPERIMENT as StopExperiment
from .fmin import spec_from_misc
from .states import (
    JOB_STATE_CANCEL,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    JOB_STATES,
    JOB_VALID_STATES,
    STATUS_FAIL,
    STATUS_NEW,
    STATUS_OK,
    STATUS_RUNNING,
    STATUS_STRINGS,
    STATUS_SUSPENDED,
    TrialState,
    TrialStatus,
)
from .trial_doc import TRIAL_KEYS, TRIAL_MISC_KEYS, SONify, sonify
from .trials import Trials, miscs_to_idxs_vals, miscs_update_idxs_vals, trials_from_docs

__all__ = [
    "AllTrialsFailed", "Ctrl", "Domain", "DuplicateLabel", "InvalidLoss", "InvalidResultStatus",
    "InvalidTrial", "JOB_STATES", "JOB_STATE_CANCEL", "JOB_STATE_DONE", "JOB_STATE_ERROR",
    "JOB_STATE_NEW", "JOB_STATE_RUNNING", "JOB_VALID_STATES", "SONify", "STATUS_FAIL",
    "STATUS_NEW", "STATUS_OK", "STATUS_RUNNING", "STATUS_STRINGS", "STATUS_SUSPENDED",
    "StopExperiment", "TRIAL_KEYS", "TRIAL_MISC_KEYS", "TrialState", "TrialStatus", "Trials",
    "miscs_to_idxs_vals", "miscs_update_idxs_vals", "sonify", "spec_from_misc",
    "trials_from_docs",
]
