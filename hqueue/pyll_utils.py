"""``hqueue.pyll_utils``: hyperopt's ``pyll_utils`` names: the ``hp_*`` constructors, their
argument checks, and :func:`expr_to_config` (the hyperparameters of a space and the choice
conditions under which each one is active).

Example:
    >>> from hqueue import hp
    >>> hps = {}
    >>> expr_to_config(hp.choice("a", [0, hp.uniform("b", 0, 1)]), (True,), hps)
    >>> hps["b"]["conditions"]
    {(True, Cond{a = 1})}
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from .exceptions import DuplicateLabel
from .pyll.base import Apply, Literal, MissingArgument, as_apply, hyperopt_param
from .space.hp import choice as hp_choice
from .space.hp import lognormal as hp_lognormal
from .space.hp import loguniform as hp_loguniform
from .space.hp import normal as hp_normal
from .space.hp import pchoice as hp_pchoice
from .space.hp import qlognormal as hp_qlognormal
from .space.hp import qloguniform as hp_qloguniform
from .space.hp import qnormal as hp_qnormal
from .space.hp import quniform as hp_quniform
from .space.hp import randint as hp_randint
from .space.hp import uniform as hp_uniform
from .space.hp import uniformint as hp_uniformint

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "EQ", "Cond", "expr_to_config", "hp_choice", "hp_lognormal", "hp_loguniform", "hp_normal",
    "hp_pchoice", "hp_qlognormal", "hp_qloguniform", "hp_qnormal", "hp_quniform", "hp_randint",
    "hp_uniform", "hp_uniformint", "hyperopt_param", "validate_distribution_range",
    "validate_label",
]


def validate_label(f: F) -> F:
    """Decorator: the first argument must be a string label (or a string :class:`Literal`)."""

    @functools.wraps(f)
    def wrapper(label: Any, *args: Any, **kwargs: Any) -> Any:
        text = label.obj if isinstance(label, Literal) else label
        if not isinstance(text, (str, bytes)):
            raise TypeError(f"require string label, got {label!r}")
        return f(label, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def validate_distribution_range(f: F) -> F:
    """Decorator: ``low`` (2nd argument) must be below ``high`` (3rd), when both are given.

    Example:
        >>> @validate_distribution_range
        ... def dist(label, low, high):
        ...     return low, high
        >>> dist("x", 2, 1)
        Traceback (most recent call last):
        ...
        ValueError: low should be less than high: 2 is not smaller than 1
    """

    @functools.wraps(f)
    def wrapper(label: Any, *args: Any, **kwargs: Any) -> Any:
        low = args[0] if len(args) > 0 else kwargs.get("low")
        high = args[1] if len(args) > 1 else kwargs.get("high")
        if low is not None and high is not None and not isinstance(low, Apply) \
                and not isinstance(high, Apply) and not low < high:
            raise ValueError(f"low should be less than high: {low} is not smaller than {high}")
        return f(label, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Cond:
    """A condition ``name op val`` on a choice's index (``EQ("a", 1)``: choice a took option 1).
    """

    def __init__(self, name: str, val: Any, op: str) -> None:
        self.op, self.name, self.val = op, name, val

    def __str__(self) -> str:
        return f"Cond{{{self.name} {self.op} {self.val}}}"

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cond) and (self.op, self.name, self.val) == (
            other.op, other.name, other.val)

    def __hash__(self) -> int:
        return hash((self.op, self.name, self.val))


EQ = functools.partial(Cond, op="=")


def _walk(expr: Apply, conditions: tuple, hps: dict[str, dict]) -> None:
    if expr.name == "switch":
        index, *options = expr.inputs()
        if index.name != "hyperopt_param" or index.arg["obj"].name not in (
                "randint", "categorical"):
            raise TypeError("expr_to_config: a switch must be indexed by hp.choice/pchoice")
        _walk(index, conditions, hps)
        label = index.arg["label"].obj
        for i, option in enumerate(options):
            _walk(option, (*conditions, EQ(label, i)), hps)
    elif expr.name == "hyperopt_param":
        label, node = expr.arg["label"].obj, expr.arg["obj"]
        if label in hps:
            if hps[label]["node"] is not node:
                raise DuplicateLabel(label)
            hps[label]["conditions"].add(conditions)
        else:
            hps[label] = {"node": node, "conditions": {conditions}, "label": label}
    else:
        for child in expr.inputs():
            _walk(child, conditions, hps)


def _all_options(node: Apply, label: str) -> frozenset[Cond] | None:
    """Every ``EQ(label, i)`` of a choice's index distribution, or None for other nodes."""
    if node.name == "randint":
        low, high = node.arg["low"].obj, node.arg["high"]
        n = low if high is MissingArgument or high.obj is None else high.obj - low
    elif node.name == "categorical":
        n = len(node.arg["p"].obj)
    else:
        return None
    return frozenset(EQ(label, i) for i in range(n))


def _remove_allpaths(hps: dict[str, dict], conditions: tuple) -> None:
    """A parameter reached under every option of one choice is unconditional."""
    options = {k: _all_options(v["node"], k) for k, v in hps.items()}
    for v in hps.values():
        if len(v["conditions"]) <= 1:
            continue
        conds = [[c for c in cond if c is not True] for cond in v["conditions"]]
        conds = [c for c in conds if c]
        if not conds:
            v["conditions"] = {conditions}
            continue
        var = conds[0][0].name
        if all(len(c) == 1 and c[0].name == var for c in conds) and \
                frozenset(c[0] for c in conds) == options.get(var):
            v["conditions"] = {conditions}


def expr_to_config(expr: Any, conditions: tuple | None, hps: dict[str, dict]) -> None:
    """Fill ``hps`` with ``label -> {"node", "conditions", "label"}`` for each hyperparameter.

    ``conditions`` is the tuple every condition starts from (hyperopt passes ``(True,)``);
    each hyperparameter gets the set of condition tuples (one per path reaching it) under
    which it is evaluated. Two different hyperparameters with one label raise
    :class:`~hqueue.exceptions.DuplicateLabel`.
    """
    expr = as_apply(expr)
    conditions = () if conditions is None else conditions
    _walk(expr, conditions, hps)
    _remove_allpaths(hps, conditions)
