"""hqueue: hyperopt's API with a faster TPE, and distributed search over Celery and Redis.

Code written for hyperopt runs with ``hyperopt`` replaced by ``hqueue``.

Example:
    >>> import numpy as np
    >>> from hqueue import fmin, hp, tpe
    >>> best = fmin(lambda x: (x - 2) ** 2, hp.uniform("x", -5, 5), algo=tpe.suggest,
    ...             max_evals=30, rstate=np.random.default_rng(1), show_progressbar=False)
    >>> abs(best["x"] - 2) < 1
    True
"""

from __future__ import annotations

from . import exceptions, hp, pyll, pyll_utils, rand, utils
from .backends.redis.trials import RedisTrials  # imports no Redis client until used
from .ctrl import Ctrl
from .domain import Domain
from .exceptions import AllTrialsFailed, HqueueError, TrialPruned
from .fmin import (
    fmin,
    fmin_pass_expr_memo_ctrl,
    generate_trials_to_calculate,
    partial,
    space_eval,
)
from .lazy import lazy_submodules
from .states import (
    JOB_STATE_CANCEL,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    JOB_STATES,
    STATUS_FAIL,
    STATUS_NEW,
    STATUS_OK,
    STATUS_PRUNED,
    STATUS_RUNNING,
    STATUS_STRINGS,
    STATUS_SUSPENDED,
    TrialState,
    TrialStatus,
)
from .trials import Trials, trials_from_docs

__version__ = "0.1.0"

# anneal, atpe, criteria, mix and tpe pull in SciPy: imported on first use (hqueue.lazy)
__getattr__, __dir__ = lazy_submodules(__name__, {"anneal", "atpe", "criteria", "mix", "tpe"},
                                       globals())

__all__ = [
    "AllTrialsFailed", "Ctrl", "Domain", "HqueueError", "JOB_STATE_CANCEL", "JOB_STATE_DONE",
    "JOB_STATE_ERROR", "JOB_STATE_NEW", "JOB_STATE_RUNNING", "JOB_STATES", "RedisTrials",
    "STATUS_FAIL", "STATUS_NEW",
    "STATUS_OK", "STATUS_PRUNED", "STATUS_RUNNING", "STATUS_STRINGS", "STATUS_SUSPENDED",
    "TrialState", "TrialPruned", "TrialStatus", "Trials", "anneal", "atpe", "criteria",
    "exceptions", "fmin", "fmin_pass_expr_memo_ctrl",
    "generate_trials_to_calculate", "hp", "mix", "partial", "pyll", "pyll_utils", "rand",
    "space_eval", "tpe", "utils",
    "trials_from_docs",
]
