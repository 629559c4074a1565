"""XGBoost callback: report a validation metric every boosting round, prune when told.

Example:
    >>> cb = XGBoostPruning(ctrl, metric="logloss", data="valid")  # doctest: +SKIP
    >>> xgboost.train(params, dtrain, evals=[(dvalid, "valid")], callbacks=[cb])  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..exceptions import HqueueError
from . import higher_is_better, pick, report_round

if TYPE_CHECKING:
    from ..ctrl import Ctrl

try:
    import xgboost

    _Callback: Any = xgboost.callback.TrainingCallback
except ImportError:  # hqueue does not depend on xgboost
    xgboost = None
    _Callback = object


class XGBoostPruning(_Callback):
    """An ``xgboost.train`` callback (see the module docstring).

    ``metric``/``data`` choose the reported value (default: the last metric of the last
    ``evals`` entry); ``maximize`` defaults to True for metrics like ``auc`` and ``ndcg``,
    whose values are then negated so that lower is better.
    """

    def __init__(self, ctrl: Ctrl, metric: str | None = None, data: str | None = None,
                 maximize: bool | None = None) -> None:
        if xgboost is None:
            raise HqueueError("XGBoostPruning needs xgboost: pip install xgboost")
        super().__init__()
        self.ctrl, self.metric, self.data, self.maximize = ctrl, metric, data, maximize

    def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
        latest = {d: {m: v[-1] for m, v in ms.items()} for d, ms in evals_log.items()}
        data, name, value = pick(latest, self.data, self.metric)
        if isinstance(value, tuple):  # xgboost.cv logs (mean, std)
            value = value[0]
        maximize = higher_is_better(name) if self.maximize is None else self.maximize
        report_round(self.ctrl, value, epoch + 1, maximize, f"XGBoost {data} {name}")
        return False
