"""Tree-structured Parzen Estimator: split good/bad trials, model each, sample where the ratio
of the good density to the bad one is highest.

hyperopt's keyword arguments keep their meaning; ``pending`` says how trials that are still
queued or running are treated (``"liar"``, the default: as if they were bad, so parallel workers
are pushed apart, which is also the effect of hyperopt giving running trials an infinite loss;
``"ignore"``: left out, as if they did not exist); with pending trials the liar also widens the
kernels and the pending trials' repulsion (``pending_widen``, ``liar_width``).

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

import functools
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...history import History
from ...space.compiled import CompiledSpace
from ...space.distributions import LOG_FLOOR, Categorical, Numeric
from ..docs import rows_to_docs
from .groups import GroupPlan, group_data, group_plans
from .joint import PRIOR_FIRST, distinct, joint_pair
from .parzen import forgetting_weights
from .repeats import Repeats
from .stacked import CategoricalTables, NumericKernels
from .startup import startup_rows

logger = logging.getLogger(__name__)

_default_prior_weight = 1.0
#: random trials before the model takes over (hyperopt: 20, Optuna: 10); measured in
#: benchmarks/results/real_quality.md, where 20 spends a fifth of a 100-trial budget blind
_default_n_startup_jobs = 10
_default_n_EI_candidates = 24
#: "auto": the good set is the best ``good_fraction`` (10%) of trials when every parameter is
#: a choice (a finite grid: counts need more good trials; hyperopt's ``ceil(0.25 * sqrt(n))``
#: keeps 3 out of 100), hyperopt's rule with gamma 0.25 when any parameter is real-valued
#: (sharper there: benchmarks/results/quality.md)
_default_gamma: float | str | None = "auto"
_AUTO_GAMMA = 0.25
_default_linear_forgetting = 25
#: kernels of an ordinal choice stay at least this many grid steps wide
_default_ordinal_width = 1.0


def split_good(losses: np.ndarray, gamma: float | None, cap: int | None,
               good_fraction: float = 0.1, order: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the "good" trials: the ``ceil(good_fraction * n)`` lowest losses, or
    hyperopt's ``ceil(gamma * sqrt(n))`` when ``gamma`` is given; at most ``cap`` of them
    (ties go to the earlier trial). ``order``, when given, is ``losses``' stable sort order
    (``History.loss_order``; saves the sort)."""
    n = len(losses)
    if gamma is not None:
        n_good = int(np.ceil(gamma * np.sqrt(n)))
    else:
        n_good = int(np.ceil(good_fraction * n))
    if cap:
        n_good = min(n_good, cap)
    good = np.zeros(n, dtype=bool)
    if order is None:
        order = np.argsort(losses, kind="stable")
    good[order[:n_good]] = True
    return good


def resolve_gamma(gamma: float | str | None, space: CompiledSpace) -> float | None:
    """The ``gamma`` of :func:`split_good` for ``space``: ``"auto"`` is None (the best
    ``good_fraction`` of trials) when every parameter is a choice, else 0.25.

    Example:
        >>> from hqueue import hp
        >>> from hqueue.space.compiled import compile_space
        >>> resolve_gamma("auto", compile_space({"c": hp.choice("c", [1, 2, 3])})) is None
        True
        >>> resolve_gamma("auto", compile_space({"x": hp.uniform("x", 0, 1)}))
        0.25
    """
    if gamma != "auto":
        return gamma  # type: ignore[return-value]
    grid_only = all(isinstance(p.dist, Categorical) for p in space.params)
    return None if grid_only else _AUTO_GAMMA


#: keyword arguments that make ``tpe.suggest`` behave like hyperopt 0.3.0's TPE
HYPEROPT_SETTINGS: dict[str, Any] = {
    "multivariate": False, "prior_share": None, "shrink": None, "gamma": 0.25,
    "n_startup_jobs": 20, "ordinal": False,
}


