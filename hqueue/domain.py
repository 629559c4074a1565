"""The :class:`Domain`: an objective function plus its compiled search space.

It turns a trial's ``{label: value}`` point into the configuration the objective receives,
calls the objective, and validates what comes back into a result dict, with errors that say
what to return instead.

Example:
    >>> from hqueue import hp, Trials, Ctrl
    >>> domain = Domain(lambda cfg: cfg["x"] ** 2, {"x": hp.uniform("x", -1, 1)})
    >>> domain.evaluate({"x": 0.5}, Ctrl(Trials()))
    {'loss': 0.25, 'status': 'ok'}
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .exceptions import InvalidLoss, InvalidObjective, InvalidResultStatus
from .pyll.base import Apply, GarbageCollected, rec_eval
from .space.compiled import CompiledSpace
from .states import STATUS_FAIL, STATUS_NEW, STATUS_OK, STATUS_STRINGS

if TYPE_CHECKING:
    from .ctrl import Ctrl

logger = logging.getLogger(__name__)

#: a user's search space: hp expressions nested in dicts, lists and tuples (or one ``Apply``)
SearchSpace = Any
#: a configuration the objective receives: the space with each expression replaced by its
#: value (arbitrary user data)
Config = Any

_RETURN_HINT = ("return a float loss, or a dict like {'loss': 0.1, 'status': STATUS_OK} "
                "(or {'status': STATUS_FAIL} for a failed evaluation)")


class Domain:
    """An objective function and the search space it is evaluated on."""

    rec_eval_print_node_on_error = False

    def __init__(self, fn: Callable, expr: SearchSpace, workdir: str | None = None,
                 pass_expr_memo_ctrl: bool | None = None, name: str | None = None,
                 loss_target: float | None = None) -> None:
        if not callable(fn):
            raise InvalidObjective(f"the objective must be callable, got {fn!r} "
                                   f"({type(fn).__name__})")
        self.fn = fn
        if pass_expr_memo_ctrl is None:
            pass_expr_memo_ctrl = getattr(fn, "fmin_pass_expr_memo_ctrl", False)
        self.pass_expr_memo_ctrl = bool(pass_expr_memo_ctrl)
        self.space = expr if isinstance(expr, CompiledSpace) else CompiledSpace(expr)
        self.expr: Apply = self.space.expr
        self.params: dict[str, Apply] = {p.label: p.node for p in self.space.params}
        self.workdir = workdir
        self.name = name
        self.loss_target = loss_target
        self.cmd = ("domain_attachment", "FMinIter_Domain")

    def memo_from_config(self, config: Mapping[str, Any]) -> dict[Apply, Any]:
        """A memo for ``pyll.rec_eval``: hyperparameter nodes mapped to the trial's values."""
        return {node: config.get(label, GarbageCollected) for label, node in self.params.items()}

    def config(self, values: Mapping[str, Any]) -> Config:
        """The configuration (objective argument) for one point."""
        return self.space.build(values)

    def evaluate(self, config: Mapping[str, Any], ctrl: Ctrl,
                 attach_attachments: bool = True) -> dict:
        """Call the objective on the point ``config`` ({label: value}); returns the result."""
        if self.pass_expr_memo_ctrl:
            rval = self.fn(expr=self.expr, memo=self.memo_from_config(config), ctrl=ctrl)
        else:
            rval = self.fn(self.space.build(config))
        result = validate_result(rval, tid=_tid(ctrl))
        if attach_attachments and "attachments" in result:
            for key, val in result.pop("attachments").items():
                ctrl.attachments[key] = val
        return result

    def evaluate_graph(self, config: Mapping[str, Any]) -> Config:
        """The configuration computed by the generic graph evaluator (for checks)."""
        return rec_eval(self.expr, memo=self.memo_from_config(config))

    def short_str(self, config: Mapping[str, Any]) -> str:
        return f"Domain{{{self.fn}}}"

    def loss(self, result: Mapping, config: Any = None) -> float | None:
        """The loss of a result (None when it has none)."""
        return result.get("loss", None)

    def loss_variance(self, result: Mapping, config: Any = None) -> float:
        return result.get("loss_variance", 0.0)

    def true_loss(self, result: Mapping, config: Any = None) -> float | None:
        return result.get("true_loss", self.loss(result, config))

    def true_loss_variance(self, result: Mapping, config: Any = None) -> float:
        return result.get("true_loss_variance", 0.0)

    def status(self, result: Mapping, config: Any = None) -> str:
        return result["status"]

    def new_result(self) -> dict:
        return {"status": STATUS_NEW}


def _tid(ctrl: Ctrl) -> int | str | None:
    trial = getattr(ctrl, "current_trial", None)
    return trial.get("tid") if type(trial) is dict or isinstance(trial, Mapping) else None


def validate_result(rval: Any, tid: int | str | None = None) -> dict:
    """Turn an objective's return value into a result dict, or raise a clear error.

    Example:
        >>> validate_result(0.5)
        {'loss': 0.5, 'status': 'ok'}
    """
    where = f" (trial {tid})" if tid is not None else ""
    if type(rval) is float or (isinstance(rval, numbers.Real) and not isinstance(rval, bool)):
        result = {"loss": float(rval), "status": STATUS_OK}
    elif isinstance(rval, Mapping):
        result = dict(rval)
    elif rval is None:
        raise InvalidObjective(f"the objective returned None{where}; {_RETURN_HINT}")
    elif hasattr(rval, "__float__") and getattr(rval, "ndim", 0) == 0 \
            and not isinstance(rval, (str, bytes)):
        result = {"loss": float(rval), "status": STATUS_OK}
    else:
        raise InvalidObjective(
            f"the objective returned {type(rval).__name__} {str(rval)[:80]!r}{where}; "
            f"{_RETURN_HINT}"
        )
    status = result.get("status")
    if status not in STATUS_STRINGS:
        msg = (f"the objective's result has no 'status' key{where}: {str(result)[:200]}; "
               if "status" not in result else
               f"invalid status {status!r}{where}; use one of {STATUS_STRINGS}; ")
        raise InvalidResultStatus(result, msg + _RETURN_HINT)
    if status == STATUS_OK:
        if "loss" not in result or result["loss"] is None:
            raise InvalidLoss(result, f"a STATUS_OK result needs a 'loss'{where}: "
                                      f"{str(result)[:200]}; {_RETURN_HINT}")
        try:
            loss = float(result["loss"])
        except (TypeError, ValueError):
            raise InvalidLoss(result, f"loss {result['loss']!r} is not a number{where}; "
                                      f"{_RETURN_HINT}") from None
        if math.isnan(loss):
            # a diverged run is an outcome, not a crash: recorded (as hyperopt does), never
            # counted as the best trial, and reported once so the user can mark it failed
            logger.warning("the objective returned a NaN loss%s: the trial is kept but never "
                           "counts as best; return {'status': STATUS_FAIL} to mark failed "
                           "evaluations explicitly", where)
        result["loss"] = loss
    elif status == STATUS_FAIL and result.get("loss") is not None:
        result["loss"] = float(result["loss"])
    return result
