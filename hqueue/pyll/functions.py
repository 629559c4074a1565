"""The deterministic functions every expression graph can call (hyperopt's ``pyll.base`` set).

Registered in :data:`~hqueue.pyll.graph.scope` on import; the module-level functions are also
importable from :mod:`hqueue.pyll.base` (``base.bincount``, ``base.asarray``, ...).

Example:
    >>> from hqueue.pyll.base import rec_eval, scope
    >>> rec_eval(scope.str_join("-", ["a", "b"]))
    'a-b'
"""

from __future__ import annotations

import builtins
import copy
import math
import operator
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .graph import Apply, apply, scope
from .symbols import SymbolTableEntry
from .traverse import Lambda, p0

__all__ = [
    "Raise", "array_union", "array_union1", "asarray", "bincount", "call", "call_method",
    "call_method_pure", "callpipe1", "copy_call_method_pure", "curtime", "hyperopt_param",
    "identity", "kwswitch",
    "partial", "pos_args", "repeat", "str_join", "switch",
]


def pos_args(*args: Any) -> tuple:
    """The arguments as a tuple (the node ``as_apply`` builds for tuples and lists)."""
    return args


def hyperopt_param(label: str, obj: Any) -> Any:
    """``obj``; the node marks ``obj`` as the hyperparameter named ``label``."""
    return obj


def identity(obj: Any) -> Any:
    """``obj`` unchanged."""
    return obj


def switch(pos: int, *args: Any) -> Any:
    """``args[pos]``; :func:`~hqueue.pyll.base.rec_eval` evaluates only the chosen argument."""
    return args[pos]


def call(fn: Callable, args: Sequence = (), kwargs: dict | None = None) -> Any:
    """``fn(*args, **kwargs)``; the node ``node(...)`` builds."""
    return fn(*args, **(kwargs or {}))


def call_method(obj: Any, methodname: str, *args: Any, **kwargs: Any) -> Any:
    """``obj.methodname(*args, **kwargs)``."""
    return getattr(obj, methodname)(*args, **kwargs)


def call_method_pure(obj: Any, methodname: str, *args: Any, **kwargs: Any) -> Any:
    """:func:`call_method` for methods that do not change ``obj`` (the node may be merged)."""
    return getattr(obj, methodname)(*args, **kwargs)


def copy_call_method_pure(obj: Any, methodname: str, *args: Any, **kwargs: Any) -> Any:
    """``obj.methodname(...)`` called on a copy of ``obj``."""
    return getattr(copy.copy(obj), methodname)(*args, **kwargs)


def callpipe1(fn_list: Sequence[Callable], arg: Any) -> Any:
    """``fn_list[-1](...fn_list[1](fn_list[0](arg)))``; functions may return graphs.

    Example:
        >>> from hqueue.pyll.base import rec_eval, scope
        >>> rec_eval(scope.callpipe1([scope.partial("add", 2)], 5))
        7
    """
    for fn in fn_list:
        arg = fn(arg)
    return arg


def partial(name: str | SymbolTableEntry, *args: Any, **kwargs: Any) -> SymbolTableEntry:
    """Define (in scope) and return the one-argument function ``name(*args, x, **kwargs)``.

    Example:
        >>> from hqueue.pyll.base import rec_eval, scope
        >>> rec_eval(scope.partial("add", 2)(3))
        5
    """
    name = getattr(name, "apply_name", name)
    temp_name = f"partial_{name}_id{len(scope._impls)}"
    scope.define(Lambda(temp_name, [("x", p0)], expr=apply(name, *args, p0, **kwargs)))
    return getattr(scope, temp_name)


def Raise(etype: type[BaseException], *args: Any, **kwargs: Any) -> Any:  # noqa: N802
    """Raise ``etype(*args, **kwargs)`` when evaluated (a branch that must not be taken)."""
    raise etype(*args, **kwargs)


def curtime(obj: Any) -> tuple[float, Any]:
    """``(time.time(), obj)``: a time stamp taken when ``obj`` has been computed."""
    return time.time(), obj


def array_union1(args: Sequence[Sequence]) -> np.ndarray:
    """The sorted union of the elements of several sequences."""
    return np.asarray(sorted(set().union(*map(set, args))))


def array_union(*args: Sequence) -> np.ndarray:
    """:func:`array_union1` over the arguments."""
    return array_union1(args)