def suggest(
    new_ids: Sequence[int],
    domain: Any,
    trials: Any,
    seed: int,
    prior_weight: float = _default_prior_weight,
    n_startup_jobs: int = _default_n_startup_jobs,
    n_EI_candidates: int = _default_n_EI_candidates,
    gamma: float | str | None = _default_gamma,
    verbose: bool = True,
    linear_forgetting: int | None = _default_linear_forgetting,
    pending: str = "liar",
    multivariate: bool = True,
    bandwidth: str = "neighbour",
    good_fraction: float = 0.1,
    prior_share: float | None = 0.2,
    shrink: float | None = 0.2,
    pending_widen: float = 0.5,
    liar_width: float = 30.0,
    ordinal: bool = True,
    ordinal_width: float = _default_ordinal_width,
    startup: str = "random",
    avoid_repeats: bool = True,
) -> list[dict]:
    """Trial documents for ``new_ids`` chosen by TPE (random for the first
    ``n_startup_jobs`` finished trials).

    hyperopt's keyword arguments keep their meaning: with ``gamma`` a number, the good set is
    hyperopt's ``ceil(gamma * sqrt(n))`` best trials (at most ``linear_forgetting``); with
    ``gamma=None`` it is the best ``good_fraction`` of trials (Optuna's rule, at most
    ``linear_forgetting``); ``gamma="auto"`` (the default) takes ``None`` when every parameter
    is a choice and 0.25 otherwise. The defaults differ from hyperopt's in measured ways
    (``benchmarks/results/real_quality.md`` and ``benchmarks/results/quality.md`` hold the
    ablations):

    - ``n_startup_jobs=10`` random trials (hyperopt: 20) and, on spaces made only of choices,
      a good set of the best 10% (10 good trials out of 100 instead of 3), which matters on
      grids and noisy losses.
    - ``ordinal=True``: an ``hp.choice`` over three or more numbers in ascending order (a grid
      of learning rates or layer sizes) is modelled on its option index, with kernels at least
      ``ordinal_width`` grid steps wide, so good results spread to neighbouring grid values
      (in the joint sampler; other choices stay unordered categories).

    - ``multivariate=True``: labels that are active together are sampled and scored jointly
      (one kernel per good trial across all of them); conditional branches form their own
      groups. ``bandwidth`` picks the per-dimension kernel width rule ("neighbour":
      hyperopt's gap rule; "scott": a KDE rule shrinking with n).
    - ``prior_share=0.2``: the prior keeps 20% of the good model's mass however many good
      trials there are (None: the prior weighs ``prior_weight`` like one trial, as in
      hyperopt), which keeps exploring branches and far regions.
    - ``shrink=0.2``: kernel widths of bounded priors are capped at ``shrink / (1 + 0.1 n)``
      of the prior's width, an annealing schedule that sharpens the search as evidence
      accumulates (unbounded normal/lognormal priors are not capped: their ``sigma`` is a
      scale, not a range, and the optimum may lie several of them away).
    - ``avoid_repeats=True``: on a flat grid (every parameter an unconditional choice) a
      candidate that repeats an evaluated or pending configuration loses to any new one
      (:mod:`.repeats`). Other spaces are unaffected.

    ``startup`` picks the startup draws (:mod:`.startup`): ``"random"`` (the default, prior
    draws) or ``"balanced"`` (each uniform unconditional choice drawn among its least-used
    options; measured no better on the real problems).

    ``pending="liar"`` counts queued and running trials as bad observations (a constant
    liar) so parallel workers are pushed apart (hyperopt gives running trials an infinite loss,
    which puts them in the bad set too); ``"ignore"`` leaves them out of both models. With
    ``P`` pending trials the liar also does two things that matter once kernels are narrow
    (``benchmarks/results/parallel_quality.md`` measures them with 4 to 16 workers):

    - ``pending_widen=0.5``: the ``shrink`` cap is multiplied by ``(1 + P) ** pending_widen``,
      so concurrent suggestions spread over a wider neighbourhood of the good trials instead
      of all landing within one narrow kernel of them (0: the cap ignores pending trials).
    - ``liar_width=30``: in the joint (``multivariate``) sampler, each pending trial's kernel
      in the bad model is that many times its usual width (at most the prior's), so a pending
      trial repels candidates from its whole neighbourhood, not just from within one narrow
      kernel width (1: as wide as a finished trial's kernel).

    With no pending trials (one worker) neither changes anything: suggestions are those of
    the serial sampler bit for bit. ``partial(tpe.suggest, **tpe.HYPEROPT_SETTINGS)``
    reproduces hyperopt's TPE (no cap and independent labels, so neither applies).

    Example (16 trials running: the widened liar spreads the next suggestions further):
        >>> from hqueue import Trials, hp, rand
        >>> from hqueue.domain import Domain
        >>> domain = Domain(lambda c: 0.0, hp.uniform("x", 0, 1))
        >>> trials = Trials()
        >>> docs = rand.suggest(trials.new_trial_ids(60), domain, trials, 0)
        >>> for doc in docs[:44]:  # 44 finished (loss = x), 16 still running
        ...     loss = doc["misc"]["vals"]["x"][0]
        ...     doc["state"], doc["result"] = 2, {"status": "ok", "loss": loss}
        >>> _ = trials.insert_trial_docs(docs); trials.refresh()
        >>> len(trials.history().pending)
        16
        >>> new = suggest(trials.new_trial_ids(1), domain, trials, 1)
        >>> new[0]["misc"]["vals"]["x"][0] < 0.5
        True
    """
    if pending not in ("liar", "ignore"):
        raise ValueError(f"pending must be 'liar' or 'ignore', got {pending!r}")
    if not pending_widen >= 0.0:
        raise ValueError(f"pending_widen must be >= 0, got {pending_widen!r}")
    if not liar_width > 0.0:
        raise ValueError(f"liar_width must be > 0, got {liar_width!r}")
    if isinstance(gamma, str) and gamma != "auto":
        raise ValueError(f"gamma must be a number, None or 'auto', got {gamma!r}")
    if not ordinal_width >= 0.0:
        raise ValueError(f"ordinal_width must be >= 0, got {ordinal_width!r}")
    if bandwidth not in ("neighbour", "scott"):
        raise ValueError(f"bandwidth must be 'neighbour' or 'scott', got {bandwidth!r}")
    rng = np.random.default_rng(seed)
    space: CompiledSpace = domain.space
    history: History = trials.history()
    if len(history) < n_startup_jobs:
        rows = startup_rows(space, history, rng, len(new_ids), startup)
        return rows_to_docs(new_ids, rows, domain, trials)
    good = split_good(history.losses, resolve_gamma(gamma, space), linear_forgetting,
                      good_fraction, history.loss_order())
    pending_rows = list(history.pending) if pending == "liar" else []
    prior = PriorPolicy(prior_weight, prior_share)
    base_cap = None if shrink is None else shrink / (1.0 + 0.1 * len(history))
    seen = Repeats.build(space, history) if avoid_repeats and multivariate else None
    rows = []
    for _ in new_ids:
        cap = base_cap
        if cap is not None and pending_rows and pending_widen:
            cap *= (1.0 + len(pending_rows)) ** pending_widen
        if multivariate:
            row = _suggest_row_joint(space, history, good, pending_rows, rng, prior,
                                     n_EI_candidates, linear_forgetting, bandwidth, cap,
                                     liar_width, ordinal, ordinal_width, seen)
            if seen is not None:
                seen.add(row)
        else:
            row = _suggest_row(space, history, good, pending_rows, rng, prior,
                               n_EI_candidates, linear_forgetting, cap)
        rows.append(row)
        if pending == "liar":
            pending_rows.append({k: [v] for k, v in row.items()})
    return rows_to_docs(new_ids, rows, domain, trials)


