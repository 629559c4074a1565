"""Startup trials of TPE: the random draws made before there is enough history to model.

``"random"`` draws every label from its prior (hyperopt's and Optuna's startup).
``"balanced"`` does the same except for choices that are always active and uniform over
their options (grids of values, unordered categories): each of those is drawn among the
options it has taken least often so far (finished, pending and this call's earlier rows
counted), so ten startup trials over a five-option choice show every option twice, instead
of leaving one unseen about one time in ten as independent draws do. Conditional labels,
weighted choices and real-valued labels stay prior draws.

Example:
    >>> import numpy as np
    >>> from hqueue import hp
    >>> from hqueue.history import History
    >>> from hqueue.space.compiled import compile_space
    >>> space = compile_space({"op": hp.choice("op", ["a", "b", "c", "d", "e"])})
    >>> rows = startup_rows(space, History(), np.random.default_rng(0), 10, "balanced")
    >>> sorted(np.bincount([r["op"] for r in rows]).tolist())
    [2, 2, 2, 2, 2]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...history import History
from ...space.compiled import CompiledSpace, Param
from ...space.distributions import Categorical

#: the startup policies :func:`startup_rows` knows
STARTUP_POLICIES = ("random", "balanced")


def balanced_params(space: CompiledSpace) -> list[Param]:
    """The labels ``"balanced"`` spreads evenly: unconditional choices with a uniform prior.

    Example:
        >>> from hqueue import hp
        >>> from hqueue.space.compiled import compile_space
        >>> space = compile_space({"c": hp.choice("c", [1, 2]), "x": hp.uniform("x", 0, 1)})
        >>> [p.label for p in balanced_params(space)]
        ['c']
    """
    return [p for p in space.params
            if isinstance(p.dist, Categorical) and not p.conditional
            and len(set(p.dist.p)) == 1]


def startup_rows(space: CompiledSpace, history: History, rng: np.random.Generator, n: int,
                 policy: str = "balanced") -> list[dict[str, Any]]:
    """``n`` startup rows (``{label: value}``, active labels only) under ``policy``.

    Example:
        >>> from hqueue import hp
        >>> from hqueue.space.compiled import compile_space
        >>> space = compile_space({"c": hp.choice("c", [1, 2])})
        >>> len(startup_rows(space, History(), np.random.default_rng(0), 3, "random"))
        3
    """
    if policy not in STARTUP_POLICIES:
        raise ValueError(f"startup must be one of {STARTUP_POLICIES}, got {policy!r}")
    balanced = balanced_params(space) if policy == "balanced" else []
    if not balanced:
        return space.sample(rng, n)
    counts = {p.label: _option_counts(p, history) for p in balanced}
    rows = []
    for _ in range(n):
        draw = {p.label: p.dist.sample_one(rng) for p in space.params}
        for p in balanced:
            used = counts[p.label]
            least = np.flatnonzero(used == used.min())
            pick = int(least[rng.integers(len(least))])
            used[pick] += 1
            draw[p.label] = pick + p.dist.offset  # type: ignore[union-attr]
        rows.append({p.label: draw[p.label] for p in space.params
                     if not p.conditional or space.is_active(p, draw)})
    return rows


def _option_counts(param: Param, history: History) -> np.ndarray:
    """How often each option of ``param`` was taken by finished and pending trials."""
    dist = param.dist
    assert isinstance(dist, Categorical)
    values = np.concatenate([history.column(param.label)[1],
                             history.pending_column(param.label)]).astype(np.int64)
    return np.bincount(values - dist.offset, minlength=dist.size)[: dist.size].astype(np.int64)
