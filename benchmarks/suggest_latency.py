"""``suggest_latency``: milliseconds per single suggestion against the size of the history.

The space is the 10-parameter mixed space of :data:`benchmarks.problems.MIXED10` with its cheap
objective. For each library a history of N completed trials is built once, then single
suggestions for the next trial are timed with the history held fixed (the suggested trial is
never added). A first (cold) call on each fresh history precedes the timed repetitions and is
reported separately: it includes one-off work such as indexing the N-trial history, which a
library that maintains its index incrementally during ``fmin`` pays only once. The main table
reports the median of the warm calls.

What is timed:

* hyperopt / hqueue: one call ``algo(new_ids=[tid], domain, trials, seed)``, i.e. exactly what
  ``fmin`` calls per trial, on a ``Trials`` object holding N done trials (inserted documents
  drawn by ``rand.suggest``); ``fmin``'s own bookkeeping is not included.
* Optuna: ``study.ask()`` followed by the 10 ``trial.suggest_*`` calls of the define-by-run
  space (what an Optuna objective pays before it evaluates anything), on an in-memory study
  holding N complete trials (``study.add_trials``). The asked trial is then told FAIL, outside
  the timer, so the history stays at N complete trials. TPESampler keeps Optuna's defaults.
"""

from __future__ import annotations

import argparse
import copy
import gc
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import peers, report
from benchmarks.peers import AlgoSpec
from benchmarks.problems import MIXED10, Problem
from benchmarks.trial_stub import RandomTrial

