"""LightGBM callback: report a validation metric every boosting round, prune when told.

Example:
    >>> import numpy as np, lightgbm as lgb  # doctest: +SKIP
    >>> cb = LightGBMPruning(ctrl, metric="binary_logloss", data="valid")  # doctest: +SKIP
    >>> lgb.train(params, train, valid_sets=[valid], valid_names=["valid"],
    ...           callbacks=[cb])  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import pick, report_round

if TYPE_CHECKING:
    from ..ctrl import Ctrl


class LightGBMPruning:
    """A ``lightgbm.train`` callback (see the module docstring).

    ``metric``/``data`` choose the reported value (default: the last metric of the last
    validation set); metrics LightGBM marks higher-is-better are negated, so lower is better.
    """

    order = 30  # after LightGBM's own evaluation logging
    before_iteration = False

    def __init__(self, ctrl: Ctrl, metric: str | None = None, data: str | None = None) -> None:
        self.ctrl, self.metric, self.data = ctrl, metric, data

    def __call__(self, env: Any) -> None:
        session = getattr(self.ctrl, "pruning", None)
        if session is not None and env.iteration == env.begin_iteration:
            session.set_length(env.end_iteration - env.begin_iteration)
        results: dict[str, dict[str, Any]] = {}
        higher: dict[tuple[str, str], bool] = {}
        for entry in env.evaluation_result_list or []:
            data, name, value, is_higher_better = entry[:4]
            results.setdefault(data, {})[name] = value
            higher[(data, name)] = bool(is_higher_better)
        data, name, value = pick(results, self.data, self.metric)
        report_round(self.ctrl, value, env.iteration + 1, higher[(data, name)],
                     f"LightGBM {data} {name}")