class PriorPolicy:
    """How much the prior weighs in each Parzen estimator.

    The bad-trial model always gives its prior kernel ``prior_weight`` (each observation
    weighs at most 1). The good-trial model does the same unless ``prior_share`` is set; then
    the prior gets that fraction of the model's total mass whatever the number of good
    trials, which keeps exploring when the good set is large.
    """

    def __init__(self, prior_weight: float, prior_share: float | None) -> None:
        if prior_share is not None and not 0.0 < prior_share < 1.0:
            raise ValueError(f"prior_share must be in (0, 1), got {prior_share!r}")
        self.prior_weight, self.prior_share = prior_weight, prior_share

    def good(self, obs_weights: Sequence[np.ndarray], n_options: Sequence[int] | None = None
             ) -> np.ndarray:
        """Prior weight per label for the good model (``n_options`` for categorical labels,
        whose prior is spread as pseudo-counts over the options)."""
        if self.prior_share is None:
            return np.full(len(obs_weights), self.prior_weight)
        total = np.array([w.sum() for w in obs_weights])
        share = self.prior_share * np.where(total > 0, total, 1.0) / (1.0 - self.prior_share)
        return share / np.asarray(n_options) if n_options is not None else share

    def good_weight(self, obs_weights: np.ndarray) -> float:
        """:meth:`good` for one label (or one joint group) as a float."""
        if self.prior_share is None:
            return float(self.prior_weight)
        total = float(obs_weights.sum())
        return self.prior_share * (total if total > 0 else 1.0) / (1.0 - self.prior_share)


