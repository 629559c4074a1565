"""``driver_capacity``: the driver's own ceiling, with simulated workers.

One local ``redis-server`` (hqueue's ``RedisServer``). The driver is a real ``fmin(...,
trials=RedisTrials(url, exp_key, send_task=sim.send), max_queue_len=--queue-len (64))`` on the
3-parameter space of ``serial_overhead``; its task sender hands each tid over a pipe to
``--procs`` (2) worker processes (``benchmarks/sim_workers.py``) that claim and finish it
through the store (``TrialStore.claim`` then ``TrialStore.finish`` with the loss, on their own
Redis client), as fast as Redis answers: no Celery, no objective. So what is timed is the
driver's loop (suggest, create, send, wait, pull) plus the two scripts a worker runs per trial.
The simulated workers are processes, not threads of the driver: threads would share the
driver's GIL (each of the driver's socket calls then waits for a worker thread to give the GIL
back), which capped earlier runs of this benchmark at about 1 / (driver + workers CPU).

For each sampler (``rand``, ``tpe``) and history size (0, 1,000, 10,000 finished trials): the
history is made first (untimed, random search through the same simulated workers, after an
untimed warm-up run of 20 trials per simulated worker), a fresh
``RedisTrials`` loads it, then ``fmin`` runs ``--trials`` more (rand 3,000; tpe 600) and is
timed. Recorded per run: trials/s, the driver thread's CPU per trial (``time.thread_time`` of
the main thread), the simulated workers' CPU per trial (their processes, ``/proc``),
``redis-server``'s CPU per trial (``/proc``), Redis commands per trial (``CONFIG RESETSTAT``
before, ``INFO commandstats`` after: all clients, commands inside Lua scripts included), and
the driver's wall time split by phase (``PhaseClock``: the methods doing each phase wrapped
for the timed run).

Read: the driver's own ceiling is 1 / (driver CPU per trial); the measured rate is lower when
the machine's cores (driver, simulated workers and Redis share 2 here) are the limit. A large
``wait`` share with free cores would mean the driver sleeps while there is work.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import report
from benchmarks.dispatch import cpu_seconds
from benchmarks.sim_workers import PHASES, PhaseClock, SimWorkers

SAMPLERS = ("rand", "tpe")
DEFAULT_TRIALS = {"rand": 3000, "tpe": 600}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m benchmarks driver_capacity``."""
    parser.add_argument("--samplers", type=lambda t: t.split(","), default=list(SAMPLERS))
    parser.add_argument(
        "--history", type=lambda t: [int(x) for x in t.split(",")], default=[0, 1000, 10000],
        help="finished trials before the timed part (default 0,1000,10000)")
    parser.add_argument("--trials", type=int, default=None,
                        help="timed trials per run (default rand 3000, tpe 600)")
    parser.add_argument("--queue-len", type=int, default=64)
    parser.add_argument("--procs", type=int, default=2, help="simulated worker processes")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)


def space() -> dict:
    """The 3-parameter space of ``serial_overhead`` (uniform, log-uniform, choice)."""
    from hqueue import hp

    return {"x": hp.uniform("x", -5, 5), "lr": hp.loguniform("lr", -7, 0),
            "kind": hp.choice("kind", ["a", "b", "c"])}


def objective(params: dict) -> float:
    return float(params["x"]) ** 2


@dataclass
class CapacityRun:
    sampler: str
    history: int
    trials: int
    seconds: float
    driver_cpu_s: float
    workers_cpu_s: float | None
    redis_cpu_s: float | None
    commands: dict[str, int]
    phases: dict[str, float] = field(default_factory=dict)  # share of the wall time

    @property
    def rate(self) -> float:
        return self.trials / self.seconds

    def per_trial_ms(self, seconds: float | None) -> float | None:
        return None if seconds is None else 1e3 * seconds / self.trials

    @property
    def commands_per_trial(self) -> float:
        return sum(self.commands.values()) / self.trials


