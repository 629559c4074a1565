"""Simulated asynchronous workers for the ``pruning`` benchmark: problems, searchers, one run.

A *problem* is a table of learning curves (configurations x steps, lower is better): the real
training runs tabulated by :mod:`benchmarks.pruning_curves`, plus a parametric family made here.
A *searcher* pairs a sampler with a pruner behind three calls (``ask``, ``report``, ``tell``).
:func:`simulate` runs ``workers`` of them at once on an event queue of epoch finishing times
(each trial has its own speed, so workers drift apart as real ones do) until a compute budget
(total epochs) is spent, and returns the regret of the incumbent as compute grows.

Example:
    >>> problem = parametric(side=8, steps=9)
    >>> trace = simulate(problem, "hqueue_asha", workers=2, budget=60, seed=0)
    >>> trace.shape[1], bool(trace[-1, 0] <= 60)
    (2, True)
"""

from __future__ import annotations

import heapq
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).parent / "data" / "pruning_curves.npz"


@dataclass(frozen=True)
class Problem:
    """Learning curves of every configuration of a full factorial grid (``dims`` levels)."""

    name: str
    curves: np.ndarray  # configs x steps
    dims: tuple[int, ...]

    @property
    def steps(self) -> int:
        return self.curves.shape[1]

    @property
    def final(self) -> np.ndarray:
        final = self.curves[:, -1].astype(float)
        return np.where(np.isnan(final), np.nanmax(final), final)

    def regret(self, config: int) -> float:
        """Final value of ``config`` above the best final value, over the range of finals."""
        final = self.final
        return float((final[config] - final.min()) / (final.max() - final.min()))


def tabulated() -> list[Problem]:
    """The committed real-training problems."""
    data = np.load(DATA)
    names = sorted({k.split("__")[0] for k in data.files})
    return [Problem(n, data[f"{n}__curves"].astype(float), tuple(int(d) for d in
                                                                 data[f"{n}__dims"]))
            for n in names]


def parametric(side: int = 32, steps: int = 81, seed: int = 0) -> Problem:
    """A 2-parameter family ``y(t) = f + (y0 - f) exp(-t / tau) + noise`` with crossing curves:
    fast learners (small ``b``) plateau early at a worse value than the best slow ones."""
    rng = np.random.default_rng(seed)
    a, b = np.meshgrid(np.linspace(0, 1, side), np.linspace(0, 1, side), indexing="ij")
    final = 0.1 + (a - 0.65) ** 2 + 0.5 * (b - 0.3) ** 2
    tau = 2.0 + 30.0 * b
    y0 = 1.0 + 0.3 * a
    t = np.arange(1, steps + 1)
    curves = final[..., None] + (y0 - final)[..., None] * np.exp(-t / tau[..., None])
    curves = curves + rng.normal(0.0, 0.01, curves.shape)
    return Problem(f"parametric_{side}x{side}", curves.reshape(side * side, steps), (side, side))


# -- searchers -----------------------------------------------------------------------------
class HqueueSearcher:
    """hqueue's TPE (``tpe.suggest`` on a ``Trials``) with an hqueue pruner."""

    def __init__(self, problem: Problem, pruner: Any, seed: int, learn: bool = False) -> None:
        from hqueue import Domain, Trials, hp
        from hqueue.pruners import MemoryRungs

        space = {f"d{i}": hp.quniform(f"d{i}", 0, n - 1, 1) for i, n in enumerate(problem.dims)}
        self.domain = Domain(lambda cfg: 0.0, space)
        self.trials, self.rungs, self.pruner = Trials(), MemoryRungs(), pruner
        self.trials.learn_from_pruned = learn  # True: the ablation's "with" arm
        self.rng = np.random.default_rng(seed)
        self.dims = problem.dims

    def ask(self) -> tuple[int, Any]:
        from hqueue import tpe
        from hqueue.pruners import PruningSession
        from hqueue.states import JOB_STATE_RUNNING

        tids = self.trials.new_trial_ids(1)
        docs = tpe.suggest(tids, self.domain, self.trials, int(self.rng.integers(2**31 - 1)))
        self.trials.insert_trial_docs(docs)
        doc = self.trials._dynamic_trials[-1]
        doc["state"] = JOB_STATE_RUNNING
        self.trials.refresh()
        vals = doc["misc"]["vals"]
        index = tuple(int(round(vals[f"d{i}"][0])) for i in range(len(self.dims)))
        session = PruningSession(self.pruner, self.rungs, doc["tid"])
        return int(np.ravel_multi_index(index, self.dims)), (doc, session, [])

    def report(self, handle: Any, step: int, value: float) -> bool:
        _, session, curve = handle
        session.report(value, step)
        curve.append({"step": step, "value": value})
        return session.should_prune()

    def tell(self, handle: Any, value: float, pruned: bool) -> None:
        from hqueue.pruners import pruned_result
        from hqueue.states import JOB_STATE_DONE

        doc, _, curve = handle
        # what a real run stores: a pruned trial's result carries its curve (pruned_result)
        doc["result"] = (pruned_result({"intermediate": curve}) if pruned
                         else {"status": "ok", "loss": float(value)})
        doc["state"] = JOB_STATE_DONE