def _liar_values(pending_rows: list, label: str) -> list:
    return [r[label][0] for r in pending_rows if r.get(label)]


def _suggest_row(space: CompiledSpace, history: History, good: np.ndarray,
                 pending_rows: list, rng: np.random.Generator, prior: PriorPolicy,
                 n_candidates: int, forgetting: int | None, cap: float | None
                 ) -> dict[str, Any]:
    """Independent (per-label) TPE, all labels scored together in stacked arrays."""
    numeric, categorical = [], []
    for param in space.params:
        liars = _liar_values(pending_rows, param.label) if pending_rows else []
        if isinstance(param.dist, Numeric):
            numeric.append((param, *_sorted_split(history, param.label, good, liars,
                                                   forgetting)))
        else:
            rows, values = history.column(param.label)
            is_good = good[rows]
            bad = np.concatenate([values[~is_good], liars]) if liars else values[~is_good]
            categorical.append((param, values[is_good], _weights(values[is_good], forgetting),
                                bad, _weights(bad, forgetting)))
    chosen: dict[str, Any] = {}
    if numeric:
        chosen.update(_numeric_choices(numeric, rng, prior, n_candidates, cap))
    if categorical:
        chosen.update(_categorical_choices(categorical, rng, prior, n_candidates))
    return {p.label: chosen[p.label] for p in space.params if space.is_active(p, chosen)}


def _weights(obs: np.ndarray, forgetting: int | None) -> np.ndarray:
    return forgetting_weights(len(obs), forgetting)


def _sorted_split(history: History, label: str, good: np.ndarray, liars: list,
                  forgetting: int | None) -> tuple[np.ndarray, ...]:
    """Good and bad values of ``label``, each sorted, with their forgetting weights (by
    completion order within each set); pending liars join the bad set with weight 1."""
    rows, values = history.column(label)
    order = history.sorted_order(label)
    is_good = good[rows]
    sorted_good = is_good[order]
    out = []
    for in_set, sorted_in_set in ((is_good, sorted_good), (~is_good, ~sorted_good)):
        age_rank = np.cumsum(in_set) - 1  # completion rank within the set
        ramp = forgetting_weights(int(in_set.sum()), forgetting)
        picked = order[sorted_in_set]
        out += [values[picked], ramp[age_rank[picked]]]
    if liars:
        merged = np.concatenate([out[2], liars])
        order = np.argsort(merged, kind="stable")
        out[2], out[3] = merged[order], np.concatenate([out[3], np.ones(len(liars))])[order]
    return tuple(out)


def _numeric_choices(items: list, rng: np.random.Generator, prior: PriorPolicy,
                     n_candidates: int, cap: float | None) -> dict[str, float]:
    # continuous and quantized labels are stacked apart: each stack is padded to its own
    # widest kernel set (quantized labels have few distinct values)
    chosen: dict[str, float] = {}
    for quantized in (False, True):
        group = [it for it in items if (it[0].dist.q is not None) == quantized]
        if group:
            chosen.update(_numeric_stack_choices(group, rng, prior, n_candidates, quantized,
                                                 cap))
    return chosen


