"""``driver_capacity``: the driver's own ceiling, with workers simulated in this process.

One local ``redis-server`` (hqueue's ``RedisServer``). The driver is a real ``fmin(...,
trials=RedisTrials(url, exp_key, send_task=sim.send), max_queue_len=--queue-len (64))`` on the
3-parameter space of ``serial_overhead``; its task sender hands each tid to ``--threads`` (2)
threads of this process that claim and finish it through the store
(``TrialStore.claim`` then ``TrialStore.finish`` with the loss, on their own Redis client), as
fast as Redis answers: no Celery, no objective, no worker process. So what is timed is the
driver's loop (suggest, create, send, wait, pull) plus the two scripts a worker runs per trial.

For each sampler (``rand``, ``tpe``) and history size (0, 1,000, 10,000 finished trials): the
history is made first (untimed, random search through the same simulated workers), a fresh
``RedisTrials`` loads it, then ``fmin`` runs ``--trials`` more (rand 3,000; tpe 600) and is
timed. Recorded per run: trials/s, the driver thread's CPU per trial (``time.thread_time`` of
the main thread), the simulated workers' CPU per trial (their threads), ``redis-server``'s CPU
per trial (``/proc``), and Redis commands per trial (``CONFIG RESETSTAT`` before,
``INFO commandstats`` after: all clients, commands inside Lua scripts included; the claim and
finish scripts of the simulated workers run about 19 of them).

Read: if the driver's CPU per trial is close to 1 / (trials/s), the driver's Python is the
limit (the simulated workers and Redis share the GIL and the cores with it on this 2-core
machine, so their CPU is reported next to it).
"""

from __future__ import annotations

import argparse
import os
import queue
import secrets
import statistics
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks import report
from benchmarks.dispatch import cpu_seconds

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
    parser.add_argument("--threads", type=int, default=2, help="simulated worker threads")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)


def space() -> dict:
    """The 3-parameter space of ``serial_overhead`` (uniform, log-uniform, choice)."""
    from hqueue import hp

    return {"x": hp.uniform("x", -5, 5), "lr": hp.loguniform("lr", -7, 0),
            "kind": hp.choice("kind", ["a", "b", "c"])}


def objective(params: dict) -> float:
    return float(params["x"]) ** 2


class SimWorkers:
    """Threads that claim and finish every trial whose task :meth:`send` receives.

    Example (needs a Redis server):
        >>> sim = SimWorkers(url, "exp", threads=2)  # doctest: +SKIP
        >>> trials = RedisTrials(url, "exp", send_task=sim.send)  # doctest: +SKIP
    """

    def __init__(self, url: str, exp_key: str, threads: int) -> None:
        from hqueue.backends.redis.store import TrialStore

        self.tids: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self.cpu = [0.0] * threads
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._loop, args=(i, TrialStore.from_url(
            url, exp_key)), daemon=True) for i in range(threads)]
        for t in self.threads:
            t.start()

    def send(self, exp_key: str, tid: int, queue_name: str) -> None:
        self.tids.put(int(tid))

    def _loop(self, i: int, store: object) -> None:
        from hqueue.states import JOB_STATE_DONE

        start = time.thread_time()
        try:
            while True:
                tid = self.tids.get()
                if tid is None:
                    break
                claim = store.claim(tid, owner=f"sim{i}", lease_s=60.0)  # type: ignore[attr-defined]
                if claim is None:
                    continue
                x = claim.doc["misc"]["vals"]["x"][0]
                store.finish(tid, f"sim{i}", JOB_STATE_DONE,  # type: ignore[attr-defined]
                             {"loss": float(x) ** 2, "status": "ok"})
        except BaseException as exc:  # noqa: BLE001 - reported by close()
            self.errors.append(exc)
        finally:
            self.cpu[i] = time.thread_time() - start

    def close(self) -> float:
        """Stop the threads; their CPU seconds."""
        for _ in self.threads:
            self.tids.put(None)
        for t in self.threads:
            t.join(30)
        if self.errors:
            raise RuntimeError(f"a simulated worker failed: {self.errors[0]!r}")
        return sum(self.cpu)


