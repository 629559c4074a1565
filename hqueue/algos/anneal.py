"""Annealing: sample near good past points, in a neighbourhood that shrinks as the label
gathers observations.

For each label independently: rank the finished trials where it was active by loss, pick one
with a geometric preference for the best (mean rank ``avg_best_idx``), and draw around its
value with a width ``prior_width / (1 + n * shrink_coef)``. Categorical labels keep the picked
option with a probability that grows the same way.

Example:
    >>> from hqueue import anneal, fmin, hp
    >>> import numpy as np
    >>> best = fmin(lambda x: x ** 2, hp.uniform("x", -3, 3), algo=anneal.suggest,
    ...             max_evals=60, rstate=np.random.default_rng(0), show_progressbar=False)
    >>> abs(best["x"]) < 0.5
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..space.compiled import CompiledSpace, Param
from ..space.distributions import Categorical, Numeric
from .docs import rows_to_docs


def suggest(new_ids: Sequence[int], domain: Any, trials: Any, seed: int,
            avg_best_idx: float = 2.0, shrink_coef: float = 0.1) -> list[dict]:
    """Trial documents for ``new_ids`` drawn around good past points."""
    rng = np.random.default_rng(seed)
    space: CompiledSpace = domain.space
    history = trials.history()
    rows = []
    for _ in new_ids:
        chosen = {}
        for param in space.params:
            trial_rows, values = history.column(param.label)
            if len(values) == 0:
                chosen[param.label] = param.dist.sample(rng, 1)[0]
                continue
            losses = history.losses[trial_rows]
            order = np.argsort(losses, kind="stable")
            pick = min(int(rng.geometric(1.0 / avg_best_idx)) - 1, len(order) - 1)
            shrink = 1.0 / (1.0 + len(values) * shrink_coef)
            chosen[param.label] = _around(param, values[order[pick]], shrink, rng)
        rows.append({p.label: p.dist.python_value(chosen[p.label]) for p in space.params
                     if space.is_active(p, chosen)})
    return rows_to_docs(new_ids, rows, domain, trials)


def _around(param: Param, value: float, shrink: float, rng: np.random.Generator) -> Any:
    dist = param.dist
    if isinstance(dist, Categorical):
        if rng.uniform() < 1.0 - shrink:
            return int(value)
        return int(dist.sample(rng, 1)[0])
    assert isinstance(dist, Numeric)
    z = float(dist.to_internal(np.array([value]))[0])
    if dist.bounded:
        half = 0.5 * (dist.high - dist.low) * shrink
        lo, hi = max(dist.low, z - half), min(dist.high, z + half)
        z_new = rng.uniform(lo, hi)
    else:
        z_new = rng.normal(z, dist.sigma * shrink)
    return float(dist.from_internal(np.array([z_new]))[0])