def _numeric_stack_choices(items: list, rng: np.random.Generator, prior: PriorPolicy,
                           n_candidates: int, quantized: bool, cap: float | None
                           ) -> dict[str, float]:
    dists: list[Numeric] = [it[0].dist for it in items]
    good_w = [it[2] for it in items]
    good = NumericKernels.build([it[1] for it in items], good_w, dists, prior.good(good_w),
                                cap)
    bad = NumericKernels.build([it[3] for it in items], [it[4] for it in items], dists,
                               prior.prior_weight, cap)
    z = good.sample(rng, n_candidates)  # (labels, candidates) on the internal axes
    is_log = np.array([d.log for d in dists])[:, None]
    x = np.where(is_log, np.exp(z), z)
    if quantized:
        q = np.array([d.q for d in dists])[:, None]
        x = np.round(x / q) * q
        lo = np.where(is_log, np.log(np.maximum(x - q / 2, LOG_FLOOR)), x - q / 2)
        hi = np.where(is_log, np.log(np.maximum(x + q / 2, LOG_FLOOR)), x + q / 2)
        score = good.log_bin_mass(lo, hi) - bad.log_bin_mass(lo, hi)
    else:
        score = good.log_pdf(z) - bad.log_pdf(z)
    values = x[np.arange(len(items)), np.argmax(score, axis=1)]
    return {it[0].label: float(v) for it, v in zip(items, values)}


def _categorical_choices(items: list, rng: np.random.Generator, prior: PriorPolicy,
                         n_candidates: int) -> dict[str, int]:
    dists: list[Categorical] = [it[0].dist for it in items]
    good_w = [it[2] for it in items]
    good = CategoricalTables.build([it[1] for it in items], good_w, dists,
                                   prior.good(good_w, [d.size for d in dists]))
    bad = CategoricalTables.build([it[3] for it in items], [it[4] for it in items], dists,
                                  prior.prior_weight)
    idx = good.sample(rng, n_candidates)
    best = np.argmax(good.log_pmf(idx) - bad.log_pmf(idx), axis=1)
    chosen = idx[np.arange(len(items)), best]
    return {it[0].label: int(i) + d.offset for it, i, d in zip(items, chosen, dists)}


#: below this many kernels, sorting the observations here is cheaper than merging the
#: history's kept sort orders
_SORT_HERE = 512


def _bad_orders(plan: GroupPlan, history: History,
                is_good: np.ndarray) -> list[np.ndarray | None]:
    """Sort order of each numeric member's bad observations (positions among the bad
    kernels), from the history's kept order; None where the group's rows are not the
    label's whole column."""
    bad_index = np.cumsum(~is_good) - 1
    orders: list[np.ndarray | None] = []
    for i in plan.numeric:
        label = plan.labels[i]
        if len(history.column(label)[0]) != len(is_good):
            orders.append(None)
            continue
        order = history.sorted_order(label)
        orders.append(bad_index[order[~is_good[order]]])
    return orders


