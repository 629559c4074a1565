"""The real-workers check of ``pruning``: one small search on a real Redis with real ``hqueue
worker`` processes, without pruning and with ASHA, on a tabulated learning-curve problem.

Each trial replays a configuration's tabulated curve (``benchmarks/data/pruning_curves.npz``),
sleeping ``--epoch-s`` per epoch as its training, reporting through ``ctrl.report`` and asking
``ctrl.should_prune()`` after each epoch. The pruner travels to the workers as a spec
(``fmin(..., pruner=...)``). Measured per arm: epochs spent, trials pruned, the final regret of
the best trial that ran all epochs, wall time, and on the workers the time of one
``ctrl.report`` + ``ctrl.should_prune()`` (one Redis round trip: one script stores the partial
result's checkpoint, the curve point and the rung records).

Example:
    nice -n 10 python -m benchmarks pruning_real --quick
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import report
from benchmarks.pruning_sim import tabulated


class CurveObjective:
    """Replays a tabulated curve as a training loop (picklable by reference: the workers import
    it from ``benchmarks``). Appends each trial's per-report timings (ms) to ``timings``."""

    fmin_pass_expr_memo_ctrl = True

    def __init__(self, problem: str, epoch_s: float, timings: str) -> None:
        self.problem, self.epoch_s, self.timings = problem, epoch_s, timings

    def __call__(self, expr: Any, memo: Any, ctrl: Any) -> float:
        from hqueue import TrialPruned
        from hqueue.pyll import rec_eval

        problem = next(p for p in tabulated() if p.name == self.problem)
        config = rec_eval(expr, memo=memo)
        index = tuple(int(round(config[f"d{i}"])) for i in range(len(problem.dims)))
        curve = problem.curves[int(np.ravel_multi_index(index, problem.dims))]
        times = []
        try:
            for epoch, value in enumerate(curve):
                time.sleep(self.epoch_s)
                t0 = time.perf_counter()
                ctrl.report(float(value), step=epoch + 1)
                prune = ctrl.should_prune()
                times.append((time.perf_counter() - t0) * 1000)
                if prune and epoch < len(curve) - 1:
                    raise TrialPruned(f"pruned after epoch {epoch + 1}")
        finally:
            with open(self.timings, "a") as fh:
                fh.write(json.dumps(times) + "\n")
        return float(curve[-1])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--problem", default="sgd_digits", help="a tabulated problem")
    parser.add_argument("--workers", type=int, default=3, help="hqueue worker processes")
    parser.add_argument("--trials", type=int, default=60, help="trials per search")
    parser.add_argument("--seeds", type=int, default=2, help="searches per arm")
    parser.add_argument("--epoch-s", type=float, default=0.01, help="sleep per epoch (s)")


def run_arm(url: str, problem: Any, pruner: Any, trials_n: int, workers: int, seed: int,
            epoch_s: float, timings: Path) -> dict[str, Any]:
    """One fmin over RedisTrials; the arm's measurements."""
    from hqueue import STATUS_OK, fmin, hp, tpe
    from hqueue.backends.redis.rungs import RedisRungs
    from hqueue.backends.redis.trials import RedisTrials

    space = {f"d{i}": hp.quniform(f"d{i}", 0, n - 1, 1) for i, n in enumerate(problem.dims)}
    trials = RedisTrials(url, exp_key=f"pruning-real-{uuid.uuid4().hex[:8]}", lease_s=30)
    t0 = time.perf_counter()
    fmin(CurveObjective(problem.name, epoch_s, str(timings)), space, algo=tpe.suggest,
         max_evals=trials_n, trials=trials, max_queue_len=workers,
         rstate=np.random.default_rng(seed), show_progressbar=False, pruner=pruner)
    wall = time.perf_counter() - t0
    curves = RedisRungs(trials.client, trials.exp_key).curves(trials.tids)
    finals = [t["result"]["loss"] for t in trials.trials if t["result"]["status"] == STATUS_OK]
    best = min(finals) if finals else float("nan")
    pruned = sum(t["result"]["status"] == "pruned" for t in trials.trials)
    trials.delete_all()
    return {"epochs": int(sum(len(s) for s, _ in curves.values())), "pruned": pruned,
            "regret": float(best - problem.final.min()), "wall_s": wall}