class OptunaSearcher:
    """Optuna's default TPE sampler with one of its pruners (ask/tell interface)."""

    def __init__(self, problem: Problem, pruner: Any, seed: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed),
                                         pruner=pruner)
        self.dims = problem.dims

    def ask(self) -> tuple[int, Any]:
        trial = self.study.ask()
        index = tuple(trial.suggest_int(f"d{i}", 0, n - 1) for i, n in enumerate(self.dims))
        return int(np.ravel_multi_index(index, self.dims)), trial

    def report(self, handle: Any, step: int, value: float) -> bool:
        handle.report(value, step)
        return handle.should_prune()

    def tell(self, handle: Any, value: float, pruned: bool) -> None:
        from optuna.trial import TrialState

        if pruned:
            self.study.tell(handle, state=TrialState.PRUNED)
        else:
            self.study.tell(handle, value)


def _hqueue_pruner(name: str, steps: int) -> Any:
    from hqueue import pruners

    return {"hqueue_none": pruners.NoPruner(),
            "hqueue_asha": pruners.SuccessiveHalving(max_resource=steps),
            "hqueue_asha_r27": pruners.SuccessiveHalving(max(1, steps // 27),
                                                         max_resource=steps),
            "hqueue_hyperband": pruners.Hyperband(1, steps, 3),
            "hqueue_median": pruners.Median()}[name]


def _optuna_pruner(name: str, steps: int) -> Any:
    import optuna

    return {"optuna_sha": optuna.pruners.SuccessiveHalvingPruner(),
            "optuna_hyperband": optuna.pruners.HyperbandPruner(1, steps, 3),
            "optuna_median": optuna.pruners.MedianPruner()}[name]


METHODS = ("hqueue_none", "hqueue_asha", "hqueue_asha_r27", "hqueue_asha_learn",
           "hqueue_hyperband",
           "hqueue_median", "optuna_sha", "optuna_hyperband", "optuna_median")
#: the ablation: TPE that learns from pruned trials (``Trials.learn_from_pruned=True``)
LEARN = "_learn"


def searcher(problem: Problem, method: str, seed: int) -> Any:
    """The searcher called ``method`` (one of :data:`METHODS`) for ``problem``."""
    if method.startswith("hqueue_"):
        learn = method.endswith(LEARN)
        return HqueueSearcher(problem, _hqueue_pruner(method.removesuffix(LEARN),
                                                      problem.steps), seed, learn)
    return OptunaSearcher(problem, _optuna_pruner(method, problem.steps), seed)


# -- the simulation --------------------------------------------------------------------------
def simulate(problem: Problem, method: str, workers: int, budget: int,
             seed: int) -> np.ndarray:
    """Run ``method`` with ``workers`` simulated workers until ``budget`` epochs were started.

    Returns rows ``(compute, regret)``: the epochs spent so far and the regret of the
    incumbent (the best trial that ran all steps) each time a trial finished all its steps.
    """
    logging.getLogger("hqueue").setLevel(logging.ERROR)
    rng = np.random.default_rng(seed + 7919)
    search = searcher(problem, method, seed)
    events: list[tuple[float, int, dict]] = []
    started = spent = seq = 0
    best_final, incumbent, trace = math.inf, None, []

    def start_epoch(run: dict, now: float) -> None:
        nonlocal started, seq
        started += 1
        seq += 1
        heapq.heappush(events, (now + run["speed"], seq, run))

    def new_trial(now: float) -> None:
        if started >= budget:
            return
        config, handle = search.ask()
        run = {"config": config, "handle": handle, "step": 0,
               "speed": float(rng.lognormal(0.0, 0.3))}
        start_epoch(run, now)

    for _ in range(workers):
        new_trial(0.0)
    while events:
        now, _, run = heapq.heappop(events)
        spent += 1
        run["step"] += 1
        step, config = run["step"], run["config"]
        value = float(problem.curves[config, step - 1])
        if step == problem.steps:
            search.tell(run["handle"], value, pruned=False)
            if value < best_final:  # NaN never
                best_final, incumbent = value, config
            if incumbent is not None:
                trace.append((spent, problem.regret(incumbent)))
            new_trial(now)
        elif search.report(run["handle"], step, value):
            search.tell(run["handle"], value, pruned=True)
            new_trial(now)
        elif started < budget:
            start_epoch(run, now)
    return np.asarray(trace if trace else [(spent, 1.0)], dtype=float)


def regret_at(trace: np.ndarray, compute: np.ndarray) -> np.ndarray:
    """The incumbent's regret once ``compute`` epochs were spent (1.0 before any finished).

    Example:
        >>> regret_at(np.array([[10, 0.5], [20, 0.2]]), np.array([5, 10, 25])).tolist()
        [1.0, 0.5, 0.2]
    """
    i = np.searchsorted(trace[:, 0], compute, side="right") - 1
    return np.where(i >= 0, trace[np.maximum(i, 0), 1], 1.0)


def problem_params(problem: Problem) -> dict[str, list]:
    """Level values per dimension of a tabulated problem (for the report)."""
    data = np.load(DATA)
    return json.loads(str(data[f"{problem.name}__params"]))
