"""Pruning: hqueue's pruners against Optuna's, at equal compute and at equal final regret.

Every method searches the same problems (learning curves of real scikit-learn training runs,
tabulated once by :mod:`benchmarks.pruning_curves`, plus a parametric family) with 1 and 8
simulated asynchronous workers (:mod:`benchmarks.pruning_sim`) under a budget of
``--budget-trials`` full trials' worth of epochs. Methods: hqueue TPE without pruning, with ASHA
(``SuccessiveHalving(max_resource=R)``: the default rule, told the trial length R as a user
would: first rung at R/9), the previous default's rungs (first at R/27, ``hqueue_asha_r27``,
an ablation row), the same with TPE learning from pruned trials (``hqueue_asha_learn``),
``Hyperband(1, R, 3)`` and ``Median()``; Optuna's default TPE with
``SuccessiveHalvingPruner()``, ``HyperbandPruner(1, R, 3)`` and ``MedianPruner()``.
Regret: the final value of the incumbent (best trial that ran all steps) minus the best final
value in the table, in the problem's units, averaged over seeds. Also measured: the per-report
cost of the Redis rung script (``prune_report.lua``) on a real redis-server.

Example:
    nice -n 10 python -m benchmarks pruning --quick
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from benchmarks import report
from benchmarks.pruning_overhead import rung_overhead, worker_report_overhead
from benchmarks.pruning_sim import METHODS, Problem, parametric, regret_at, simulate, tabulated

BASELINE, DEFAULT, ABLATION = "hqueue_none", "hqueue_asha", "hqueue_asha_learn"
OPTUNA = ("optuna_sha", "optuna_hyperband", "optuna_median")
GRID_POINTS = 60


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", type=int, default=10, help="repetitions per case")
    parser.add_argument("--budget-trials", type=int, default=30,
                        help="budget, in full trials' worth of epochs")
    parser.add_argument("--workers", default="1,8", help="simulated worker counts")
    parser.add_argument("--processes", type=int, default=2, help="benchmark processes")
    parser.add_argument("--reports", type=int, default=2000,
                        help="Redis reports timed per rung size")
    parser.add_argument("--report-trials", type=int, default=200,
                        help="worker trials timed per report path")


def _problems(quick: bool) -> list[Problem]:
    return tabulated() + [parametric(side=12 if quick else 32)]


def _case(args: tuple) -> tuple[tuple, np.ndarray]:
    problem, method, workers, budget, seed = args
    return (problem.name, method, workers, seed), simulate(problem, method, workers, budget, seed)


def run_cases(problems: Sequence[Problem], workers: Sequence[int], seeds: int,
              budget_trials: int, processes: int) -> dict[tuple, np.ndarray]:
    """Mean regret over seeds on a compute grid, per ``(problem, method, workers)``."""
    tasks = [(p, m, w, budget_trials * p.steps, s)
             for p in problems for m in METHODS for w in workers for s in range(seeds)]
    with ProcessPoolExecutor(max_workers=processes) as pool:
        traces = dict(pool.map(_case, tasks, chunksize=4))
    means = {}
    for p in problems:
        grid = _grid(p, budget_trials)
        for m in METHODS:
            for w in workers:
                runs = [regret_at(traces[(p.name, m, w, s)], grid) for s in range(seeds)]
                raw = np.mean(runs, axis=0) * (p.final.max() - p.final.min())
                means[(p.name, m, w)] = raw
    return means


def _grid(problem: Problem, budget_trials: int) -> np.ndarray:
    return np.linspace(problem.steps, budget_trials * problem.steps, GRID_POINTS)


def compute_to_reach(curve: np.ndarray, grid: np.ndarray, target: float) -> float | None:
    """The first compute on ``grid`` where the mean regret ``curve`` is at most ``target``.

    Example:
        >>> compute_to_reach(np.array([0.5, 0.2, 0.1]), np.array([1.0, 2.0, 3.0]), 0.2)
        2.0
    """
    hit = np.flatnonzero(curve <= target + 1e-12)
    return float(grid[hit[0]]) if hit.size else None


def tables(problems: Sequence[Problem], workers: Sequence[int], means: dict,
           budget_trials: int) -> tuple[str, list[str]]:
    """One markdown table per problem, and the target checks."""
    out, checks = [], []
    for p in problems:
        grid = _grid(p, budget_trials)
        third = int(np.searchsorted(grid, grid[-1] / 3))
        rows = []
        for m in METHODS:
            row: list[Any] = [m]
            for w in workers:
                curve = means[(p.name, m, w)]
                reach = compute_to_reach(curve, grid, means[(p.name, BASELINE, w)][-1])
                row += [curve[third], curve[-1],
                        "never" if reach is None else f"{reach / grid[-1]:.2f}"]
            rows.append(row)
        headers = ["method"] + [h for w in workers for h in (
            f"{w}w regret @B/3", f"{w}w regret @B", f"{w}w compute to no-pruning regret")]
        out.append(f"### {p.name} ({p.curves.shape[0]} configs x {p.steps} steps, "
                   f"B = {budget_trials * p.steps} epochs)\n\n"
                   + report.markdown_table(headers, rows, left=1))
        for w in workers:
            curve = means[(p.name, DEFAULT, w)]
            reach = compute_to_reach(curve, grid, means[(p.name, BASELINE, w)][-1])
            ok_third = reach is not None and reach <= grid[-1] / 3 + 1e-9
            beats = [o for o in OPTUNA if curve[third] < means[(p.name, o, w)][third]]
            ties = [o for o in OPTUNA if curve[third] == means[(p.name, o, w)][third]]
            checks.append(f"{p.name}, {w} worker(s): ASHA reaches the no-pruning final regret "
                          f"with {'<=' if ok_third else '>'} 1/3 of its compute "
                          f"({'never' if reach is None else f'{reach / grid[-1]:.2f}'}); "
                          f"at B/3 lower regret than {len(beats)}/3 Optuna pruners"
                          + (f" (tied with {', '.join(ties)})" if ties else "")
                          + "; ablation, regret @B/3 and @B without / with learning from "
                          f"pruned trials: {curve[third]:.4g} / "
                          f"{means[(p.name, ABLATION, w)][third]:.4g} and {curve[-1]:.4g} / "
                          f"{means[(p.name, ABLATION, w)][-1]:.4g}")
    return "\n\n".join(out), checks


def plot(problems: Sequence[Problem], workers: Sequence[int], means: dict,
         budget_trials: int, path: Any) -> None:
    """Mean regret against compute, one panel per problem and worker count."""
    plt = report.pyplot()
    fig, axes = plt.subplots(len(workers), len(problems), figsize=(4 * len(problems),
                                                                 3.2 * len(workers)),
                             squeeze=False)
    for j, p in enumerate(problems):
        grid = _grid(p, budget_trials)
        for i, w in enumerate(workers):
            ax = axes[i][j]
            for m in METHODS:
                style = "-" if m.startswith("hqueue") else "--"
                ax.plot(grid / grid[-1], means[(p.name, m, w)], style, label=m,
                        linewidth=2.2 if m == DEFAULT else 1.2)
            ax.set_title(f"{p.name}, {w} worker(s)", fontsize=9)
            ax.set_xlabel("compute (fraction of B)")
            ax.set_ylabel("mean regret")
            ax.set_yscale("symlog", linthresh=1e-3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Run every case, write ``pruning.md`` and ``pruning.png``."""
    out = report.output_dir(args.quick, args.out)
    seeds = 2 if args.quick else args.seeds
    budget = 10 if args.quick else args.budget_trials
    workers = [int(w) for w in args.workers.split(",")]
    problems = _problems(args.quick)
    notes = [f"load average (1, 5, 15 min) at start: {os.getloadavg()}",
             "methods (R = steps of the problem): hqueue_none = TPE + NoPruner(); hqueue_asha "
             "= TPE + SuccessiveHalving(max_resource=R) (the default: first rung at R // 9); "
             "hqueue_asha_r27 = the same with the first rung at R // 27 (the default before, "
             "an ablation row); hqueue_hyperband = TPE + "
             "Hyperband(1, R, 3); hqueue_median = TPE + Median(); optuna_* = TPESampler(seed) "
             "+ SuccessiveHalvingPruner() / HyperbandPruner(1, R, 3) / MedianPruner()",
             "hqueue's TPE counts pruned trials as failed by default; hqueue_asha_learn is "
             "the ablation: the same ASHA search with Trials.learn_from_pruned=True (pruned "
             "trials in TPE's history, ranked after complete ones by step reached, then last "
             "value, Optuna's order); Optuna's TPE uses pruned trials",
             f"{seeds} seeds per case; budget B = {budget} full trials' worth of epochs"]
    t0 = time.perf_counter()
    means = run_cases(problems, workers, seeds, budget, args.processes)
    body, checks = tables(problems, workers, means, budget)
    plot(problems, workers, means, budget, out / "pruning.png")
    overhead = rung_overhead(200 if args.quick else args.reports, [100, 10_000, 100_000])
    worker = worker_report_overhead(20 if args.quick else args.report_trials)
    notes.append(f"simulation wall time {time.perf_counter() - t0:.0f} s")
    text = (report.header_markdown("Pruning: regret against compute", report.environment(argv),
                                   notes)
            + "\nRegret is in each problem's units (validation error rate for sgd_digits, "
              "validation log loss otherwise); 'compute to no-pruning regret' is the fraction "
              "of B after which the method's mean regret is at most the no-pruning search's "
              "mean regret at B.\n\n" + body
            + "\n\n## Targets\n\n" + "\n".join(f"- {c}" for c in checks)
            + "\n\n## Redis rung script, per report (ASHA report reaching a rung)\n\n"
            + report.markdown_table(["trials at the rung", "median ms", "p90 ms",
                                     "round trips per report"], overhead)
            + "\n\n## A worker's ctrl.report + ctrl.should_prune(), per report\n\n"
              "ASHA over 27 steps on a claimed trial (random curves, some pruned); the two "
              "paths alternate trial by trial on one redis-server.\n\n"
            + report.markdown_table(["path", "reports", "median ms", "p90 ms",
                                     "round trips per report"], worker, left=1)
            + "\n\n![regret against compute](pruning.png)\n")
    print(report.write_text(out / "pruning.md", text))
    print("\n".join(checks))
    return 0