def main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Start Redis and the workers, run each arm ``--seeds`` times, write pruning_real.md."""
    from benchmarks.dispatch import REPO_ROOT, Processes
    from hqueue.backends.redis.server import RedisServer
    from hqueue.pruners import NoPruner, SuccessiveHalving

    out = report.output_dir(args.quick, args.out)
    problem = next(p for p in tabulated() if p.name == args.problem)
    trials_n, seeds = (12, 1) if args.quick else (args.trials, args.seeds)
    arms = {"no pruning": NoPruner(), "ASHA": SuccessiveHalving(max_resource=problem.steps)}
    os.environ.setdefault("HQUEUE_SECRET", secrets.token_hex(32))
    logdir = Path(tempfile.mkdtemp(prefix="hqueue-pruning-real-"))
    results: dict[str, list[dict]] = {name: [] for name in arms}
    report_ms: dict[str, list[float]] = {name: [] for name in arms}
    notes = [f"load average (1, 5, 15 min) at start: {os.getloadavg()}",
             f"{args.workers} `hqueue worker --pool solo` processes, max_queue_len "
             f"{args.workers}, {trials_n} trials per search, {seeds} seed(s) per arm, "
             f"{args.epoch_s:g} s sleep per epoch, problem {problem.name} "
             f"({problem.steps} epochs), hqueue TPE; ASHA = SuccessiveHalving(max_resource="
             f"{problem.steps}) sent to the workers with fmin(..., pruner=...)"]
    with RedisServer(appendonly=False) as server:
        env = dict(os.environ, HQUEUE_URL=server.url, PYTHONPATH=os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p))
        with Processes(logdir, env) as procs:
            for i in range(args.workers):
                procs.start(f"worker{i}", [sys.executable, "-m", "hqueue.cli", "worker", "--url",
                                           server.url, "--pool", "solo", "--loglevel",
                                           "WARNING"])
            for seed in range(seeds):
                for name, pruner in arms.items():  # interleaved: the same load for both
                    procs.check_alive()
                    timings = logdir / f"timings-{name.replace(' ', '_')}-{seed}.jsonl"
                    results[name].append(run_arm(server.url, problem, pruner, trials_n,
                                                 args.workers, seed, args.epoch_s, timings))
                    for line in timings.read_text().splitlines():
                        report_ms[name] += json.loads(line)
                    print(f"  {name} seed {seed}: {results[name][-1]}", flush=True)
    rows = []
    for name in arms:
        runs, ms = results[name], report_ms[name]
        rows.append([name, f"{np.mean([r['epochs'] for r in runs]):.0f}",
                     f"{np.mean([r['pruned'] for r in runs]):.1f}",
                     f"{np.mean([r['regret'] for r in runs]):.4g}",
                     f"{np.mean([r['wall_s'] for r in runs]):.1f}",
                     f"{statistics.median(ms):.2f}", f"{np.percentile(ms, 90):.2f}"])
    text = (report.header_markdown("Pruning with real workers (RedisTrials)",
                                   report.environment(argv), notes)
            + "\nMeans over seeds. Regret: final value of the best trial that ran all epochs "
              "above the best in the table. Report ms: one `ctrl.report` + "
              "`ctrl.should_prune()` on a worker (all reports of all trials).\n\n"
            + report.markdown_table(["arm", "epochs spent", "trials pruned", "regret",
                                     "wall s", "report ms median", "report ms p90"], rows,
                                    left=1) + "\n")
    print(report.write_text(out / "pruning_real.md", text))
    return 0
