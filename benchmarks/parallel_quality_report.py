"""Statistics, tables and plots for the ``parallel_quality`` benchmark.

Regret is the quality benchmark's incumbent regret (:func:`quality_report.incumbent_regret`)
taken in *completion* order: after i evaluations means after the i-th result came back.
At equal evaluations, algorithms are ranked per problem by mean score (log10 regret for
``log_regret`` problems) separately for each worker count W. At equal wall time, the clock is
the simulated one (unit: the mean evaluation time; the optimiser's own time is not on it).

The wall-time *speedup* of W workers on a problem: the simulated time one worker (same
algorithm) needs for its mean regret curve to reach the mean regret that W workers reach when
they finish the budget, divided by the time W workers took. It is W at perfect efficiency and
below W when parallel suggestions are worse than serial ones; ">" marks a lower bound (one
worker never got there within the budget).

Example:
    >>> import numpy as np
    >>> curve_at(np.array([0.5, 1.0, 2.0]), np.array([3.0, 2.0, 1.0]), np.array([0.0, 1.5]))
    array([inf,  2.])
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import report
from benchmarks.parallel_quality_sim import ALGOS
from benchmarks.problems import get_problem
from benchmarks.quality_report import LOG_FLOOR, incumbent_regret, mann_whitney, problem_table

ALPHA = 0.05
REFERENCE = "hqueue_liar"


@dataclass
class Analysis:
    """Regret traces per (algo, problem, W): seeds x evaluations, and completion times."""

    algos: list[str]
    problems: list[str]
    workers: list[int]
    budgets: list[int]
    sigma: float
    traces: dict[tuple[str, str, int], np.ndarray] = field(default_factory=dict)
    times: dict[tuple[str, str, int], np.ndarray] = field(default_factory=dict)
    seeds: dict[tuple[str, str, int], list[int]] = field(default_factory=dict)
    seconds: dict[tuple[str, int], list[float]] = field(default_factory=dict)

    def has(self, algo: str, problem: str, w: int) -> bool:
        """True when that cell has at least one run."""
        return (algo, problem, w) in self.traces

    def scores(self, algo: str, problem: str, w: int, budget: int) -> np.ndarray:
        """Per-seed score after ``budget`` evaluations (log10 regret where the problem says)."""
        regret = self.traces[algo, problem, w][:, budget - 1]
        if get_problem(problem).log_regret:
            return np.log10(np.maximum(regret, LOG_FLOOR))
        return regret


def analyse(records: Sequence[dict[str, Any]], args: argparse.Namespace) -> Analysis:
    """Group run records into traces; only seeds every algorithm has for a (problem, W)."""
    horizon = max(args.budgets)
    an = Analysis(list(args.algos), list(args.problems), list(args.workers),
                  list(args.budgets), args.sigma)
    by_cell: dict[tuple[str, str, int], dict[int, dict]] = {}
    for r in records:
        if r["algo"] in an.algos and r["problem"] in an.problems and r["workers"] in an.workers:
            by_cell.setdefault((r["algo"], r["problem"], r["workers"]), {})[r["seed"]] = r
    present = [a for a in an.algos if any(k[0] == a for k in by_cell)]
    an.algos = present
    for p in an.problems:
        for w in an.workers:
            seed_sets = [set(by_cell.get((a, p, w), {})) for a in present]
            common = sorted(set.intersection(*seed_sets)) if seed_sets else []
            if not common:
                continue
            opt = get_problem(p).optimum
            for a in present:
                runs = [by_cell[a, p, w][s] for s in common]
                an.seeds[a, p, w] = common
                an.traces[a, p, w] = np.vstack([
                    incumbent_regret(np.asarray(r["losses"][:horizon]),
                                     np.asarray(r["clean"][:horizon]), opt) for r in runs
                ])
                an.times[a, p, w] = np.vstack([np.asarray(r["finish_times"][:horizon])
                                               for r in runs])
                an.seconds.setdefault((a, w), []).extend(float(r["seconds"]) for r in runs)
    return an


def curve_at(times: np.ndarray, trace: np.ndarray, at: np.ndarray) -> np.ndarray:
    """A regret trace as a step function of time, read at ``at`` (inf before any result)."""
    idx = np.searchsorted(times, at, side="right") - 1
    return np.where(idx >= 0, trace[np.maximum(idx, 0)], np.inf)


def mean_curve(an: Analysis, algo: str, problem: str, w: int, grid: np.ndarray) -> np.ndarray:
    """Mean over seeds of the regret at each time of ``grid`` (inf until every seed has one)."""
    tr, tm = an.traces[algo, problem, w], an.times[algo, problem, w]
    return np.mean([curve_at(tm[i], tr[i], grid) for i in range(len(tr))], axis=0)


def speedup(an: Analysis, algo: str, problem: str, w: int, budget: int) -> tuple[float, bool]:
    """Wall-time speedup of ``w`` workers over one (see module docstring); (value, censored)."""
    tr_w, tm_w = an.traces[algo, problem, w], an.times[algo, problem, w]
    target = float(np.mean(tr_w[:, budget - 1]))
    t_w = float(np.mean(tm_w[:, budget - 1]))
    t_end = float(np.max(an.times[algo, problem, 1][:, budget - 1]))
    grid = np.linspace(0.0, t_end, 4000)
    serial = mean_curve(an, algo, problem, 1, grid)
    hit = np.nonzero(serial <= target * (1 + 1e-9))[0]
    if len(hit) == 0:
        return t_end / t_w, True
    return float(grid[hit[0]]) / t_w, False


def mean_ranks(an: Analysis, w: int, budget: int) -> dict[str, float]:
    """Mean over problems of each algorithm's rank by mean score, at ``w`` workers."""
    from scipy.stats import rankdata

    ranks: dict[str, list[float]] = {a: [] for a in an.algos}
    for p in an.problems:
        if not all(an.has(a, p, w) for a in an.algos):
            continue
        means = [float(np.mean(an.scores(a, p, w, budget))) for a in an.algos]
        for a, r in zip(an.algos, rankdata(means)):
            ranks[a].append(float(r))
    return {a: float(np.mean(v)) if v else math.nan for a, v in ranks.items()}


