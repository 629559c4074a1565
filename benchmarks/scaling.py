"""``scaling``: trial throughput vs number of worker processes, trivial and 0.1 s objectives.

The ``dispatch`` cells (``benchmarks/dispatch.py``: its Redis, worker processes, warm-up, timing
and CPU accounting, unchanged) swept over worker counts and objective durations. One local
``redis-server`` (hqueue's ``RedisServer``, AOF ``appendfsync everysec``) serves every run; for
each worker count W in ``--workers`` (default 1, 2, 4, ... up to the core count) and each
objective duration in ``--objective-s`` (default 0 and 0.1 s), each cell runs with W fresh, warm
worker processes on this machine:

- ``bare Celery``: a plain Celery app on the same Redis; tasks ``add(x, y)`` (trivial) or
  ``slow_add(x, y, s)`` (``time.sleep(s)``, then add); ``--pool=solo`` workers; the client keeps
  ``--in-flight-per-worker`` (2) x W tasks in flight.
- ``hqueue rand``: ``fmin(objective, hp.uniform("x", -1, 1), algo=rand.suggest,
  trials=RedisTrials(url, exp_key=<fresh>), max_queue_len=2 * W)`` with W ``hqueue worker --pool
  solo`` processes; objective ``x ** 2``, or ``time.sleep(s); return x ** 2``.
- ``Optuna random``: ``JournalStorage(JournalRedisBackend(url))``, W processes each running
  ``study.optimize(objective, n_trials=trials / W)`` with ``RandomSampler()`` on one study (Optuna
  has no queue: each worker samples for itself).
- Optional (``--cells``): ``hqueue_tpe`` and ``optuna_tpe``, trivial objective only.

Timed as in ``dispatch``: Celery from the first send to the last result, hqueue the ``fmin``
call, Optuna from the release of the waiting workers to the last one's return; warm-up
(imports, connections, every worker process having run a trial) is outside the clock.

Trials per run: with an objective of s > 0 seconds, ``max(40, 2 * W / s)`` (at least 2 s of
ideal run time: 20 W for 0.1 s); trivial, ``max(300, 100 * W)``; ``--trials`` fixes it; rounded up
to a multiple of W. Each cell is the median of ``--reps`` (3) runs, interleaved (rep 1 of every
objective, W and cell, then rep 2, ...).

Read: with an objective of s seconds, the ideal is W / s trials/s (every worker always busy,
dispatch free); efficiency = measured / ideal. With the trivial objective there is no ideal
rate: speedup = trials/s at W over trials/s at W = 1 of the same system, parallel efficiency =
speedup / W. Worker time beyond the objective = W / (trials/s) - s: what each trial costs a
worker besides the objective (its share of dispatch, queueing and idle waiting). The driver,
Redis and every worker share this machine's cores: with more worker processes than cores the
numbers measure contention, not scaling. Rest of machine (all runs table) = CPU seconds the
rest of the machine used during a run (``/proc/stat`` minus our processes) over the run's
seconds, in cores: near 0 on a quiet machine; high values mark a noisy run.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from collections.abc import Callable, Sequence

from benchmarks.dispatch import CELLS, Context
from benchmarks.scaling_report import Results, cells_for, plot, render

DEFAULT_CELLS = ("celery", "hqueue_rand", "optuna_random")


def _csv(cast: Callable[[str], object]) -> Callable[[str], list]:
    def parse(text: str) -> list:
        try:
            return [cast(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated values, got {text!r}"
            ) from None

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m benchmarks scaling``."""
    parser.add_argument(
        "--workers",
        type=_csv(int),
        default=None,
        help="worker counts, e.g. 1,2,4 (default powers of 2 up to the cores)",
    )
    parser.add_argument(
        "--objective-s",
        type=_csv(float),
        default=[0.0, 0.1],
        help="objective durations in seconds, 0 = trivial (default 0,0.1)",
    )
    parser.add_argument(
        "--trials",
        type=int,
        default=None,
        help="trials per run (default: see the method; quick: tiny)",
    )
    parser.add_argument("--reps", type=int, default=None, help="runs per cell (3; quick 1)")
    parser.add_argument(
        "--in-flight-per-worker",
        type=int,
        default=2,
        help="hqueue max_queue_len and Celery tasks in flight = this x W",
    )
    parser.add_argument(
        "--cells",
        type=_csv(str),
        default=list(DEFAULT_CELLS),
        help=f"from {','.join(CELLS)} (default {','.join(DEFAULT_CELLS)})",
    )
    parser.add_argument(
        "--run-timeout", type=float, default=300.0, help="deadline of one run, seconds"
    )
    parser.add_argument("--seed", type=int, default=0)


