"""Tables and plot of the ``scaling`` benchmark: throughput, efficiency, ratios, every run.

Example:
    >>> from benchmarks.dispatch import Run
    >>> res = Results([1, 2], [0.1], ["hqueue_rand"])
    >>> res.add(0.1, 1, "hqueue_rand", Run(4.0, 36, {}, {}))  # 9 trials/s, ideal 10
    >>> res.add(0.1, 2, "hqueue_rand", Run(2.0, 36, {}, {}))  # 18 trials/s, ideal 20
    >>> res.efficiency(0.1, 2, "hqueue_rand")
    0.9
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from benchmarks import report
from benchmarks.dispatch import CELLS, PEER_OF, Run

TRIVIAL_ONLY = ("hqueue_tpe", "optuna_tpe")  # the sampler's cost only matters when free
COLORS = {
    "celery": "tab:gray",
    "hqueue_rand": "tab:blue",
    "hqueue_tpe": "tab:cyan",
    "optuna_random": "tab:orange",
    "optuna_tpe": "tab:red",
}


def ideal_rate(workers: int, objective_s: float) -> float | None:
    """W / s trials per second for an objective of ``s`` seconds; None for a trivial one.

    Example:
        >>> ideal_rate(4, 0.1), ideal_rate(4, 0.0)
        (40.0, None)
    """
    return workers / objective_s if objective_s > 0 else None


def cells_for(cells: Sequence[str], objective_s: float) -> list[str]:
    """The cells run with this objective: the TPE ones only with the trivial objective.

    Example:
        >>> cells_for(["celery", "hqueue_tpe"], 0.1), cells_for(["celery", "hqueue_tpe"], 0)
        (['celery'], ['celery', 'hqueue_tpe'])
    """
    return [c for c in cells if objective_s == 0 or c not in TRIVIAL_ONLY]


def label(key: str) -> str:
    """A cell's name in tables.

    Example:
        >>> label("celery"), label("hqueue_rand")
        ('bare Celery', 'hqueue rand')
    """
    return " ".join(x for x in CELLS[key] if x != "-")


def objective_name(s: float) -> str:
    """How an objective duration is titled.

    Example:
        >>> objective_name(0.1)
        '0.1 s objective (`time.sleep(0.1)`)'
    """
    return "trivial objective (`x ** 2`)" if s == 0 else f"{s:g} s objective (`time.sleep({s:g})`)"


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


class Results:
    """The runs of one sweep, by (objective seconds, workers, cell), and the figures from them."""

    def __init__(
        self, workers: Sequence[int], objectives: Sequence[float], cells: Sequence[str]
    ) -> None:
        self.workers, self.objectives, self.cells = list(workers), list(objectives), list(cells)
        self.runs: dict[tuple[float, int, str], list[Run]] = {}

    def add(self, s: float, w: int, key: str, run: Run) -> None:
        """Record one run of cell ``key`` with ``w`` workers and an ``s`` second objective."""
        self.runs.setdefault((s, w, key), []).append(run)

    def get(self, s: float, w: int, key: str) -> list[Run]:
        """The runs of one cell (empty if none finished)."""
        return self.runs.get((s, w, key), [])

    def rate(self, s: float, w: int, key: str) -> float | None:
        """Median trials/s of a cell, None if no run finished."""
        runs = self.get(s, w, key)
        return statistics.median(r.rate for r in runs) if runs else None

    def efficiency(self, s: float, w: int, key: str) -> float | None:
        """Measured / ideal trials/s (objectives of s > 0 only)."""
        rate, ideal = self.rate(s, w, key), ideal_rate(w, s)
        return None if rate is None or ideal is None else rate / ideal

    def speedup(self, s: float, w: int, key: str) -> float | None:
        """Trials/s at ``w`` workers over trials/s at 1 worker of the same cell."""
        rate, base = self.rate(s, w, key), self.rate(s, 1, key)
        return None if rate is None or not base else rate / base

    def overhead_ms(self, s: float, w: int, key: str) -> float | None:
        """Worker time per trial beyond the objective: ``w / rate - s``, in ms."""
        rate = self.rate(s, w, key)
        return None if not rate else 1e3 * (w / rate - s)

    def ratio(self, s: float, w: int, key: str, other: str) -> float | None:
        """Trials/s of ``key`` over those of ``other`` (same objective and workers)."""
        a, b = self.rate(s, w, key), self.rate(s, w, other)
        return None if a is None or not b else a / b


def _rate_table(res: Results, s: float) -> str:
    keys = cells_for(res.cells, s)
    rows = []
    for w in res.workers:
        row: list[object] = [w]
        for key in keys:
            rates = [r.rate for r in res.get(s, w, key)]
            row.append(
                f"{statistics.median(rates):.1f} ({min(rates):.1f}-{max(rates):.1f})"
                if rates
                else "failed"
            )
        rows.append(row)
    return report.markdown_table(["workers", *map(label, keys)], rows)


def _efficiency_table(res: Results, s: float) -> str:
    keys = cells_for(res.cells, s)
    if s > 0:
        rows = [
            [w, f"{ideal_rate(w, s):.1f}"]
            + [
                _fmt(None if e is None else 100 * e, ".0f")
                for e in (res.efficiency(s, w, k) for k in keys)
            ]
            for w in res.workers
        ]
        return report.markdown_table(["workers", "ideal trials/s", *map(label, keys)], rows)
    rows = []
    for w in res.workers:
        speedups = [res.speedup(s, w, k) for k in keys]
        rows.append(
            [w, *["-" if x is None else f"{x:.2f}x ({100 * x / w:.0f}%)" for x in speedups]]
        )
    return report.markdown_table(["workers", *map(label, keys)], rows)


def _overhead_table(res: Results, s: float) -> str:
    keys = cells_for(res.cells, s)
    rows = [[w, *[_fmt(res.overhead_ms(s, w, k), ".2f") for k in keys]] for w in res.workers]
    return report.markdown_table(["workers", *map(label, keys)], rows)


def _worker_table(res: Results, s: float) -> str:
    """Per W: each cell's worker CPU per trial (median over runs), and hqueue's idle gap."""
    keys = cells_for(res.cells, s)

    def cpu_ms(k: str, w: int) -> float | None:
        vals = [r.cpu.get("workers") for r in res.get(s, w, k)]
        vals = [1e3 * v / r.trials for v, r in zip(vals, res.get(s, w, k)) if v is not None]
        return statistics.median(vals) if vals else None

    def gap(w: int, q: float) -> str:
        gaps = sorted(g for k in keys if k.startswith("hqueue_") for r in res.get(s, w, k)
                      for g in r.gaps_ms)
        return f"{gaps[min(len(gaps) - 1, int(q * len(gaps)))]:.1f}" if gaps else "-"

    rows = [[w, *[_fmt(cpu_ms(k, w), ".2f") for k in keys], gap(w, 0.5), gap(w, 0.9)]
            for w in res.workers]
    return report.markdown_table(
        ["workers", *[f"{label(k)} CPU" for k in keys], "hqueue idle gap median",
         "hqueue idle gap p90"], rows)


def _ratio_table(res: Results, s: float) -> str | None:
    keys = cells_for(res.cells, s)
    pairs = [
        (h, d)
        for h in keys
        if h.startswith("hqueue_")
        for d in ("celery", PEER_OF.get(h, ""))
        if d in keys
    ]
    if not pairs:
        return None
    rows = [[w, *[_fmt(res.ratio(s, w, h, d), ".2f") for h, d in pairs]] for w in res.workers]
    return report.markdown_table(["workers", *[f"{label(h)} / {label(d)}" for h, d in pairs]], rows)


def _all_runs_table(res: Results) -> str:
    def ours_ms(r: Run) -> str:
        vals = [r.cpu.get(p) for p in ("client", "workers", "redis")]
        return "n/a" if any(v is None for v in vals) else f"{1e3 * sum(vals) / r.trials:.2f}"

    def rest_cores(r: Run) -> str:
        rest = r.cpu.get("rest")
        return "n/a" if rest is None else f"{rest / r.seconds:.2f}"

    rows = [
        [
            f"{s:g}",
            w,
            label(k),
            r.rep + 1,
            r.trials,
            f"{r.rate:.1f}",
            f"{r.seconds:.2f}",
            ours_ms(r),
            rest_cores(r),
        ]
        for s in res.objectives
        for w in res.workers
        for k in cells_for(res.cells, s)
        for r in res.get(s, w, k)
    ]
    headers = [
        "objective s",
        "workers",
        "cell",
        "rep",
        "trials",
        "trials/s",
        "s",
        "our CPU ms/trial",
        "rest of machine, cores busy",
    ]
    return report.markdown_table(headers, rows, left=0)


def render(res: Results, cores: int) -> str:
    """Per objective: trials/s, efficiency vs ideal (or speedup vs 1 worker), worker time beyond
    the objective, hqueue's ratios to its peers; then every run."""
    parts = []
    for s in res.objectives:
        parts += [
            f"## {objective_name(s)}\n",
            "Trials/s, median (range of runs):\n",
            _rate_table(res, s),
            "",
        ]
        if s > 0:
            parts += [
                f"Efficiency vs ideal (W / {s:g} s trials/s), %:\n",
                _efficiency_table(res, s),
                "",
            ]
        elif 1 in res.workers:
            parts += [
                "Speedup vs 1 worker of the same system (parallel efficiency = speedup / W "
                "in brackets):\n",
                _efficiency_table(res, s),
                "",
            ]
        parts += [
            f"Worker time per trial beyond the objective, ms (W / (trials/s) - {s:g} s):\n",
            _overhead_table(res, s),
            "",
        ]
        parts += [
            "Worker CPU per trial, ms (CPU seconds of all worker processes over the timed part "
            "/ trials: the worker's own cost per trial, the objective's sleep excluded; Optuna's "
            "includes its sampler) and hqueue's idle gap of a worker between two trials, ms "
            "(next claim - previous finish, from the trial documents, all runs pooled):\n",
            _worker_table(res, s),
            "",
        ]
        ratios = _ratio_table(res, s)
        if ratios:
            parts += ["Ratios of trials/s (above 1: hqueue faster):\n", ratios, ""]
    if res.workers[-1] > cores:
        parts += [
            f"This machine has {cores} cores: with more than {cores} worker processes (and "
            "the driver and Redis on the same cores) the numbers measure contention, not "
            "scaling.",
            "",
        ]
    parts += [
        "## All runs\n",
        _all_runs_table(res),
        "",
        "Our CPU = driver or client, workers and Redis, per trial. Rest of machine = CPU seconds "
        "the rest of the machine (other processes, kernel, hypervisor steal) used during the run, "
        "over the run's seconds: about 0 on a quiet machine; 1 means another core's worth of "
        "work competed with the run.",
        "",
    ]
    return "\n".join(parts) + "\n"


