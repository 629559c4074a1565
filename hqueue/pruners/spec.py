"""A pruner as data: ``{"kind": ..., "params": {...}}``, so a driver can tell workers which
pruner to use without pickling it.

The driver writes :func:`dumps_spec` of the chosen pruner into the experiment's options (the
``pruner`` field of the meta hash); each worker rebuilds it with :func:`loads_spec`. Only the
pruners of :mod:`hqueue.pruners` have a kind; a subclass of your own cannot travel to workers
(use it with the in-memory ``Trials``). :class:`Patience` nests the spec of its wrapped pruner.

Example:
    >>> from hqueue.pruners import Median, Patience
    >>> text = dumps_spec(Patience(3, Median(n_startup_trials=2)))
    >>> text
    '{"kind": "patience", "params": {"patience": 3, "wrapped": {"kind": "median", "params": {"n_startup_trials": 2, "n_warmup_steps": 0, "interval_steps": 1}}, "min_delta": 0.0}}'
    >>> loads_spec(text)
    Patience(patience=3, wrapped=Median(percentile=50.0, n_startup_trials=2, n_warmup_steps=0, interval_steps=1), min_delta=0.0)
"""  # noqa: E501

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..exceptions import BadArgument
from .base import NoPruner, Pruner
from .halving import Hyperband, SuccessiveHalving
from .percentile import Median, Percentile
from .threshold import Patience, Threshold

#: kind -> (class, the constructor parameters a spec carries, read back from the attributes)
KINDS: dict[str, tuple[type[Pruner], tuple[str, ...]]] = {
    "none": (NoPruner, ()),
    "asha": (SuccessiveHalving, ("min_resource", "reduction_factor",
                                 "min_early_stopping_rate", "max_resource", "bracket")),
    "hyperband": (Hyperband, ("min_resource", "max_resource", "reduction_factor")),
    "median": (Median, ("n_startup_trials", "n_warmup_steps", "interval_steps")),
    "percentile": (Percentile, ("percentile", "n_startup_trials", "n_warmup_steps",
                                "interval_steps")),
    "threshold": (Threshold, ("lower", "upper", "n_warmup_steps")),
    "patience": (Patience, ("patience", "wrapped", "min_delta")),
}


class UnknownPruner(BadArgument):
    """A pruner spec names no known kind, or carries parameters its kind does not take."""


def to_spec(pruner: Pruner) -> dict[str, Any]:
    """The spec of one of :mod:`hqueue.pruners`' pruners (BadArgument for any other object).

    Example:
        >>> from hqueue.pruners import Threshold
        >>> to_spec(Threshold(upper=2.0))
        {'kind': 'threshold', 'params': {'lower': None, 'upper': 2.0, 'n_warmup_steps': 0}}
    """
    for kind, (cls, names) in KINDS.items():
        if type(pruner) is cls:
            params = {name: getattr(pruner, name) for name in names}
            if params.get("wrapped") is not None:
                params["wrapped"] = to_spec(params["wrapped"])
            return {"kind": kind, "params": params}
    raise BadArgument(f"only hqueue.pruners' pruners can be sent to workers (as data), got "
                      f"{pruner!r}; use one of {', '.join(c.__name__ for c, _ in KINDS.values())}"
                      " (a pruner of your own works with the in-memory Trials)")


def from_spec(spec: Mapping[str, Any]) -> Pruner:
    """The pruner a spec describes; :class:`UnknownPruner` for an unknown kind or parameter,
    BadArgument (from the pruner) for a bad value.

    Example:
        >>> from_spec({"kind": "threshold", "params": {"upper": 1.0}})
        Threshold(lower=None, upper=1.0, n_warmup_steps=0)
    """
    if not isinstance(spec, Mapping) or not isinstance(spec.get("kind"), str):
        raise UnknownPruner(f"a pruner spec is {{'kind': ..., 'params': {{...}}}}, got {spec!r}")
    kind, params = spec["kind"], spec.get("params") or {}
    if kind not in KINDS:
        raise UnknownPruner(f"unknown pruner kind {kind!r}; known kinds: {', '.join(KINDS)}")
    cls, names = KINDS[kind]
    if not isinstance(params, Mapping) or set(params) - set(names):
        extra = sorted(set(params) - set(names)) if isinstance(params, Mapping) else params
        raise UnknownPruner(f"pruner kind {kind!r} takes parameters {list(names)}, got {extra!r}")
    params = dict(params)
    if params.get("wrapped") is not None:
        params["wrapped"] = from_spec(params["wrapped"])
    return cls(**params)


def dumps_spec(pruner: Pruner | None) -> str:
    """The JSON text of ``pruner``'s spec ("" for None: workers use the default).

    Example:
        >>> dumps_spec(None)
        ''
    """
    return "" if pruner is None else json.dumps(to_spec(pruner))


def loads_spec(text: str | bytes | None) -> Pruner | None:
    """The pruner of a JSON spec (None for ""); :class:`UnknownPruner` when it is not one.

    Example:
        >>> loads_spec('{"kind": "none"}')
        NoPruner()
    """
    if not text:
        return None
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise UnknownPruner(f"the experiment's pruner spec is not JSON ({exc}): {text!r}") \
            from None
    return from_spec(spec)