def _rank_table(an: Analysis, budget: int) -> str:
    rows = []
    for w in an.workers:
        ranks = mean_ranks(an, w, budget)
        best = min((v for v in ranks.values() if not math.isnan(v)), default=math.nan)
        rows.append([f"W={w}", *[f"**{ranks[a]:.2f}**" if ranks[a] == best else
                                 f"{ranks[a]:.2f}" for a in an.algos]])
    return report.markdown_table(["workers", *an.algos], rows, left=1)


def _regret_table(an: Analysis, problem: str, budget: int) -> str:
    rows = []
    for w in an.workers:
        cells = {a: an.scores(a, problem, w, budget) for a in an.algos if an.has(a, problem, w)}
        if not cells:
            continue
        best = min(float(np.mean(v)) for v in cells.values())
        row: list[Any] = [f"W={w}"]
        for a in an.algos:
            v = cells.get(a)
            if v is None:
                row.append("-")
                continue
            se = float(np.std(v, ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan
            text = f"{np.mean(v):.3g} ± {se:.2g}"
            row.append(f"**{text}**" if float(np.mean(v)) == best else text)
        rows.append(row)
    return report.markdown_table(["workers", *an.algos], rows, left=1)


def _versus_table(an: Analysis, budget: int) -> str:
    """Problems where REFERENCE is significantly better / worse than each other algorithm."""
    rows = []
    others = [a for a in an.algos if a != REFERENCE]
    for w in an.workers:
        row: list[Any] = [f"W={w}"]
        for other in others:
            better, worse = 0, 0
            for p in an.problems:
                if not (an.has(REFERENCE, p, w) and an.has(other, p, w)):
                    continue
                pval, sign = mann_whitney(an.scores(REFERENCE, p, w, budget),
                                          an.scores(other, p, w, budget))
                better += pval < ALPHA and sign < 0
                worse += pval < ALPHA and sign > 0
            row.append(f"{better} / {worse}")
        rows.append(row)
    return report.markdown_table(["workers", *[f"vs {o}" for o in others]], rows, left=1)


def _speedup_table(an: Analysis, budget: int) -> str:
    rows = []
    for w in [w for w in an.workers if w > 1]:
        row: list[Any] = [f"W={w}"]
        for a in an.algos:
            vals, censored = [], 0
            for p in an.problems:
                if an.has(a, p, w) and an.has(a, p, 1):
                    s, c = speedup(an, a, p, w, budget)
                    vals.append(s)
                    censored += c
            if not vals:
                row.append("-")
                continue
            gm = float(np.exp(np.mean(np.log(vals))))
            row.append(f"{gm:.2f}" + (f" ({censored} >)" if censored else ""))
        rows.append(row)
    return report.markdown_table(["workers", *an.algos], rows, left=1)


def _degradation_table(an: Analysis, budget: int) -> str:
    """Geometric mean over problems of mean regret at W over mean regret at W=1."""
    rows = []
    for w in [w for w in an.workers if w > 1]:
        row: list[Any] = [f"W={w}"]
        for a in an.algos:
            ratios = []
            for p in an.problems:
                if an.has(a, p, w) and an.has(a, p, 1):
                    r_w = float(np.mean(an.traces[a, p, w][:, budget - 1]))
                    r_1 = float(np.mean(an.traces[a, p, 1][:, budget - 1]))
                    ratios.append(max(r_w, LOG_FLOOR) / max(r_1, LOG_FLOOR))
            row.append(f"{np.exp(np.mean(np.log(ratios))):.2f}" if ratios else "-")
        rows.append(row)
    return report.markdown_table(["workers", *an.algos], rows, left=1)


def _time_table(an: Analysis) -> str:
    rows = []
    for a in an.algos:
        row: list[Any] = [a]
        for w in an.workers:
            secs = an.seconds.get((a, w))
            row.append(f"{np.mean(secs):.2f}" if secs else "-")
        rows.append(row)
    return report.markdown_table(["algorithm", *[f"W={w}" for w in an.workers]], rows, left=1)


def render(an: Analysis, real: Any = None) -> str:
    """All tables, one section per budget, then the real-workers check if it ran."""
    n_seeds = max((len(s) for s in an.seeds.values()), default=0)
    algos = report.markdown_table(["algorithm", "what it is"],
                                  [[a, ALGOS[a][1]] for a in an.algos], left=2)
    parts = [
        f"## Set-up\n\n{algos}\n\nWorkers W: {', '.join(map(str, an.workers))}; "
        f"evaluation times lognormal with mean 1 and log-sd {an.sigma:g}; {n_seeds} seeds "
        f"(the same durations and noise for every algorithm at a given seed).\n",
        "## Problems\n\n" + problem_table(an.problems) + "\n",
    ]
    for budget in an.budgets:
        parts.append(f"## Budget {budget} evaluations\n")
        parts.append("Mean rank over problems at equal evaluations (1 = best; ranked "
                     "separately for each W):\n\n" + _rank_table(an, budget) + "\n")
        parts.append(
            "Regret growth from parallelism: geometric mean over problems of (mean regret "
            f"with W workers) / (mean regret with 1 worker), same algorithm, after {budget} "
            "evaluations (1 = no loss):\n\n" + _degradation_table(an, budget) + "\n")
        parts.append(
            "Wall-time speedup over one worker at equal quality (geometric mean over "
            "problems; W would be perfect; `(k >)`: on k problems one worker never reached "
            "that regret, so the value is a lower bound):\n\n"
            + _speedup_table(an, budget) + "\n")
        if REFERENCE in an.algos:
            parts.append(
                f"{REFERENCE} vs each: number of problems where it is significantly better / "
                f"worse (two-sided Mann-Whitney U, p < {ALPHA}):\n\n"
                + _versus_table(an, budget) + "\n")
        for p in an.problems:
            label = p + (" (log10 regret)" if get_problem(p).log_regret else "")
            parts.append(f"### {label}, budget {budget}\n\nMean regret ± standard error:\n\n"
                         + _regret_table(an, p, budget) + "\n")
    parts.append("## Optimiser time\n\nMean real seconds per run spent in the optimiser "
                 f"(suggest and tell), budget {max(an.budgets)}:\n\n" + _time_table(an) + "\n")
    if real is not None:
        from benchmarks import parallel_quality_real

        parts.append(parallel_quality_real.render(real, an))
    return "\n".join(parts)


def plot(an: Analysis, out: Path) -> list[Path]:
    """``parallel_quality.png`` (regret vs W per problem, and mean ranks vs W) and
    ``parallel_quality_time.png`` (regret vs simulated time per W, for the reference)."""
    if not an.traces:
        return []
    plt = report.pyplot()
    budget = max(an.budgets)
    n = len(an.problems) + 1
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.8 * ncols, 3.0 * nrows), squeeze=False)
    for ax, p in zip(axes.flat, an.problems):
        for a in an.algos:
            ws = [w for w in an.workers if an.has(a, p, w)]
            if not ws:
                continue
            t = np.maximum(np.vstack([an.traces[a, p, w][:, budget - 1] for w in ws]).T,
                           LOG_FLOOR)
            err = t.std(axis=0, ddof=1) / math.sqrt(len(t)) if len(t) > 1 else None
            ax.errorbar(ws, t.mean(axis=0), yerr=err,
                        marker="o", ms=3, lw=1.2, capsize=2, label=a)
        ax.set(xscale="log", yscale="log", title=f"{p}", xlabel="workers W")
        _worker_ticks(ax, an.workers)
        ax.grid(True, which="both", alpha=0.25)
    ax = list(axes.flat)[len(an.problems)]
    for a in an.algos:
        ax.plot(an.workers, [mean_ranks(an, w, budget)[a] for w in an.workers], marker="o",
                label=a)
    ax.set(xscale="log", title="mean rank over problems", xlabel="workers W",
           ylabel="rank (1 = best)")
    _worker_ticks(ax, an.workers)
    for extra in list(axes.flat)[n:]:
        extra.set_visible(False)
    axes[0][0].set_ylabel(f"mean regret after {budget} evals")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path = out / "parallel_quality.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path, _plot_time(an, out / "parallel_quality_time.png")]


