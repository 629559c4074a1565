"""A search space's signature: each label with its distribution and when it is active, so a
driver can tell whether the space it runs is the one an experiment was searched over.

Example:
    >>> from hqueue import hp
    >>> old = space_signature({"x": hp.uniform("x", -1, 1), "k": hp.choice("k", [1, 2])})
    >>> new = space_signature({"x": hp.uniform("x", 0, 2), "lr": hp.loguniform("lr", -5, 0)})
    >>> old["x"]
    'uniform(-1, 1)'
    >>> space_differences(old, new)
    ['k (removed)', 'lr (new: loguniform(-5, 0))', 'x (uniform(-1, 1) -> uniform(0, 2))']
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..exceptions import HqueueError
from .compiled import Param, compile_space
from .distributions import Categorical


def space_signature(space: Any) -> dict[str, str]:
    """``{label: "kind(args) [when ...]"}`` for every hyperparameter of ``space``."""
    return {p.label: describe(p) for p in compile_space(space).params}


def describe(param: Param) -> str:
    """One parameter's distribution and activation condition as text."""
    dist = param.dist
    if isinstance(dist, Categorical):
        probs = ", ".join(f"{p:.6g}" for p in dist.p)
        text = f"{dist.kind}({len(dist.p)} options, p=[{probs}], offset={dist.offset})"
    else:
        args = [dist.low, dist.high] if dist.bounded else [dist.mu, dist.sigma]
        if dist.q is not None:
            args.append(dist.q)
        text = f"{dist.kind}({', '.join(f'{a:.6g}' for a in args)})"
    if param.conditional:
        alternatives = sorted(" and ".join(f"{lbl}={idx}" for lbl, idx in sorted(conj))
                              for conj in param.conditions)
        text += f" when {' or '.join(alternatives)}"
    return text


def missing_active_labels(space: Any, point: Mapping[str, Any]) -> list[str]:
    """The labels ``point`` activates (choices as indices) but gives no value.

    Example:
        >>> from hqueue import hp
        >>> space = hp.choice("m", [{"c": hp.uniform("c", 0, 1)}, {"d": hp.uniform("d", 0, 1)}])
        >>> missing_active_labels(space, {"m": 1}), missing_active_labels(space, {"m": 0, "c": .5})
        (['d'], [])
    """
    compiled = compile_space(space)
    return [p.label for p in compiled.params
            if p.label not in point and (not p.conditional or compiled.is_active(p, point))]


def space_differences(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    """The labels that differ between two signatures, each with what changed."""
    out = []
    for label in sorted(set(old) | set(new)):
        if label not in new:
            out.append(f"{label} (removed)")
        elif label not in old:
            out.append(f"{label} (new: {new[label]})")
        elif old[label] != new[label]:
            out.append(f"{label} ({old[label]} -> {new[label]})")
    return out


class SpaceChanged(HqueueError):
    """The driver's search space is not the one the experiment was searched over."""


def check_same_space(stored: str | None, signature: Mapping[str, str], exp_key: str) -> None:
    """Refuse to continue an experiment over another space (``stored`` is the experiment's
    signature as JSON, None for an experiment without one).

    Example:
        >>> try:
        ...     check_same_space(json.dumps({"x": "uniform(0, 1)"}), {"x": "uniform(0, 2)"}, "e")
        ... except SpaceChanged as e:
        ...     print(str(e).split(";")[0])
        experiment 'e' was searched over another space: x (uniform(0, 1) -> uniform(0, 2))
    """
    if not stored:
        return
    try:
        old = json.loads(stored)
    except ValueError:
        return  # a damaged record: nothing to compare against
    differences = space_differences(old, signature)
    if differences:
        raise SpaceChanged(
            f"experiment {exp_key!r} was searched over another space: "
            f"{'; '.join(differences)}; its trials would be mixed with this search's. Use a "
            f"new exp_key for the new space, start a new segment of this experiment that keeps "
            f"the old trials apart (RedisTrials(url, {exp_key!r}, "
            f"on_space_change='new_segment')), or delete the old search first "
            f"(hqueue purge --exp-key {exp_key})")
