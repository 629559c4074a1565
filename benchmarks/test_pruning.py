"""The pruning benchmark's simulator: budget, trace shape, and the committed curve table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.pruning import compute_to_reach
from benchmarks.pruning_sim import METHODS, parametric, regret_at, simulate, tabulated


def test_committed_tables_are_full_factorial_grids():
    problems = {p.name: p for p in tabulated()}
    assert set(problems) == {"gb_cancer", "mlp_digits", "sgd_digits"}
    for p in problems.values():
        assert p.curves.shape[0] == int(np.prod(p.dims))
        assert np.isfinite(p.final).all()


@pytest.mark.parametrize("method", ["hqueue_none", "hqueue_asha", "optuna_median"])
@pytest.mark.parametrize("workers", [1, 4])
def test_simulation_spends_at_most_the_budget(method, workers):
    problem = parametric(side=6, steps=9)
    trace = simulate(problem, method, workers, budget=90, seed=1)
    assert (np.diff(trace[:, 0]) >= 0).all() and trace[-1, 0] <= 90
    assert ((0 <= trace[:, 1]) & (trace[:, 1] <= 1)).all()


def test_without_pruning_every_trial_runs_all_steps():
    problem = parametric(side=6, steps=9)
    trace = simulate(problem, "hqueue_none", 1, budget=45, seed=0)
    assert trace[:, 0].tolist() == [9, 18, 27, 36, 45]


def test_regret_is_a_step_function_of_compute():
    trace = np.array([[10.0, 0.5], [30.0, 0.1]])
    assert regret_at(trace, np.array([0, 10, 29, 30])).tolist() == [1.0, 0.5, 0.5, 0.1]
    assert compute_to_reach(np.array([0.3, 0.3]), np.array([1.0, 2.0]), 0.2) is None


def test_every_method_has_a_searcher():
    problem = parametric(side=4, steps=3)
    for method in METHODS:
        assert simulate(problem, method, 2, budget=12, seed=0).shape[1] == 2


def test_the_real_run_objective_replays_a_curve_and_logs_each_reports_time(tmp_path):
    from benchmarks.pruning_real import CurveObjective
    from hqueue import STATUS_PRUNED, Trials, fmin, hp, rand
    from hqueue.pruners import SuccessiveHalving

    problem = next(p for p in tabulated() if p.name == "sgd_digits")
    space = {f"d{i}": hp.quniform(f"d{i}", 0, n - 1, 1) for i, n in enumerate(problem.dims)}
    timings = tmp_path / "t.jsonl"
    trials = Trials()
    fmin(CurveObjective("sgd_digits", 0.0, str(timings)), space, algo=rand.suggest,
         max_evals=8, trials=trials, rstate=np.random.default_rng(0), show_progressbar=False,
         pruner=SuccessiveHalving(max_resource=problem.steps))
    lines = [json.loads(line) for line in timings.read_text().splitlines()]
    assert len(lines) == 8
    for doc, times in zip(trials.trials, lines):
        assert len(times) == len(doc["result"]["intermediate"])  # one time per report
        assert all(t >= 0 for t in times)
    assert STATUS_PRUNED in trials.statuses()