DEFAULT_SIZES = (100, 300, 1000, 3000, 10000)
QUICK_SIZES = (20, 50)
DEFAULT_ALGOS = (
    "hqueue_tpe",
    "hqueue_anneal",
    "hqueue_rand",
    "hyperopt_tpe",
    "hyperopt_anneal",
    "hyperopt_rand",
    "optuna_tpe",
)
TPE_PEERS = ("hyperopt_tpe", "optuna_tpe")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m benchmarks suggest_latency``."""
    parser.add_argument(
        "--sizes",
        type=_int_list,
        default=None,
        help=f"history sizes (default {','.join(map(str, DEFAULT_SIZES))})",
    )
    parser.add_argument("--algos", type=_str_list, default=list(DEFAULT_ALGOS))
    parser.add_argument("--reps", type=int, default=15, help="timed repetitions per cell")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=20.0,
        help="stop repeating a cell after this much time (at least one rep)",
    )
    parser.add_argument("--seed", type=int, default=0)


class HyperoptLikeBench:
    """Histories and timings for hyperopt or hqueue (same public API)."""

    def __init__(self, library: str, problem: Problem, max_size: int, seed: int) -> None:
        self.mod = peers.load_library(library)
        self.space = problem.space(self.mod.hp)
        self.domain = self.mod.Domain(problem.objective, self.space)
        self.docs = self._done_docs(problem, max_size, seed)

    def _done_docs(self, problem: Problem, n: int, seed: int) -> list[dict[str, Any]]:
        mod = self.mod
        scratch = mod.Trials()
        docs = mod.rand.suggest(scratch.new_trial_ids(n), self.domain, scratch, seed)
        for doc in docs:
            values = {k: v[0] for k, v in doc["misc"]["vals"].items() if len(v)}
            loss = problem.objective(mod.space_eval(self.space, values))
            doc["state"] = mod.JOB_STATE_DONE
            doc["result"] = {"loss": float(loss), "status": mod.STATUS_OK}
        return docs

    def timer(self, spec: AlgoSpec, size: int) -> Callable[[int], float]:
        """A function ``rep -> seconds`` timing one suggestion on a history of ``size``."""
        trials = self.mod.Trials()
        trials.new_trial_ids(size)  # keep the id counter past the inserted tids
        trials.insert_trial_docs(copy.deepcopy(self.docs[:size]))
        trials.refresh()
        suggest = peers.hyperopt_suggest(self.mod, spec)

        def one(rep: int) -> float:
            new_ids = trials.new_trial_ids(1)
            start = time.perf_counter()
            suggest(new_ids, self.domain, trials, 1000 + rep)
            return time.perf_counter() - start

        return one


class OptunaBench:
    """An in-memory study with a random history; times ask + the define-by-run suggestions."""

    def __init__(self, problem: Problem, max_size: int, seed: int) -> None:
        self.optuna = peers.load_library("optuna")
        self.problem = problem
        rng = np.random.default_rng(seed)
        self.frozen = []
        for _ in range(max_size):
            stub = RandomTrial(rng)
            value = problem.objective(problem.optuna_config(stub))
            self.frozen.append(
                self.optuna.trial.create_trial(
                    params=stub.params, distributions=stub.distributions, value=value
                )
            )

    def timer(self, spec: AlgoSpec, size: int) -> Callable[[int], float]:
        """A function ``rep -> seconds`` timing ask + suggestions on ``size`` complete trials."""
        optuna = self.optuna
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = optuna.create_study(sampler=peers.optuna_sampler(optuna, spec, seed=0))
        study.add_trials(self.frozen[:size])

        def one(rep: int) -> float:
            start = time.perf_counter()
            trial = study.ask()
            self.problem.optuna_config(trial)
            elapsed = time.perf_counter() - start
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return elapsed

        return one


def measure(one: Callable[[int], float], reps: int, max_seconds: float) -> list[float]:
    """A cold first call, then up to ``reps`` timed calls within ``max_seconds``.

    Returns ``[cold, warm_1, warm_2, ...]``; only the warm calls enter the median.
    """
    times: list[float] = [one(-1)]
    start = time.perf_counter()
    for rep in range(reps):
        times.append(one(rep))
        if time.perf_counter() - start > max_seconds:
            break
    return times


def _build(library: str, size: int, seed: int) -> Any:
    print(f"building a {size}-trial history for {library} ...", flush=True)
    if library == "optuna":
        return OptunaBench(MIXED10, size, seed)
    return HyperoptLikeBench(library, MIXED10, size, seed)


def run_cells(
    specs: Sequence[AlgoSpec],
    sizes: Sequence[int],
    reps: int,
    max_seconds: float,
    seed: int,
    skipped: dict[str, str],
) -> dict[tuple[str, int], list[float]]:
    """Time every (algorithm, size); libraries that fail to import land in ``skipped``.

    Libraries run one after the other and each one's history is freed before the next is built,
    so the garbage collector of one library's run never walks another library's objects.
    """
    results: dict[tuple[str, int], list[float]] = {}
    for library in dict.fromkeys(s.library for s in specs):
        group = [s for s in specs if s.library == library]
        try:
            bench = _build(library, max(sizes), seed)
        except Exception as exc:  # noqa: BLE001 - a broken library must not stop the others
            for spec in group:
                skipped[spec.name] = str(exc)
            print(f"skipping {', '.join(s.name for s in group)}: {exc}", flush=True)
            continue
        for spec in group:
            for size in sizes:
                gc.collect()
                try:
                    times = measure(bench.timer(spec, size), reps, max_seconds)
                except Exception as exc:  # noqa: BLE001
                    skipped[f"{spec.name} N={size}"] = f"failed: {exc!r}"
                    print(f"  {spec.name} N={size} failed: {exc!r}", flush=True)
                    continue
                results[spec.name, size] = times
                print(
                    f"  {spec.name:>16} N={size:<6} {1e3 * statistics.median(times[1:]):9.2f} ms"
                    f"  ({len(times) - 1} reps, cold {1e3 * times[0]:.2f} ms)",
                    flush=True,
                )
        del bench
        gc.collect()
    return results


def render(
    results: dict[tuple[str, int], list[float]], names: Sequence[str], sizes: Sequence[int]
) -> str:
    """Markdown tables: median ms per suggestion, the TPE speed ratio, and rep counts."""
    cols = [n for n in names if any((n, s) in results for s in sizes)]
    med = {k: 1e3 * statistics.median(v[1:]) for k, v in results.items()}
    rows = []
    for s in sizes:
        row: list[Any] = [s] + [med.get((n, s), "-") for n in cols]
        peer = [med[p, s] for p in TPE_PEERS if (p, s) in med]
        mine = med.get(("hqueue_tpe", s))
        row.append(f"{min(peer) / mine:.2f}x" if peer and mine else "-")
        rows.append(row)
    timing = report.markdown_table(["history N", *cols, "fastest peer TPE / hqueue tpe"], rows)
    reps = report.markdown_table(
        ["history N", *cols],
        [[s] + [len(results[n, s]) - 1 if (n, s) in results else "-" for n in cols] for s in sizes],
    )
    cold = report.markdown_table(
        ["history N", *cols],
        [[s] + [1e3 * results[n, s][0] if (n, s) in results else "-" for n in cols] for s in sizes],
    )
    return (
        f"Median ms per suggestion:\n\n{timing}\n\nTimed repetitions per cell:\n\n{reps}\n"
        f"\nFirst (cold) call on each fresh history, ms, not in the medians:\n\n{cold}\n"
    )


def plot(
    results: dict[tuple[str, int], list[float]],
    specs: Sequence[AlgoSpec],
    sizes: Sequence[int],
    path: Path,
) -> Path:
    """Log-log plot of median ms per suggestion against history size (hqueue solid)."""
    plt = report.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for spec in specs:
        xs = [s for s in sizes if (spec.name, s) in results]
        if xs:
            ys = [1e3 * statistics.median(results[spec.name, s][1:]) for s in xs]
            style = "-" if spec.library == "hqueue" else "--"
            ax.plot(xs, ys, style, marker="o", label=spec.name)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="completed trials in history",
        ylabel="ms per suggestion (median)",
        title="suggest latency, 10-parameter mixed space",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Entry point: time, print, and write ``suggest_latency.md`` and ``.png``."""
    sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    reps = min(args.reps, 3) if args.quick else args.reps
    specs = [peers.parse_algo(a) for a in args.algos] + list(args.variant)
    skipped: dict[str, str] = {}
    results = run_cells(specs, sizes, reps, args.max_seconds, args.seed, skipped)
    names = [s.name for s in specs]
    out = report.output_dir(args.quick, args.out)
    env = report.environment(argv)
    notes = [f"skipped {k}: {v}" for k, v in skipped.items()]
    notes.append("space: mixed10 (4 uniform, 2 loguniform, quniform, qloguniform, 2 choice)")
    body = render(results, names, sizes)
    what = (__doc__ or "").split("What is timed:", 1)[1].strip()
    text = (
        report.header_markdown("suggest latency", env, notes)
        + "\n"
        + body
        + "\nThe ratio column is min(hyperopt_tpe, optuna_tpe) / hqueue_tpe: above 1 means "
        "hqueue's TPE is faster than the fastest peer TPE.\n\nWhat is timed:\n\n" + what + "\n"
    )
    print(body)
    md = report.write_text(out / "suggest_latency.md", text)
    png = plot(results, specs, sizes, out / "suggest_latency.png")
    print(f"wrote {md} and {png}")
    return 0


def _int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _str_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]