def default_workers(cores: int) -> list[int]:
    """Powers of two up to ``cores``, and ``cores`` itself.

    Example:
        >>> default_workers(2), default_workers(12), default_workers(16)
        ([1, 2], [1, 2, 4, 8, 12], [1, 2, 4, 8, 16])
    """
    counts = [2**i for i in range(max(cores, 1).bit_length()) if 2**i <= cores]
    return counts if counts[-1] == cores else [*counts, cores]


def trials_for(
    workers: int, objective_s: float, quick: bool = False, fixed: int | None = None
) -> int:
    """Trials of one run, rounded up to a multiple of ``workers`` (Optuna splits them evenly).

    Example:
        >>> trials_for(1, 0.1), trials_for(4, 0.1), trials_for(3, 0.0), trials_for(3, 0, fixed=10)
        (40, 80, 300, 12)
    """
    if fixed is not None:
        n = fixed
    elif objective_s > 0:
        n = (
            max(8, math.ceil(0.5 * workers / objective_s))
            if quick
            else max(40, math.ceil(2.0 * workers / objective_s - 1e-9))
        )
    else:
        n = 40 if quick else max(300, 100 * workers)
    return workers * math.ceil(n / workers)


def main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Run every (rep, objective, W, cell), then write ``scaling.md`` and ``scaling.png``."""
    from benchmarks import peers, report
    from benchmarks.dispatch import bench_redis, loadavg, versions

    if peers.is_stand_in():
        raise SystemExit("scaling needs hqueue itself (RedisTrials, workers): no stand-in")
    unknown = [c for c in args.cells if c not in CELLS]
    if unknown:
        raise SystemExit(f"unknown cells {unknown}; choose from {','.join(CELLS)}")
    cores = os.cpu_count() or 1
    workers = sorted(set(args.workers or ([1, 2] if args.quick else default_workers(cores))))
    objectives = sorted(set(args.objective_s))
    if not workers or workers[0] < 1 or args.in_flight_per_worker < 1:
        raise SystemExit("--workers and --in-flight-per-worker must be whole numbers >= 1")
    if not objectives or objectives[0] < 0:
        raise SystemExit("--objective-s must be durations in seconds >= 0 (0: trivial)")
    reps = args.reps or (1 if args.quick else 3)
    res = Results(workers, objectives, args.cells)
    notes = [f"load average (1, 5, 15 min) at start: {loadavg()}"]
    with bench_redis(1, 1, args.run_timeout, args.seed) as base:
        libs = versions(base.url)
        failures = _sweep(base, res, args, reps)
    notes += [
        f"load average (1, 5, 15 min) at end: {loadavg()}",
        "libraries: " + ", ".join(f"{k} {v}" for k, v in libs.items()),
        f"workers {','.join(map(str, workers))}; objectives "
        f"{','.join(f'{s:g}' for s in objectives)} s; runs per cell: {reps}; "
        f"{args.in_flight_per_worker} x W trials in flight (hqueue max_queue_len, Celery client)",
        *failures,
    ]
    if workers[-1] > cores:
        notes.append(
            f"{workers[-1]} workers on {cores} cores: rows with a sleeping objective measure "
            "dispatch (the workers mostly sleep); the trivial objective's rows measure "
            "contention for the cores, not hqueue"
        )
    body = render(res, cores)
    print(body)
    out = report.output_dir(args.quick, args.out)
    method = (__doc__ or "").split("\n\n", 1)[1].strip()
    header = report.header_markdown(
        "throughput vs number of workers", report.environment(argv), notes
    )
    md = report.write_text(
        out / "scaling.md", f"{header}\n{body}## How it is measured\n\n{method}\n"
    )
    png = plot(res, cores, out / "scaling.png")
    print(f"wrote {md} and {png}")
    return 1 if failures else 0


def _sweep(base: Context, res: Results, args: argparse.Namespace, reps: int) -> list[str]:
    """Every (rep, objective, W, cell) run into ``res``; returns one line per failed run."""
    from benchmarks.dispatch import run_cell

    failures = []
    for rep in range(reps):
        for s in res.objectives:
            for w in res.workers:
                ctx = dataclasses.replace(base, workers=w, queue_len=args.in_flight_per_worker * w)
                n = trials_for(w, s, args.quick, args.trials)
                for key in cells_for(res.cells, s):
                    where = f"{key}, W={w}, objective {s:g} s, rep {rep + 1}/{reps}"
                    print(f"{where} ({n} trials) ...", flush=True)
                    try:
                        run = run_cell(ctx, key, n, f"{key}-w{w}-s{s:g}-r{rep}", args.seed + rep, s)
                    except Exception as exc:  # noqa: BLE001 - one broken run must not stop all
                        base.keep_logs = True
                        failures.append(f"FAILED {where}: {exc!r}"[:600])
                        print(f"  failed: {exc!r}", flush=True)
                        continue
                    run.rep = rep
                    res.add(s, w, key, run)
                    print(f"  {run.rate:.1f} trials/s ({run.seconds:.2f} s)", flush=True)
    return failures
