"""One-line pruning for existing training loops: callbacks for LightGBM and XGBoost (tested
against the libraries), Keras and PyTorch Lightning (recipes tested with fake training loops:
those libraries do not install cheaply here).

Each callback reports the chosen validation metric after every round or epoch through
``ctrl.report`` and raises :class:`hqueue.TrialPruned` when ``ctrl.should_prune()``. The
modules import their library only when used; hqueue does not depend on either.

Example:
    from hqueue.integrations.lgbm import LightGBMPruning
    booster = lightgbm.train(params, train_set, valid_sets=[valid],
                             callbacks=[LightGBMPruning(ctrl, "binary_logloss")])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..exceptions import BadArgument, TrialPruned

if TYPE_CHECKING:
    from ..ctrl import Ctrl

#: metric names (or prefixes) where higher is better; their values are negated when reported
HIGHER_IS_BETTER = ("auc", "aucpr", "map", "ndcg", "pre", "average_precision")


def higher_is_better(metric: str) -> bool:
    """True for metrics such as ``auc`` or ``ndcg@5`` that are maximized.

    Example:
        >>> higher_is_better("ndcg@5"), higher_is_better("logloss")
        (True, False)
    """
    name = metric.split("@")[0].split("-")[0]
    return name in HIGHER_IS_BETTER


def report_round(ctrl: Ctrl, value: float, step: int, maximize: bool, where: str) -> None:
    """Report one round's metric (negated when maximized) and raise TrialPruned if told to."""
    ctrl.report(-float(value) if maximize else float(value), step=step)
    if ctrl.should_prune():
        raise TrialPruned(f"pruned after step {step} ({where})")


def pick(results: Mapping[str, Mapping[str, Any]], data: str | None,
         metric: str | None) -> tuple[str, str, Any]:
    """``(data, metric, value)`` from ``{data: {metric: value}}``: the requested pair, or the
    last metric of the last data set (the validation set libraries list last)."""
    if not results:
        raise BadArgument("no evaluation results: pass a validation set to the training call")
    data = data if data is not None else list(results)[-1]
    if data not in results:
        raise BadArgument(f"no evaluation data named {data!r}; have {sorted(results)}")
    metrics = results[data]
    metric = metric if metric is not None else list(metrics)[-1]
    if metric not in metrics:
        raise BadArgument(f"no metric {metric!r} on {data!r}; have {sorted(metrics)}")
    return data, metric, metrics[metric]


def report_monitored(ctrl: Ctrl, metrics: Mapping[str, Any], monitor: str, step: int,
                     maximize: bool, where: str) -> None:
    """Report ``metrics[monitor]`` (a float, or a 0-d tensor/array) at ``step`` through
    :func:`report_round`; BadArgument naming the logged metrics when ``monitor`` is absent.

    Example:
        >>> report_monitored(None, {"loss": 1.0}, "val_loss", 1, False, "Keras")
        Traceback (most recent call last):
          ...
        hqueue.exceptions.BadArgument: Keras logged no metric 'val_loss' at step 1; have ['loss'] (pass validation data, or monitor= one of these)
    """  # noqa: E501
    if monitor not in metrics:
        raise BadArgument(f"{where} logged no metric {monitor!r} at step {step}; have "
                          f"{sorted(metrics)} (pass validation data, or monitor= one of these)")
    value = metrics[monitor]
    value = value.item() if hasattr(value, "item") else value
    report_round(ctrl, float(value), step, maximize, f"{where} {monitor}")