def plot(res: Results, cores: int, path: Path) -> Path:
    """One panel per objective: trials/s vs W (log2 x), range bars, ideal line when s > 0."""
    plt = report.pyplot()
    n = len(res.objectives)
    fig, axes = plt.subplots(1, n, figsize=(5.5 * n, 4.5), squeeze=False)
    for ax, s in zip(axes[0], res.objectives):
        for key in cells_for(res.cells, s):
            ws = [w for w in res.workers if res.get(s, w, key)]
            rates = [[r.rate for r in res.get(s, w, key)] for w in ws]
            med = [statistics.median(v) for v in rates]
            err = [
                [m - min(v) for m, v in zip(med, rates)],
                [max(v) - m for m, v in zip(med, rates)],
            ]
            ax.errorbar(
                ws, med, yerr=err, marker="o", capsize=3, label=label(key), color=COLORS.get(key)
            )
        if s > 0:
            ax.plot(
                res.workers,
                [ideal_rate(w, s) for w in res.workers],
                "k--",
                label=f"ideal W / {s:g}",
            )
        if res.workers[-1] > cores:
            ax.axvspan(cores, res.workers[-1], color="0.92", zorder=0, label=f"W > {cores} cores")
        ax.set_xscale("log", base=2)
        ax.set_xticks(res.workers, [str(w) for w in res.workers])
        ax.set(
            xlabel="worker processes W",
            ylabel="trials per second (median, range)",
            title=objective_name(s).replace("`", ""),
        )
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