def _worker_ticks(ax: Any, workers: Sequence[int]) -> None:
    ax.set_xticks(list(workers), [str(w) for w in workers])
    ax.minorticks_off()


def _plot_time(an: Analysis, path: Path) -> Path:
    plt = report.pyplot()
    budget = max(an.budgets)
    algo = REFERENCE if REFERENCE in an.algos else an.algos[0]
    ncols = min(3, len(an.problems))
    nrows = math.ceil(len(an.problems) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), squeeze=False)
    for ax, p in zip(axes.flat, an.problems):
        ws = [w for w in an.workers if an.has(algo, p, w)]
        if not ws:
            continue
        t_end = max(float(np.max(an.times[algo, p, w][:, budget - 1])) for w in ws)
        grid = np.geomspace(0.3, t_end, 300)
        for w in an.workers:
            if an.has(algo, p, w):
                ax.plot(grid, np.maximum(mean_curve(an, algo, p, w, grid), LOG_FLOOR),
                        label=f"W={w}")
        ax.set(xscale="log", yscale="log", title=p, xlabel="simulated time (mean evals)")
        ax.grid(True, which="both", alpha=0.25)
    for extra in list(axes.flat)[len(an.problems):]:
        extra.set_visible(False)
    axes[0][0].set_ylabel(f"{algo}: mean regret")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