@dataclass
class CapacityRun:
    sampler: str
    history: int
    trials: int
    seconds: float
    driver_cpu_s: float
    workers_cpu_s: float
    redis_cpu_s: float | None
    commands: dict[str, int]

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


def run_once(url: str, redis_pid: int | None, sampler: str, history: int, n: int,
             args: argparse.Namespace) -> CapacityRun:
    """One timed run: ``history`` finished trials made first, then ``n`` timed ones."""
    from hqueue import fmin, rand, tpe
    from hqueue.backends.redis.trials import RedisTrials

    algo = {"rand": rand.suggest, "tpe": tpe.suggest}[sampler]
    exp = f"cap-{uuid.uuid4().hex[:8]}"
    sim = SimWorkers(url, exp, args.threads)
    try:
        if history:
            fmin(objective, space(), algo=rand.suggest, max_evals=history,
                 trials=RedisTrials(url, exp, send_task=sim.send), max_queue_len=args.queue_len,
                 show_progressbar=False, rstate=_rng(args.seed))
        trials = RedisTrials(url, exp, send_task=sim.send)  # loads the history, untimed
        client = trials.client
        client.config_resetstat()
        redis_before = cpu_seconds([redis_pid]) if redis_pid else None
        cpu0, t0 = time.thread_time(), time.perf_counter()
        fmin(objective, space(), algo=algo, max_evals=history + n, trials=trials,
             max_queue_len=args.queue_len, show_progressbar=False, rstate=_rng(args.seed + 1))
        seconds, driver_cpu = time.perf_counter() - t0, time.thread_time() - cpu0
        redis_after = cpu_seconds([redis_pid]) if redis_pid else None
        commands = commandstats(client)
    finally:
        workers_cpu = sim.close()
    redis_cpu = None if redis_before is None or redis_after is None else \
        redis_after - redis_before
    workers_share = workers_cpu * n / (history + n)  # their CPU over both phases, prorated
    return CapacityRun(sampler, history, n, seconds, driver_cpu, workers_share, redis_cpu,
                       commands)


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


def main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Entry point: every sampler x history cell, ``--reps`` times; writes
    ``driver_capacity.md``."""
    from hqueue.backends.redis.server import RedisServer

    history = [0, 200] if args.quick else args.history
    runs: list[CapacityRun] = []
    secret_was = os.environ.get("HQUEUE_SECRET")
    os.environ.setdefault("HQUEUE_SECRET", secrets.token_hex(32))
    try:
        with RedisServer() as server:
            for rep in range(args.reps):
                for sampler in args.samplers:
                    n = args.trials or (100 if args.quick else DEFAULT_TRIALS[sampler])
                    for h in history:
                        r = run_once(server.url, server.pid, sampler, h, n, args)
                        print(f"rep {rep + 1} {sampler} @ {h}: {r.rate:.0f} trials/s, driver "
                              f"{r.per_trial_ms(r.driver_cpu_s):.3f} ms CPU/trial, "
                              f"{r.commands_per_trial:.1f} Redis commands/trial", flush=True)
                        runs.append(r)
    finally:
        if not secret_was:
            os.environ.pop("HQUEUE_SECRET", None)
    body = render(runs)
    print(body)
    method = (__doc__ or "").split("\n\n", 1)[1].strip()
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    notes = [f"load average (1, 5, 15 min) at end: {load}",
             f"{args.threads} simulated worker threads, max_queue_len {args.queue_len}"]
    text = (report.header_markdown("driver capacity (simulated workers)",
                                   report.environment(argv), notes)
            + "\n" + body + "\nHow it is measured:\n\n" + method + "\n")
    md = report.write_text(report.output_dir(args.quick, args.out) / "driver_capacity.md", text)
    print(f"wrote {md}")
    return 0
