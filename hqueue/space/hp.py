"""The ``hp`` constructors: hyperopt's twelve hyperparameter types, validated up front.

Every constructor returns an expression node (see :mod:`hqueue.pyll`) with hyperopt's
structure and return types: numeric ones evaluate to ``float``, ``randint``/``uniformint``
and choice indices to ``int``. Bad arguments raise :class:`~hqueue.exceptions.BadSearchSpace`
naming the label and the fix.

Example:
    >>> from hqueue import hp
    >>> from hqueue.pyll.stochastic import sample
    >>> space = {"lr": hp.loguniform("lr", -7, 0), "act": hp.choice("act", ["relu", "tanh"])}
    >>> sorted(sample(space))
    ['act', 'lr']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..exceptions import BadSearchSpace
from ..pyll.base import Apply, scope

__all__ = [
    "choice", "pchoice", "uniform", "quniform", "loguniform", "qloguniform", "normal",
    "qnormal", "lognormal", "qlognormal", "randint", "uniformint",
]


def _check_label(label: Any) -> str:
    if not isinstance(label, str):
        raise TypeError(f"hyperparameter label must be a string, got {label!r}")
    return label


def _number(label: str, name: str, value: Any) -> Any:
    """A finite real number, or an expression node (validated later by the compiler)."""
    if isinstance(value, Apply):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(
        value, "__float__"
    ):
        raise BadSearchSpace(f"hyperparameter {label!r}: {name} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise BadSearchSpace(f"hyperparameter {label!r}: {name} must be finite, got {value!r}")
    return value


def _bounds(label: str, low: Any, high: Any, hint: str = "") -> None:
    _number(label, "low", low)
    _number(label, "high", high)
    if not isinstance(low, Apply) and not isinstance(high, Apply) and low >= high:
        raise BadSearchSpace(
            f"low should be less than high: {low} is not smaller than {high}. "
            f"hyperparameter {label!r}: low ({low}) must be below high ({high}); "
            f"swap them or widen the range{hint}"
        )


def _positive(label: str, name: str, value: Any, fix: str) -> None:
    _number(label, name, value)
    if not isinstance(value, Apply) and value <= 0:
        raise BadSearchSpace(f"hyperparameter {label!r}: {name} must be > 0, got {value}; {fix}")


_LOG_HINT = " (loguniform bounds are logs: hp.loguniform('lr', math.log(1e-5), math.log(1)))"


def uniform(label: str, low: float, high: float) -> Apply:
    """A float drawn uniformly from ``[low, high]``."""
    _check_label(label)
    _bounds(label, low, high)
    return scope.float(scope.hyperopt_param(label, scope.uniform(low, high)))


def quniform(label: str, low: float, high: float, q: float) -> Apply:
    """``round(uniform(low, high) / q) * q``, as a float."""
    _check_label(label)
    _bounds(label, low, high)
    _positive(label, "q", q, "q is the step between values, e.g. q=1 for whole numbers")
    return scope.float(scope.hyperopt_param(label, scope.quniform(low, high, q)))


def loguniform(label: str, low: float, high: float, *extra: Any) -> Apply:
    """``exp(uniform(low, high))``: a positive float whose log is uniform.

    hyperopt accepts (and misuses) a fourth argument; here it is an error that points to
    :func:`qloguniform`, raised after the bounds are checked as hyperopt checks them.
    """
    _check_label(label)
    _bounds(label, low, high, _LOG_HINT)
    if extra:
        raise BadSearchSpace(
            f"hyperparameter {label!r}: hp.loguniform takes (label, low, high), got the extra "
            f"argument(s) {extra!r}; for a step use hp.qloguniform(label, low, high, q)"
        )
    return scope.float(scope.hyperopt_param(label, scope.loguniform(low, high)))


def qloguniform(label: str, low: float, high: float, q: float) -> Apply:
    """``round(exp(uniform(low, high)) / q) * q``."""
    _check_label(label)
    _bounds(label, low, high, _LOG_HINT)
    _positive(label, "q", q, "q is the step between values, e.g. q=1 for whole numbers")
    return scope.float(scope.hyperopt_param(label, scope.qloguniform(low, high, q)))


def normal(label: str, mu: float, sigma: float) -> Apply:
    """A normally distributed float."""
    _check_label(label)
    _number(label, "mu", mu)
    _positive(label, "sigma", sigma, "sigma is the standard deviation")
    return scope.float(scope.hyperopt_param(label, scope.normal(mu, sigma)))


def qnormal(label: str, mu: float, sigma: float, q: float) -> Apply:
    """``round(normal(mu, sigma) / q) * q``."""
    _check_label(label)
    _number(label, "mu", mu)
    _positive(label, "sigma", sigma, "sigma is the standard deviation")
    _positive(label, "q", q, "q is the step between values")
    return scope.float(scope.hyperopt_param(label, scope.qnormal(mu, sigma, q)))


def lognormal(label: str, mu: float, sigma: float) -> Apply:
    """``exp(normal(mu, sigma))``: a positive float."""
    _check_label(label)
    _number(label, "mu", mu)
    _positive(label, "sigma", sigma, "sigma is the standard deviation of log(x)")
    return scope.float(scope.hyperopt_param(label, scope.lognormal(mu, sigma)))


def qlognormal(label: str, mu: float, sigma: float, q: float) -> Apply:
    """``round(exp(normal(mu, sigma)) / q) * q``."""
    _check_label(label)
    _number(label, "mu", mu)
    _positive(label, "sigma", sigma, "sigma is the standard deviation of log(x)")
    _positive(label, "q", q, "q is the step between values")
    return scope.float(scope.hyperopt_param(label, scope.qlognormal(mu, sigma, q)))


def randint(label: str, *args: int, **kwargs: int) -> Apply:
    """An int in ``[0, upper)`` (``randint(label, upper)``) or ``[low, high)``.

    No order is assumed between values (think random seeds): use :func:`uniformint` or
    :func:`quniform` when nearby integers behave alike.
    """
    _check_label(label)
    bound = [*args, *kwargs.values()]
    if len(bound) not in (1, 2):
        raise BadSearchSpace(
            f"hyperparameter {label!r}: randint takes (label, upper) or (label, low, high)"
        )
    for name, v in zip(("low", "high") if len(bound) == 2 else ("upper",), bound):
        _number(label, name, v)
    if len(bound) == 1 and not isinstance(bound[0], Apply) and bound[0] <= 0:
        raise BadSearchSpace(f"hyperparameter {label!r}: randint upper must be >= 1, "
                             f"got {bound[0]}")
    if len(bound) == 2:
        _bounds(label, *bound)
    return scope.hyperopt_param(label, scope.randint(*args, **kwargs))


def uniformint(label: str, low: float, high: float, q: float = 1.0) -> Apply:
    """An int uniformly spread over ``[low, high]``, ordered (``int(quniform(...))``)."""
    return scope.int(quniform(label, low, high, q))


def choice(label: str, options: Sequence[Any]) -> Apply:
    """One of ``options`` (nested spaces allowed); params inside become conditional.

    The value recorded in trials (and returned by ``fmin``) is the option's index; use
    ``space_eval`` to turn it back into the option.
    """
    _check_label(label)
    if isinstance(options, (str, bytes, dict)) or not isinstance(options, Sequence):
        raise BadSearchSpace(f"hyperparameter {label!r}: choice options must be a list or "
                             f"tuple, got {type(options).__name__}")
    if len(options) == 0:
        raise BadSearchSpace(f"hyperparameter {label!r}: choice needs at least one option")
    index = scope.hyperopt_param(label, scope.randint(len(options)))
    return scope.switch(index, *options)


def pchoice(label: str, p_options: Sequence[tuple[float, Any]]) -> Apply:
    """Like :func:`choice`, with prior probabilities: ``[(0.8, a), (0.2, b)]``."""
    _check_label(label)
    if not isinstance(p_options, Sequence) or len(p_options) == 0:
        raise BadSearchSpace(f"hyperparameter {label!r}: pchoice needs a non-empty list of "
                             "(probability, option) pairs")
    try:
        p, options = zip(*p_options)
    except (TypeError, ValueError):
        raise BadSearchSpace(f"hyperparameter {label!r}: pchoice takes (probability, option) "
                             "pairs, e.g. [(0.8, 'a'), (0.2, 'b')]") from None
    for prob in p:
        _number(label, "probability", prob)
        if prob < 0:
            raise BadSearchSpace(f"hyperparameter {label!r}: negative probability {prob}")
    if abs(sum(p) - 1.0) > 1e-6:
        raise BadSearchSpace(
            f"hyperparameter {label!r}: pchoice probabilities sum to {sum(p):.6g}, not 1; "
            "rescale them"
        )
    index = scope.hyperopt_param(label, scope.categorical(list(p), upper=len(p)))
    return scope.switch(index, *options)