def _suggest_group(plan: GroupPlan, history: History, good: np.ndarray, pending_rows: list,
                   rng: np.random.Generator, prior: PriorPolicy, n_candidates: int,
                   forgetting: int | None, bandwidth: str, cap: float | None,
                   liar_width: float = 1.0, seen: Repeats | None = None) -> dict[str, Any]:
    """Joint TPE for one group: the good and bad mixtures (one :class:`.joint.JointPair`),
    candidates drawn from the good one, the best log density ratio wins (with ``seen``, the
    best among candidates not tried yet, when there is one)."""
    data = group_data(history, plan)
    is_good = good if data.n == len(good) else good[data.rows]
    good_pos = np.flatnonzero(is_good)
    is_bad = ~is_good
    z_bad, cat_bad = data.z[is_bad], data.cat[is_bad]
    n_bad_rows = len(z_bad)
    liars = [r for r in pending_rows if all(r.get(label) for label in plan.labels)]
    orders: Any = None
    if liars:
        values = [[r[label][0] for r in liars] for label in plan.labels]
        z_bad = np.concatenate([z_bad, plan.to_internal(
            len(liars), [values[i] for i in plan.numeric])])
        cat_bad = np.concatenate([cat_bad, plan.to_index(
            len(liars), [values[i] for i in plan.categorical])])
    elif plan.numeric:
        # called by joint_pair only if it needs them
        orders = PRIOR_FIRST if n_bad_rows < _SORT_HERE else functools.partial(
            _bad_orders, plan, history, is_good)
    good_w = forgetting_weights(len(good_pos), forgetting)
    liar_scale = (n_bad_rows, liar_width) if liars and liar_width != 1.0 else None
    pair = joint_pair(
        plan, (data.z[good_pos], data.cat[good_pos], good_w, prior.good_weight(good_w)),
        (z_bad, cat_bad, forgetting_weights(len(z_bad), forgetting), prior.prior_weight),
        bandwidth, cap, orders, liar_scale)
    split = pair.split
    kernels = pair.sample_kernels(rng, n_candidates)
    total: np.ndarray | None = None
    values: list[np.ndarray] = [np.empty(0)] * len(plan.params)
    if plan.numeric:
        block = pair.numeric
        z = block.sample(rng, kernels)  # (candidates, numeric members), internal axes
        x = plan.from_internal(z)
        if plan.q_dims:  # a quantized candidate scores its bin's mass
            n_kernels = len(block.mus)
            kernel_of_row = others = None
            if n_kernels >= _SORT_HERE:  # evaluate only the kernels within reach
                # each history row's kernel, to read the kernels' order off the history's
                kernel_of_row = np.empty(data.n, dtype=np.intp)
                kernel_of_row[good_pos] = np.arange(split - 1)
                kernel_of_row[is_bad] = np.arange(split, split + n_bad_rows)
                others = np.concatenate([[split - 1],  # the priors and the liars
                                         np.arange(split + n_bad_rows, n_kernels)])
            for t, j in enumerate(plan.q_dims):
                first, inverse = distinct(x[:, j])  # candidates often share a value
                u = x[first, j]
                q = plan.q[t]
                lo, hi = u - q / 2, u + q / 2
                if plan.q_log[t]:
                    lo, hi = np.log(np.maximum(lo, LOG_FLOOR)), np.log(np.maximum(hi, LOG_FLOOR))
                label = plan.labels[plan.numeric[j]]
                if kernel_of_row is None or len(history.column(label)[0]) != data.n:
                    table = block.bin_table(j, lo, hi)
                else:
                    table = block.bin_table(j, lo, hi,
                                            kernel_of_row[history.sorted_order(label)], others)
                total = table[inverse] if total is None else _add(total, table[inverse])
        if plan.cont_dims:
            term = block.log_density(plan.cont_dims, z[:, plan.cont_dims], split)
            total = term if total is None else _add(total, term)
        for j, i in enumerate(plan.numeric):
            values[i] = x[:, j]
    for c, i in enumerate(plan.categorical):
        cat = pair.categorical[c]
        idx = cat.sample(rng, kernels)
        values[i] = idx + plan.cat_dists[c].offset
        term = cat.log_kernels(idx)
        total = term if total is None else _add(total, term)
    score = pair.log_ratio(total)
    if seen is not None:  # a flat grid: this group holds every label
        repeat = seen.is_repeat({label: np.rint(v) for label, v in zip(plan.labels, values)})
        if not repeat.all():
            score[repeat] = -np.inf
    best = int(np.argmax(score))
    return {p.label: p.dist.python_value(v[best]) for p, v in zip(plan.params, values)}


def _add(total: np.ndarray, term: np.ndarray) -> np.ndarray:
    total += term
    return total


def _suggest_row_joint(space: CompiledSpace, history: History, good: np.ndarray,
                       pending_rows: list, rng: np.random.Generator, prior: PriorPolicy,
                       n_candidates: int, forgetting: int | None, bandwidth: str,
                       cap: float | None, liar_width: float = 1.0, ordinal: bool = True,
                       ordinal_width: float = 0.0, seen: Repeats | None = None
                       ) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    for plan in group_plans(space, ordinal, ordinal_width):
        chosen.update(_suggest_group(plan, history, good, pending_rows, rng, prior,
                                     n_candidates, forgetting, bandwidth, cap, liar_width,
                                     seen))
    return {p.label: chosen[p.label] for p in space.params if space.is_active(p, chosen)}
