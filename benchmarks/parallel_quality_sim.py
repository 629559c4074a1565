"""The simulated asynchronous search behind ``parallel_quality`` (see that module's docstring).

Kept apart from the command line and the cache so that the cache fingerprint covers exactly
the code that produces a run.

Example:
    >>> from benchmarks.problems import get_problem
    >>> run = simulate("hqueue_liar", get_problem("branin"), workers=4, budget=8, seed=0)
    >>> len(run.losses), bool((run.finish_times[1:] >= run.finish_times[:-1]).all())
    (8, True)
"""

from __future__ import annotations

import functools
import heapq
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks import peers
from benchmarks.problems import Problem

#: algorithm name -> (library, description)
ALGOS: dict[str, tuple[str, str]] = {
    "hqueue_liar": ("hqueue", "hqueue tpe.suggest, pending='liar' (the default)"),
    "hqueue_ignore": ("hqueue", "hqueue tpe.suggest, pending='ignore'"),
    "hqueue_hyperopt_ignore": (
        "hqueue",
        "hqueue tpe.suggest with **tpe.HYPEROPT_SETTINGS and pending='ignore'",
    ),
    "hyperopt_tpe": ("hyperopt", "hyperopt 0.3.0 tpe.suggest (RUNNING documents in its Trials)"),
    "optuna_tpe_cl": ("optuna", "Optuna TPESampler(constant_liar=True), ask/tell"),
}
DEFAULT_SIGMA = 0.5
DURATION_STREAM = 0xD0A7  # second entropy word of the duration generator's seed


@dataclass(frozen=True)
class AsyncRun:
    """One simulated search, evaluations in completion order."""

    losses: np.ndarray
    clean: np.ndarray
    finish_times: np.ndarray
    pending_seen: np.ndarray  # trials still running when each evaluated point was suggested
    seconds: float  # real time spent in the optimiser (suggest, tell, bookkeeping)


def algo_library(algo: str) -> str:
    """The library an algorithm needs; ValueError naming the valid algorithms."""
    if algo not in ALGOS:
        raise ValueError(f"unknown algorithm {algo!r}; choose from {', '.join(ALGOS)}")
    return ALGOS[algo][0]


class HyperoptLikeDriver:
    """An asynchronous driver over an in-memory hqueue or hyperopt ``Trials``."""

    def __init__(self, algo: str, problem: Problem, seed: int) -> None:
        self.mod = mod = peers.load_library(algo_library(algo))
        self.algo = self._suggest_fn(algo)
        self.space = problem.space(mod.hp)
        self.domain = mod.Domain(lambda config: 0.0, self.space)
        self.trials = mod.Trials()
        self.rng = np.random.default_rng(seed)
        self.hyperopt = algo_library(algo) == "hyperopt"

    def _suggest_fn(self, algo: str) -> Any:
        tpe = self.mod.tpe
        if algo == "hqueue_ignore":
            return functools.partial(tpe.suggest, pending="ignore")
        if algo == "hqueue_hyperopt_ignore":
            return functools.partial(tpe.suggest, pending="ignore", **tpe.HYPEROPT_SETTINGS)
        return tpe.suggest

    def _config(self, doc: dict) -> Any:
        values = {k: v[0] for k, v in doc["misc"]["vals"].items() if len(v)}
        if hasattr(self.domain, "config"):  # hqueue: the compiled space builds it directly
            return self.domain.config(values)
        return self.mod.space_eval(self.space, values)

    def suggest(self, n: int) -> list[tuple[dict, Any]]:
        """``n`` new trials, marked RUNNING: (document, configuration) pairs."""
        out: list[tuple[dict, Any]] = []
        while len(out) < n:
            ids = self.trials.new_trial_ids(n - len(out))
            docs = self.algo(ids, self.domain, self.trials, int(self.rng.integers(2**31 - 1)))
            if not docs:
                raise RuntimeError("the algorithm returned no trial")
            k = len(self.trials.insert_trial_docs(docs))
            inserted = self.trials._dynamic_trials[-k:]  # the stored (validated) documents
            for doc in inserted:
                doc["state"] = self.mod.JOB_STATE_RUNNING
                out.append((doc, self._config(doc)))
            self._sync()
        return out

    def finish(self, handle: dict, loss: float) -> None:
        """Write the result into the running document in place, as a worker's write lands."""
        handle["result"] = {"loss": loss, "status": self.mod.STATUS_OK}
        handle["state"] = self.mod.JOB_STATE_DONE

    def _sync(self) -> None:
        if self.hyperopt:
            self.trials.refresh()  # hyperopt's fmin refreshes before every suggestion
        else:
            self.trials._refresh_incremental()  # what hqueue's AsyncLoop calls


class OptunaDriver:
    """Ask/tell on an in-memory study with ``TPESampler(constant_liar=True)``."""

    def __init__(self, algo: str, problem: Problem, seed: int) -> None:
        self.optuna = optuna = peers.load_library("optuna")
        self.problem = problem
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
            self.study = optuna.create_study(direction="minimize", sampler=sampler)

    def suggest(self, n: int) -> list[tuple[Any, Any]]:
        """``n`` asked trials with their configurations."""
        out = []
        for _ in range(n):
            trial = self.study.ask()
            out.append((trial, self.problem.optuna_config(trial)))
        return out

    def finish(self, handle: Any, loss: float) -> None:
        """Tell the study the trial's loss."""
        self.study.tell(handle, loss)


def make_driver(algo: str, problem: Problem, seed: int) -> HyperoptLikeDriver | OptunaDriver:
    """The driver for ``algo`` (raises PeerUnavailable when its library does not import)."""
    if algo_library(algo) == "optuna":
        return OptunaDriver(algo, problem, seed)
    return HyperoptLikeDriver(algo, problem, seed)


def simulate(
    algo: str,
    problem: Problem,
    workers: int,
    budget: int,
    seed: int,
    sigma: float = DEFAULT_SIGMA,
) -> AsyncRun:
    """Run ``budget`` evaluations with ``workers`` simulated workers (see module docstring)."""
    driver = make_driver(algo, problem, seed)
    durations = np.random.default_rng([seed, DURATION_STREAM]).lognormal(
        -0.5 * sigma**2, sigma, size=budget
    )
    noise_rng = np.random.default_rng([seed, peers.NOISE_STREAM])
    running: list[tuple[float, int, Any, Any, int]] = []  # (finish, order, handle, config, seen)
    dispatched = 0
    losses, clean, finish, seen = [], [], [], []
    spent = 0.0

    def dispatch(now: float, n: int) -> None:
        nonlocal dispatched, spent
        pending = len(running)
        start = time.perf_counter()
        new = driver.suggest(n)
        spent += time.perf_counter() - start
        for handle, config in new:
            heapq.heappush(
                running, (now + durations[dispatched], dispatched, handle, config, pending)
            )
            dispatched += 1

    dispatch(0.0, min(workers, budget))
    while running:
        now, _, handle, config, pending = heapq.heappop(running)
        observed, noise_free = problem.observe(config, noise_rng)
        start = time.perf_counter()
        driver.finish(handle, observed)
        spent += time.perf_counter() - start
        losses.append(observed)
        clean.append(noise_free)
        finish.append(now)
        seen.append(pending)
        if dispatched < budget:
            dispatch(now, 1)
    return AsyncRun(
        np.asarray(losses), np.asarray(clean), np.asarray(finish), np.asarray(seen), spent
    )