def commandstats(client: object) -> dict[str, int]:
    """Calls per command since the last ``CONFIG RESETSTAT`` (``INFO commandstats``)."""
    stats = client.info("commandstats")  # type: ignore[attr-defined]
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def _diff(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


def run_once(url: str, redis_pid: int | None, sim: SimWorkers, sampler: str, history: int,
             n: int, args: argparse.Namespace) -> CapacityRun:
    """One timed run: ``history`` finished trials made first, then ``n`` timed ones."""
    from hqueue import fmin, rand, tpe
    from hqueue.backends.redis.trials import RedisTrials

    algo = {"rand": rand.suggest, "tpe": tpe.suggest}[sampler]
    exp = f"cap-{uuid.uuid4().hex[:8]}"
    if history:
        fmin(objective, space(), algo=rand.suggest, max_evals=history,
             trials=RedisTrials(url, exp, send_task=sim.send), max_queue_len=args.queue_len,
             show_progressbar=False, rstate=_rng(args.seed))
    trials = RedisTrials(url, exp, send_task=sim.send)  # loads the history, untimed
    client = trials.client
    client.config_resetstat()
    redis_before = cpu_seconds([redis_pid]) if redis_pid else None
    workers_before = sim.cpu_seconds()
    with PhaseClock().installed() as clock:
        cpu0, t0 = time.thread_time(), time.perf_counter()
        fmin(objective, space(), algo=algo, max_evals=history + n, trials=trials,
             max_queue_len=args.queue_len, show_progressbar=False, rstate=_rng(args.seed + 1))
        seconds, driver_cpu = time.perf_counter() - t0, time.thread_time() - cpu0
    redis_cpu = _diff(cpu_seconds([redis_pid]) if redis_pid else None, redis_before)
    workers_cpu = _diff(sim.cpu_seconds(), workers_before)
    return CapacityRun(sampler, history, n, seconds, driver_cpu, workers_cpu, redis_cpu,
                       commandstats(client), clock.shares(seconds))


def _rng(seed: int) -> object:
    import numpy as np

    return np.random.default_rng(seed)


def render(runs: Sequence[CapacityRun]) -> str:
    """The results table and the per-command table."""
    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    groups: dict[tuple[str, int], list[CapacityRun]] = {}
    for r in runs:
        groups.setdefault((r.sampler, r.history), []).append(r)
    rows = []
    for (sampler, history), rs in groups.items():
        med = statistics.median
        rows.append([
            sampler, f"{history:,}", rs[0].trials, f"{med(r.rate for r in rs):.0f}",
            f"{min(r.rate for r in rs):.0f}-{max(r.rate for r in rs):.0f} ({len(rs)})",
            fmt(med(r.per_trial_ms(r.driver_cpu_s) for r in rs)),
            fmt(med(r.per_trial_ms(r.workers_cpu_s) for r in rs)),
            fmt(None if rs[0].redis_cpu_s is None else
                med(r.per_trial_ms(r.redis_cpu_s) for r in rs)),  # type: ignore[misc]
            f"{med(1e3 / r.rate for r in rs):.3f}",
            f"{med(r.commands_per_trial for r in rs):.1f}",
        ])
    headers = ["sampler", "finished before", "timed trials", "trials/s (median)", "range (runs)",
               "driver CPU ms/trial", "sim. workers CPU ms/trial", "Redis CPU ms/trial",
               "wall ms/trial", "Redis commands/trial"]
    text = report.markdown_table(headers, rows, left=1)
    text += ("\n\nThe driver's wall time by phase, % (median over runs; `wait`: blocked on the "
             "event stream with nothing to do; `suggest`: the algorithm; `create+send`: "
             "validating, writing and sending the new trials; `pull`: reading changed trials; "
             "`other`: the rest of the loop, e.g. stop rules and counting):\n\n")
    text += report.markdown_table(
        ["sampler", "finished before", *PHASES, "other"],
        [[s, f"{h:,}", *(f"{100 * statistics.median(r.phases.get(p, 0.0) for r in rs):.1f}"
                         for p in (*PHASES, "other"))]
         for (s, h), rs in groups.items()], left=1)
    names = sorted({c for r in runs for c in r.commands},
                   key=lambda c: -max(r.commands.get(c, 0) / r.trials for r in runs))
    cols = list(groups)
    crow = []
    for name in names:
        vals = [statistics.median(r.commands.get(name, 0) / r.trials for r in groups[k])
                for k in cols]
        if max(vals) >= 0.05:
            crow.append([name, *(f"{v:.2f}" for v in vals)])
    text += ("\n\nRedis commands per trial by command (median over runs; below 0.05 in every "
             "run left out; `evalsha` is one script call, the commands it runs are counted "
             "under their own names too):\n\n")
    text += report.markdown_table(["command", *(f"{s} @ {h:,}" for s, h in cols)], crow, left=1)
    return text + "\n"


def plot(runs: Sequence[CapacityRun], path: Path) -> Path:
    """Left: trials/s per cell (median, and the driver's own ceiling 1 / its CPU per trial);
    right: the driver's wall time by phase."""
    plt = report.pyplot()
    groups: dict[tuple[str, int], list[CapacityRun]] = {}
    for r in runs:
        groups.setdefault((r.sampler, r.history), []).append(r)
    names = [f"{s}\n@{h:,}" for s, h in groups]
    med = statistics.median
    rate = [med(r.rate for r in rs) for rs in groups.values()]
    ceiling = [med(r.trials / r.driver_cpu_s for r in rs) for rs in groups.values()]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    x = range(len(names))
    left.bar([i - 0.2 for i in x], rate, 0.4, label="measured trials/s")
    left.bar([i + 0.2 for i in x], ceiling, 0.4, label="1 / driver CPU per trial")
    left.set_xticks(list(x), names)
    left.set_yscale("log")
    left.set_ylabel("trials/s")
    left.legend()
    bottom = [0.0] * len(names)
    for phase in (*PHASES, "other"):
        share = [100 * med(r.phases.get(phase, 0.0) for r in rs) for rs in groups.values()]
        right.bar(list(x), share, 0.6, bottom=bottom, label=phase)
        bottom = [b + s for b, s in zip(bottom, share)]
    right.set_xticks(list(x), names)
    right.set_ylabel("% of the driver's wall time")
    right.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Entry point: every sampler x history cell, ``--reps`` times; writes
    ``driver_capacity.md``."""
    from hqueue.backends.redis.server import RedisServer

    history = [0, 200] if args.quick else args.history
    runs: list[CapacityRun] = []
    load_start = " ".join(f"{v:.2f}" for v in os.getloadavg())
    secret_was = os.environ.get("HQUEUE_SECRET")
    os.environ.setdefault("HQUEUE_SECRET", secrets.token_hex(32))
    try:
        with RedisServer() as server:
            sim = SimWorkers(server.url, args.procs)
            try:  # warm-up, untimed: every simulated worker connected, scripts loaded
                run_once(server.url, None, sim, "rand", 0, 20 * args.procs, args)
                for rep in range(args.reps):
                    for sampler in args.samplers:
                        n = args.trials or (100 if args.quick else DEFAULT_TRIALS[sampler])
                        for h in history:
                            r = run_once(server.url, server.pid, sim, sampler, h, n, args)
                            print(f"rep {rep + 1} {sampler} @ {h}: {r.rate:.0f} trials/s, "
                                  f"driver {r.per_trial_ms(r.driver_cpu_s):.3f} ms CPU/trial, "
                                  f"{r.commands_per_trial:.1f} Redis commands/trial, waiting "
                                  f"{100 * r.phases['wait']:.0f}%", flush=True)
                            runs.append(r)
            finally:
                sim.close()
    finally:
        if not secret_was:
            os.environ.pop("HQUEUE_SECRET", None)
    body = render(runs)
    print(body)
    method = (__doc__ or "").split("\n\n", 1)[1].strip()
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    notes = [f"load average (1, 5, 15 min) at start: {load_start}",
             f"load average (1, 5, 15 min) at end: {load}",
             f"{args.procs} simulated worker processes, max_queue_len {args.queue_len}"]
    text = (report.header_markdown("driver capacity (simulated workers)",
                                   report.environment(argv), notes)
            + "\n" + body + "\nHow it is measured:\n\n" + method + "\n")
    out = report.output_dir(args.quick, args.out)
    md = report.write_text(out / "driver_capacity.md", text)
    png = plot(runs, out / "driver_capacity.png")
    print(f"wrote {md} and {png}")
    return 0
