"""Pruners: stop unpromising trials early from their intermediate values.

Inside an objective, report a value per epoch and ask whether to go on::

    from hqueue import TrialPruned, fmin, fmin_pass_expr_memo_ctrl
    from hqueue.pruners import SuccessiveHalving

    @fmin_pass_expr_memo_ctrl
    def objective(expr, memo, ctrl):
        config = rec_eval(expr, memo=memo)
        for epoch in ctrl.epochs(27):  # raises TrialPruned when the pruner says stop
            ctrl.report(train_one_epoch(config), step=epoch)
        return validation_loss()

    fmin(objective, space, max_evals=100, pruner=SuccessiveHalving(max_resource=27))

Pruners: :class:`SuccessiveHalving` (ASHA, the default), :class:`Hyperband`,
:class:`Median`, :class:`Percentile`, :class:`Threshold`, :class:`Patience`,
:class:`NoPruner`. Their rules are plain functions in :mod:`hqueue.pruners.rules`.

Example:
    >>> isinstance(default_pruner(), SuccessiveHalving)
    True
"""

from __future__ import annotations

from .base import NoPruner, Pruner
from .halving import ASHA, Hyperband, SuccessiveHalving
from .percentile import Median, Percentile
from .session import PruningSession, learning_curve, pruned_result
from .spec import UnknownPruner, dumps_spec, loads_spec
from .storage import MemoryRungs, RungSnapshot, RungStorage
from .threshold import Patience, Threshold


def default_pruner() -> Pruner:
    """The pruner used when ``should_prune()`` is called and none was given: ASHA, eta 3."""
    return SuccessiveHalving()


__all__ = [
    "ASHA", "Hyperband", "Median", "MemoryRungs", "NoPruner", "Patience", "Percentile",
    "Pruner", "PruningSession", "RungSnapshot", "RungStorage", "SuccessiveHalving",
    "Threshold", "UnknownPruner", "default_pruner", "dumps_spec", "learning_curve",
    "loads_spec", "pruned_result",
]