def asarray(a: Any, dtype: Any = None) -> np.ndarray:
    """``numpy.asarray(a, dtype)``."""
    return np.asarray(a) if dtype is None else np.asarray(a, dtype=dtype)


def str_join(s: str, seq: Sequence[str]) -> str:
    """``s.join(seq)``."""
    return s.join(seq)


def bincount(x: Any, offset: int = 0, weights: Any = None, minlength: int = 0,
             p: Any = None) -> np.ndarray:
    """``numpy.bincount(x - offset, weights, minlength)``; a 2-D ``p`` sets the length.

    Example:
        >>> bincount([3, 4, 4], offset=3, minlength=3).tolist()
        [1, 2, 0]
    """
    y = np.asarray(x, dtype=int)
    if p is not None and np.ndim(p) == 2:
        minlength = len(p[0])
    return np.bincount(y - offset, weights, minlength)


def repeat(n_times: int, obj: Any) -> list:
    """``[obj] * n_times``."""
    return [obj] * n_times


def kwswitch(kw: Any, **kwargs: Any) -> Apply:
    """A graph choosing the keyword argument named by the value of ``kw`` (a lazy switch).

    Example:
        >>> from hqueue.pyll.base import Literal, rec_eval
        >>> key = Literal()
        >>> rec_eval(kwswitch(key, a=1, b=2), memo={key: "b"})
        2
    """
    keys, values = zip(*sorted(kwargs.items()))
    return scope.switch(scope.call_method_pure(keys, "index", kw), *values)


def _dict(*args: Any, **kwargs: Any) -> dict:
    rval = dict(*args)
    rval.update(kwargs)
    return rval


def _minimum(*args: Any) -> Any:
    if len(args) == 2 and any(isinstance(a, np.ndarray) for a in args):
        return np.minimum(*args)
    return builtins.min(args[0]) if len(args) == 1 else builtins.min(args)


def _maximum(*args: Any) -> Any:
    if len(args) == 2 and any(isinstance(a, np.ndarray) for a in args):
        return np.maximum(*args)
    return builtins.max(args[0]) if len(args) == 1 else builtins.max(args)


def _elementwise(name: str) -> Callable[[Any], Any]:
    """``math.<name>`` on Python numbers (keeps ``float``), ``numpy.<name>`` on arrays."""
    scalar, vector = getattr(math, name), getattr(np, name)

    def fn(x: Any) -> Any:
        return vector(x) if isinstance(x, (np.ndarray, list, tuple)) else scalar(x)

    fn.__name__ = name
    return fn


def _map(fn: Callable, seq: Sequence) -> list:
    return [fn(x) for x in seq]


def _sum(x: Any, axis: int | None = None) -> Any:
    if axis is None and not isinstance(x, np.ndarray):
        return builtins.sum(x)
    return np.sum(x, axis=axis)


_IMPURE = {"call", "call_method", "callpipe1", "partial", "copy_call_method_pure"}


def _register() -> None:
    here = {name: globals()[name] for name in __all__ if name not in ("kwswitch", "curtime")}
    table: dict[str, Callable] = {
        **here, "dict": _dict, "minimum": _minimum, "maximum": _maximum, "map": _map,
        "sum": _sum, "min": builtins.min, "max": builtins.max,
        "int": int, "float": float, "str": str, "bool": bool, "len": len, "abs": abs,
        "list": list, "tuple": tuple, "range": range, "round": round,
        "getitem": operator.getitem, "getattr": getattr,
        "add": operator.add, "sub": operator.sub, "mul": operator.mul,
        "truediv": operator.truediv, "div": operator.truediv, "floordiv": operator.floordiv,
        "mod": operator.mod, "pow": operator.pow, "neg": operator.neg,
        "gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le,
        "eq": operator.eq, "ne": operator.ne,
    }
    for fname in ("exp", "log", "sqrt", "log10", "log1p", "expm1", "sin", "cos", "tan", "tanh"):
        table[fname] = _elementwise(fname)
    for name, f in table.items():
        scope.define(f, pure=name not in _IMPURE, name=name)
    scope.define(curtime, o_len=2)
    # kwswitch builds a graph when called (no node of its own), as in hyperopt
    scope.kwswitch = kwswitch  # type: ignore[attr-defined]


_register()
