"""``hqueue.base``: hyperopt's ``base`` module names (Trials, Domain, Ctrl, constants, helpers).

Example:
    >>> from hqueue.base import Trials, JOB_STATE_DONE, STATUS_OK
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import pyll
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
from .validate import validate_loss_threshold, validate_timeout


def pmin_sampled(mean: Any, var: Any, n_samples: int = 1000,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """Probability that each of several independent normal variables is the smallest,
    estimated from ``n_samples`` joint draws (hyperopt's ``base.pmin_sampled``).

    Example:
        >>> pmin_sampled(np.array([0.0, 10.0]), np.array([1.0, 1.0])).tolist()
        [1.0, 0.0]
    """
    mean, var = np.asarray(mean, dtype=float), np.asarray(var, dtype=float)
    rng = np.random.default_rng(232342) if rng is None else rng
    draws = rng.standard_normal((n_samples, len(mean))) * np.sqrt(var) + mean
    wins = (draws == draws.min(axis=1, keepdims=True)).sum(axis=0)
    return wins.astype(float) / wins.sum()

__all__ = [
    "AllTrialsFailed", "Ctrl", "Domain", "DuplicateLabel", "InvalidLoss", "InvalidResultStatus",
    "InvalidTrial", "JOB_STATES", "JOB_STATE_CANCEL", "JOB_STATE_DONE", "JOB_STATE_ERROR",
    "JOB_STATE_NEW", "JOB_STATE_RUNNING", "JOB_VALID_STATES", "SONify", "STATUS_FAIL",
    "STATUS_NEW", "STATUS_OK", "STATUS_RUNNING", "STATUS_STRINGS", "STATUS_SUSPENDED",
    "StopExperiment", "TRIAL_KEYS", "TRIAL_MISC_KEYS", "TrialState", "TrialStatus", "Trials",
    "miscs_to_idxs_vals", "miscs_update_idxs_vals", "pmin_sampled", "pyll", "sonify",
    "spec_from_misc",
    "trials_from_docs", "validate_loss_threshold", "validate_timeout",
]
