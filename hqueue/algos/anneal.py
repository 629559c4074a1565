"""Annealing: sample near a good past point, in a neighbourhood that shrinks as the label
gathers observations.

Each suggestion picks one *seed* trial among the finished ones, ranked by loss, with a
geometric preference for the best (mean rank ``avg_best_idx``), and draws every label near the
seed's value: bounded labels uniformly in a window of width ``prior_width * s`` (shifted to
stay inside the bounds), unbounded ones from ``normal(value, sigma * s)``, categorical ones
keep the seed's option with probability ``1 - s``; ``s = 1 / (1 + n * shrink_coef)`` where
``n`` counts the label's observations. A label the seed trial did not use gets a seed of its
own among the trials that did.

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
from typing import TYPE_CHECKING, Any

import numpy as np

from ..history import History
from ..space.compiled import CompiledSpace, Param
from ..space.distributions import Categorical, Numeric
from .docs import rows_to_docs

if TYPE_CHECKING:
    from ..domain import Domain
    from ..trials import Trials


def suggest(new_ids: Sequence[int], domain: Domain, trials: Trials, seed: int,
            avg_best_idx: float = 2.0, shrink_coef: float = 0.1) -> list[dict]:
    """Trial documents for ``new_ids`` drawn around good past points."""
    rng = np.random.default_rng(seed)
    space: CompiledSpace = domain.space
    history = trials.history()
    rows = [_suggest_row(space, history, rng, avg_best_idx, shrink_coef) for _ in new_ids]
    return rows_to_docs(new_ids, rows, domain, trials)


def _pick(losses: np.ndarray, rng: np.random.Generator, avg_best_idx: float) -> int:
    """Index of a good entry: geometric over the ranks by loss."""
    rank = min(int(rng.geometric(1.0 / avg_best_idx)) - 1, len(losses) - 1)
    return int(np.argsort(losses, kind="stable")[rank])


def _suggest_row(space: CompiledSpace, history: History, rng: np.random.Generator,
                 avg_best_idx: float, shrink_coef: float) -> dict[str, Any]:
    seed_row = _pick(history.losses, rng, avg_best_idx) if len(history) else None
    chosen: dict[str, Any] = {}
    for param in space.params:
        trial_rows, values = history.column(param.label)
        if len(values) == 0:
            chosen[param.label] = param.dist.sample_one(rng)
            continue
        hit = np.flatnonzero(trial_rows == seed_row)
        if len(hit):
            value = values[hit[0]]
        else:
            value = values[_pick(history.losses[trial_rows], rng, avg_best_idx)]
        shrink = 1.0 / (1.0 + len(values) * shrink_coef)
        chosen[param.label] = _around(param, value, shrink, rng)
    return {p.label: chosen[p.label] for p in space.params if space.is_active(p, chosen)}


def _around(param: Param, value: float, shrink: float, rng: np.random.Generator) -> Any:
    dist = param.dist
    if isinstance(dist, Categorical):
        p = (1.0 - shrink) * (np.arange(dist.size) == int(value) - dist.offset)
        p = p + shrink * np.asarray(dist.p)
        return int(rng.choice(dist.size, p=p / p.sum())) + dist.offset
    assert isinstance(dist, Numeric)
    z = float(dist.to_internal(np.array([value]))[0])
    if dist.bounded:
        half = 0.5 * (dist.high - dist.low) * shrink
        mid = min(max(z, dist.low + half), dist.high - half)
        z_new = rng.uniform(mid - half, mid + half)
    else:
        z_new = rng.normal(z, dist.sigma * shrink)
    return float(dist.from_internal(np.array([z_new]))[0])
