"""Checking a configuration given on the command line against an experiment's search space.

The space travels inside the experiment's signed domain; :func:`load_space` verifies and loads
it the way a worker does (the objective's module must be importable here, and the secret must
be the driver's), and :func:`space_problems` says what is wrong with a point.

Example:
    >>> from hqueue import hp
    >>> from hqueue.space.compiled import CompiledSpace
    >>> space = CompiledSpace({"model": hp.choice("model", [
    ...     {"kind": "linear"}, {"kind": "mlp", "layers": hp.uniformint("layers", 1, 4)}])})
    >>> space_problems(space, {"model": 1, "layers": 2})
    []
    >>> space_problems(space, {"model": 0, "layers": 9})
    ["'layers' does not apply to this configuration (it needs model=1)"]
    >>> space_problems(space, {"model": 1})
    ["'layers' is missing (it applies when model=1)"]
    >>> space_problems(CompiledSpace({"n": hp.quniform("n", 0, 100, 5)}), {"n": 12})
    ["'n' is 12: it takes multiples of 5"]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..backends.redis.store import TrialStore


def load_space(store: TrialStore) -> Any:
    """The experiment's :class:`~hqueue.space.compiled.CompiledSpace` from its signed domain
    (raises when it cannot be verified or loaded here)."""
    from ..worker.experiment import load_domain, read_options

    return load_domain(store, read_options(store).digest).space


def _when(param: Any) -> str:
    return " or ".join(" and ".join(f"{label}={idx}" for label, idx in sorted(conj))
                       for conj in param.conditions)


def space_problems(space: Any, point: Mapping[str, Any]) -> list[str]:
    """What keeps ``point`` ({label: value}, choices as indices) from being a configuration of
    ``space``: unknown labels, missing or inapplicable conditional ones, values out of range."""
    problems = [f"{label!r} is not a parameter of the space (its labels: "
                f"{', '.join(space.labels)})" for label in sorted(set(point) - set(space.labels))]
    for param in space.params:
        active = space.is_active(param, point)
        if param.label not in point:
            if active:
                problems.append(f"{param.label!r} is missing" + (
                    f" (it applies when {_when(param)})" if param.conditional else ""))
        elif not active:
            problems.append(f"{param.label!r} does not apply to this configuration (it needs "
                            f"{_when(param)})")
        else:
            problem = _value_problem(param, point[param.label])
            if problem:
                problems.append(problem)
    return problems


def _value_problem(param: Any, value: float) -> str | None:
    dist = param.dist
    if hasattr(dist, "size"):  # Categorical: an option index (plus randint's offset)
        low, high = dist.offset, dist.offset + dist.size - 1
        if value != int(value) or not low <= value <= high:
            return f"{param.label!r} is {value}: it takes an integer from {low} to {high}"
        return None
    if dist.q and not _on_grid(value, dist.q):
        return f"{param.label!r} is {value}: it takes multiples of {dist.q:g}"
    if not dist.bounded:
        if dist.log and value <= 0:
            return f"{param.label!r} is {value}: it takes a positive number"
        return None
    low, high = (math.exp(dist.low), math.exp(dist.high)) if dist.log else (dist.low, dist.high)
    slack = (dist.q or 0.0) / 2 + 1e-9 * max(1.0, abs(low), abs(high))  # rounding to q
    if not low - slack <= value <= high + slack:
        return f"{param.label!r} is {value}: it takes a number from {low:.6g} to {high:.6g}"
    return None


def _on_grid(value: float, q: float) -> bool:
    """Whether ``value`` is a multiple of ``q`` (as hp.quniform and friends round to)."""
    steps = value / q
    return abs(steps - round(steps)) <= 1e-9 * max(1.0, abs(steps))
