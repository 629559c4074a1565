"""A ``Ctrl`` made by hand, as a training loop's callback sees it, for tests that drive
``ctrl.report`` / ``ctrl.should_prune`` without ``fmin``.

Example:
    ctrl = pruning_ctrl(Threshold(upper=0.5))
    ctrl.report(0.9, step=1)
    assert ctrl.should_prune()
"""

from __future__ import annotations

from hqueue import Ctrl, Trials
from hqueue.pruners import MemoryRungs, Pruner, PruningSession


def new_trials(n: int = 1) -> Trials:
    """In-memory Trials holding ``n`` NEW trials (tids 0..n-1) with empty points."""
    trials = Trials()
    tids = list(range(n))
    docs = trials.new_trial_docs(tids, [None] * n, [{"status": "new"}] * n,
                                 [{"tid": t, "cmd": None, "workdir": None, "idxs": {},
                                   "vals": {}} for t in tids])
    trials.insert_trial_docs(docs)
    trials.refresh()
    return trials


def pruning_ctrl(pruner: Pruner) -> Ctrl:
    """The ctrl of trial 0 of :func:`new_trials`, judged by ``pruner`` on in-memory rungs."""
    trials = new_trials(1)
    return Ctrl(trials, trials.trials[0], pruning=PruningSession(pruner, MemoryRungs(), 0))
