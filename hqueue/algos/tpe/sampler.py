"""Tree-structured Parzen Estimator: split good/bad trials, model each, sample where the ratio
of the good density to the bad one is highest.

hyperopt's keyword arguments keep their meaning; ``pending`` says how trials that are still
queued or running are treated (``"liar"``: as if they were bad, so parallel workers are pushed
apart; ``"ignore"``: hyperopt's behaviour).

Example:
    >>> from functools import partial
    >>> from hqueue import fmin, hp, tpe
    >>> import numpy as np
    >>> algo = partial(tpe.suggest, n_startup_jobs=10)
    >>> best = fmin(lambda x: (x - 1) ** 2, hp.uniform("x", -5, 5), algo=algo, max_evals=40,
    ...             rstate=np.random.default_rng(0), show_progressbar=False)
    >>> abs(best["x"] - 1) < 0.5
    True
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...history import History
from ...space.compiled import CompiledSpace, Param
from ...space.distributions import Categorical, Numeric
from ..docs import rows_to_docs
from .parzen import categorical_estimator, forgetting_weights, numeric_estimator

logger = logging.getLogger(__name__)

_default_prior_weight = 1.0
_default_n_startup_jobs = 20
_default_n_EI_candidates = 24
_default_gamma = 0.25
_default_linear_forgetting = 25


def split_good(losses: np.ndarray, gamma: float, cap: int | None) -> np.ndarray:
    """Boolean mask of the "good" trials: the ``ceil(gamma * sqrt(n))`` lowest losses, at
    most ``cap`` of them (ties go to the earlier trial)."""
    n = len(losses)
    n_good = int(np.ceil(gamma * np.sqrt(n)))
    if cap:
        n_good = min(n_good, cap)
    good = np.zeros(n, dtype=bool)
    good[np.argsort(losses, kind="stable")[:n_good]] = True
    return good


def suggest(
    new_ids: Sequence[int],
    domain: Any,
    trials: Any,
    seed: int,
    prior_weight: float = _default_prior_weight,
    n_startup_jobs: int = _default_n_startup_jobs,
    n_EI_candidates: int = _default_n_EI_candidates,
    gamma: float = _default_gamma,
    verbose: bool = True,
    linear_forgetting: int | None = _default_linear_forgetting,
    pending: str = "liar",
) -> list[dict]:
    """Trial documents for ``new_ids`` chosen by TPE (random for the first
    ``n_startup_jobs`` finished trials)."""
    if pending not in ("liar", "ignore"):
        raise ValueError(f"pending must be 'liar' or 'ignore', got {pending!r}")
    rng = np.random.default_rng(seed)
    space: CompiledSpace = domain.space
    history: History = trials.history()
    if len(history) < n_startup_jobs:
        rows = space.sample(rng, len(new_ids))
        return rows_to_docs(new_ids, rows, domain, trials)
    good = split_good(history.losses, gamma, linear_forgetting)
    pending_rows = list(history.pending) if pending == "liar" else []
    rows = []
    for _ in new_ids:
        row = _suggest_row(space, history, good, pending_rows, rng, prior_weight,
                           n_EI_candidates, linear_forgetting)
        rows.append(row)
        if pending == "liar":
            pending_rows.append({k: [v] for k, v in row.items()})
    return rows_to_docs(new_ids, rows, domain, trials)


def _suggest_row(space: CompiledSpace, history: History, good: np.ndarray,
                 pending_rows: list, rng: np.random.Generator, prior_weight: float,
                 n_candidates: int, forgetting: int | None) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    for param in space.params:
        rows, values = history.column(param.label)
        is_good = good[rows]
        bad_values = values[~is_good]
        if pending_rows:
            liars = [r[param.label][0] for r in pending_rows if r.get(param.label)]
            if liars:
                bad_values = np.concatenate([bad_values, np.asarray(liars, float)])
        chosen[param.label] = _best_candidate(param, values[is_good], bad_values, rng,
                                              prior_weight, n_candidates, forgetting)
    return {p.label: chosen[p.label] for p in space.params if space.is_active(p, chosen)}


def _best_candidate(param: Param, good: np.ndarray, bad: np.ndarray, rng: np.random.Generator,
                    prior_weight: float, n_candidates: int, forgetting: int | None) -> Any:
    dist = param.dist
    w_good = forgetting_weights(len(good), forgetting)
    w_bad = forgetting_weights(len(bad), forgetting)
    if isinstance(dist, Categorical):
        l_mix = categorical_estimator(good.astype(np.int64) - dist.offset, w_good, dist,
                                      prior_weight)
        g_mix = categorical_estimator(bad.astype(np.int64) - dist.offset, w_bad, dist,
                                      prior_weight)
        idx = l_mix.sample(rng, n_candidates)
        score = l_mix.log_pmf(idx) - g_mix.log_pmf(idx)
        return int(idx[int(np.argmax(score))]) + dist.offset
    assert isinstance(dist, Numeric)
    l_mix = numeric_estimator(good, w_good, dist, prior_weight)
    g_mix = numeric_estimator(bad, w_bad, dist, prior_weight)
    z = l_mix.sample(rng, n_candidates)
    x = dist.from_internal(z)
    if dist.q is None:
        score = l_mix.log_pdf(z) - g_mix.log_pdf(z)
    else:
        lo = dist.to_internal(x - dist.q / 2)
        hi = dist.to_internal(x + dist.q / 2)
        score = l_mix.log_interval_mass(lo, hi) - g_mix.log_interval_mass(lo, hi)
    return float(x[int(np.argmax(score))])
