"""``dispatch``: distributed trial throughput with a trivial objective, all systems on one Redis.

Every system runs against one local ``redis-server`` started by hqueue's ``RedisServer`` (its
default config: AOF ``appendfsync everysec``), with ``--workers`` (2) worker processes on this
machine; driver, workers and Redis share its cores. Cells, each run ``--reps`` (3) times with the
repetitions interleaved (rep 1 of every cell, then rep 2, ...), fresh worker processes per run:

- ``bare Celery``: a Celery app on the same Redis (broker and result backend), JSON, acks early
  (``task_acks_late=False``), ``worker_prefetch_multiplier=1`` and ``worker_disable_prefetch``
  (the transport settings of hqueue's own app), one task ``add(x, y)``. Workers: ``celery -A
  benchmarks.dispatch:celery worker --pool=solo --concurrency=1 --without-gossip
  --without-mingle``. The client keeps ``--queue-len`` (8) tasks in flight: it sends 8, then
  waits for the oldest result (``AsyncResult.get``; the Redis backend delivers results by
  pub/sub) and sends one more each time one arrives, ``--trials`` (500) tasks in all. Timed:
  first send to last result.
- ``hqueue``: ``fmin(lambda x: x ** 2, hp.uniform("x", -1, 1), algo=rand.suggest or
  tpe.suggest, max_evals=500, trials=RedisTrials(url, exp_key=<fresh>), max_queue_len=8,
  show_progressbar=False)`` in this process, workers ``hqueue worker --url URL --pool solo
  --loglevel WARNING`` (each a supervisor plus one Celery worker process). Timed: the ``fmin``
  call.
- ``Optuna``: ``JournalStorage(JournalRedisBackend(url))``; the study is created here, then
  each worker process loads it and runs ``study.optimize(objective, n_trials=500 / workers)``
  with ``RandomSampler()`` or the default ``TPESampler()``; objective
  ``trial.suggest_float("x", -1, 1) ** 2``. Timed: from the moment this process releases the
  workers (they wait on a Redis list) to the last worker's return, over all trials.

Warm-up, outside the clock: Celery workers run small tasks until every worker process has
answered; hqueue runs 24-trial experiments with the same algorithm until every worker owns a
trial (the driver's code paths are warm too); each Optuna worker first optimises a private
24-trial study with its sampler (imports, storage connection and TPE code warm).

Also recorded per run, from just before the clock starts to just after it stops: CPU seconds of
the client/driver (this process), of the worker processes (with their children) and of
``redis-server``, from ``/proc``; and Redis commands executed (``CONFIG RESETSTAT`` then
``INFO commandstats``, which counts commands run inside Lua scripts too). Both are divided by
the trials of the run. And the time the client spent blocked waiting for workers: Celery's
client inside ``AsyncResult.get``, hqueue's driver inside its block on the experiment's event
stream (``AsyncLoop.wait_for_events``, wrapped with a timer for the run).

For hqueue the idle gap is read from the stored trial documents: per owner (worker process),
trials sorted by ``book_time``, gap = next ``book_time`` - previous ``refresh_time`` (the finish
time; both have millisecond resolution). The gap experiment runs ``--gap-trials`` (200) trials
of an objective that sleeps ``--gap-objective-s`` (0.1 s) with random search and
``max_queue_len=8``, on ``--workers`` worker processes.

Read: trials/s is the median over repetitions (range in brackets); "vs bare Celery" is a cell's
trials/s over bare Celery's, "hqueue / Optuna" hqueue's over Optuna's with the same kind of
sampler. ms per trial per worker is ``workers / (trials/s)``: how long a worker process spends
on each trial, objective included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MODULE = "benchmarks.dispatch"
REPO_ROOT = Path(__file__).resolve().parent.parent
URL_ENV = "HQUEUE_BENCH_DISPATCH_URL"  # tells `celery -A benchmarks.dispatch:celery` its Redis
BARE_QUEUE = "bench_dispatch"
ADD_TASK = "bench_dispatch.add"
SLOW_ADD_TASK = "bench_dispatch.slow_add"
WHOAMI_TASK = "bench_dispatch.whoami"
WARMUP_TRIALS = 24
CELLS: dict[str, tuple[str, str]] = {  # key: (system, sampler)
    "celery": ("bare Celery", "-"),
    "hqueue_rand": ("hqueue", "rand"),
    "hqueue_tpe": ("hqueue", "tpe"),
    "optuna_random": ("Optuna", "random"),
    "optuna_tpe": ("Optuna", "tpe"),
}
PEER_OF = {"hqueue_rand": "optuna_random", "hqueue_tpe": "optuna_tpe"}


class BenchError(RuntimeError):
    """A run could not complete (a worker died, a deadline passed, a wrong result)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m benchmarks dispatch``."""
    parser.add_argument("--trials", type=int, default=None, help="per run (default 500, quick 50)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per cell (median)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--queue-len", type=int, default=8, help="trials in flight (default 8)")
    parser.add_argument(
        "--cells",
        type=lambda t: [x for x in t.split(",") if x],
        default=list(CELLS),
        help=",".join(CELLS),
    )
    parser.add_argument(
        "--gap-trials", type=int, default=None, help="idle-gap run (default 200, quick 20; 0: skip)"
    )
    parser.add_argument("--gap-objective-s", type=float, default=0.1)
    parser.add_argument(
        "--run-timeout", type=float, default=300.0, help="deadline of one run, seconds"
    )
    parser.add_argument("--seed", type=int, default=0)


# ----------------------------------------------------------------------------- the bare Celery app


def make_bare_app(url: str) -> Any:
    """The plain Celery app of the ``bare Celery`` cell: ``add(x, y)``, ``slow_add(x, y,
    seconds)`` (sleeps, then adds: the scaling benchmark's timed objective) and ``whoami()``."""
    from celery import Celery

    app = Celery("bench_dispatch", broker=url, backend=url, set_as_current=False)
    app.conf.update(
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_acks_late=False,
        worker_prefetch_multiplier=1,
        worker_disable_prefetch=True,
        task_default_queue=BARE_QUEUE,
        task_default_exchange=BARE_QUEUE,
        task_default_routing_key=BARE_QUEUE,
        result_expires=3600,
    )

    @app.task(name=ADD_TASK, shared=False)
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name=SLOW_ADD_TASK, shared=False)
    def slow_add(x: int, y: int, seconds: float) -> int:
        time.sleep(seconds)
        return x + y

    @app.task(name=WHOAMI_TASK, shared=False)
    def whoami() -> int:
        time.sleep(0.02)  # long enough that every idle worker gets one of a batch
        return os.getpid()

    return app


_BARE_APPS: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    """``benchmarks.dispatch.celery``: the bare app for ``$HQUEUE_BENCH_DISPATCH_URL``."""
    if name == "celery" and os.environ.get(URL_ENV):
        url = os.environ[URL_ENV]
        if url not in _BARE_APPS:
            _BARE_APPS[url] = make_bare_app(url)
        return _BARE_APPS[url]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ----------------------------------------------------------------------------- processes, meters


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise BenchError("deadline passed")
    return left


class Processes:
    """Worker processes of one run, each in its own session, stopped on exit (TERM, then KILL)."""

    def __init__(self, logdir: Path, env: dict[str, str]) -> None:
        self.logdir, self.env = logdir, env
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, cmd: Sequence[str]) -> subprocess.Popen[bytes]:
        path = self.logdir / f"{name}.log"
        with open(path, "ab") as log:
            proc = subprocess.Popen(
                list(cmd),
                env=self.env,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append((name, proc))
        return proc

    @property
    def pids(self) -> list[int]:
        return [p.pid for _, p in self.procs]

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                tail = (self.logdir / f"{name}.log").read_text(errors="replace")[-1500:]
                raise BenchError(f"{name} exited with status {proc.returncode}: ...{tail}")

    def stop(self, timeout: float = 15.0) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # hqueue's supervisor forwards it
        end = time.monotonic() + timeout
        for _, proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, end - time.monotonic()))
        for _, proc in self.procs:  # the session each was started in: stragglers, children
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        self.procs.clear()

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _proc_children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def cpu_seconds(pids: Sequence[int]) -> float | None:
    """user + system CPU seconds of ``pids`` and all their descendants (Linux; else None)."""
    if not Path("/proc/self/stat").exists():
        return None
    tick = os.sysconf("SC_CLK_TCK")
    children, total, todo, seen = _proc_children(), 0.0, list(pids), set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo += children.get(pid, [])
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def machine_busy_seconds() -> float | None:
    """CPU seconds all cores of this machine spent busy since boot (``/proc/stat``), or None."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    # user nice system idle iowait irq softirq steal ...: everything but idle and iowait
    values = [int(v) for v in fields[1:9]]
    busy = values[0] + values[1] + values[2] + values[5] + values[6] + values[7]
    return busy / os.sysconf("SC_CLK_TCK")


class Meter:
    """CPU seconds (client, workers, Redis, rest of the machine) and Redis commands between
    start() and stop()."""

    def __init__(self, client: Any, redis_pid: int | None, worker_pids: Sequence[int]) -> None:
        self.client, self.redis_pid, self.worker_pids = client, redis_pid, list(worker_pids)

    def _cpu(self) -> dict[str, float | None]:
        return {
            "client": time.process_time(),
            "workers": cpu_seconds(self.worker_pids),
            "redis": cpu_seconds([self.redis_pid]) if self.redis_pid else None,
            "machine": machine_busy_seconds(),
        }

    def start(self) -> None:
        self.client.config_resetstat()
        self.before = self._cpu()

    def stop(self) -> tuple[dict[str, float | None], dict[str, int]]:
        after = self._cpu()
        stats = self.client.info("commandstats")
        calls = {
            name.removeprefix("cmdstat_"): int(v.get("calls", 0))
            for name, v in stats.items()
            if isinstance(v, dict)
        }
        cpu = {
            k: (after[k] - self.before[k])
            if after[k] is not None and self.before[k] is not None
            else None
            for k in after
        }
        ours = [cpu["client"], cpu["workers"], cpu["redis"]]
        machine = cpu.pop("machine")
        cpu["rest"] = None if machine is None or None in ours else machine - sum(ours)
        return cpu, calls


@dataclass
class Run:
    """One timed run of one cell."""

    seconds: float
    trials: int
    cpu: dict[str, float | None]
    commands: dict[str, int]  # Redis command -> calls during the timed part
    gaps_ms: list[float] = field(default_factory=list)
    rep: int = 0
    client_wait_s: float | None = None  # time the client sat blocked waiting for results

    @property
    def rate(self) -> float:
        return self.trials / self.seconds

    @property
    def redis_calls(self) -> int:
        return sum(self.commands.values())


@dataclass
class Context:
    """What every run needs: the Redis, the worker environment, the sizes and the deadline."""

    url: str
    redis_pid: int | None
    env: dict[str, str]
    logdir: Path
    workers: int
    queue_len: int
    run_timeout: float
    seed: int
    keep_logs: bool = False  # set after a failure: bench_redis() keeps the worker logs

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url)


# ----------------------------------------------------------------------------- bare Celery


def _get(result: Any, deadline: float, procs: Processes) -> Any:
    from celery.exceptions import TimeoutError as CeleryTimeout

    while True:
        try:
            return result.get(timeout=min(5.0, _remaining(deadline)))
        except CeleryTimeout:
            procs.check_alive()


def run_celery(ctx: Context, n: int, tag: str, objective_s: float = 0.0) -> Run:
    """The bare Celery round trip: ``n`` ``add`` tasks (``slow_add`` sleeping ``objective_s``
    when it is > 0), ``queue_len`` in flight."""
    deadline = time.monotonic() + ctx.run_timeout
    app = make_bare_app(ctx.url)
    client = ctx.client()
    try:
        with Processes(ctx.logdir, ctx.env) as procs:
            for i in range(ctx.workers):
                procs.start(
                    f"{tag}-celery{i}",
                    [
                        sys.executable, "-m", "celery", "-A", f"{MODULE}:celery", "worker",
                        "--pool=solo", "--concurrency=1", f"--queues={BARE_QUEUE}",
                        "--loglevel=WARNING", f"--hostname=bench{i}-{uuid.uuid4().hex[:6]}@%h",
                        "--without-gossip", "--without-mingle",
                    ],
                )
            seen: set[int] = set()
            while len(seen) < ctx.workers:  # warm-up: every worker process has answered
                batch = [app.send_task(WHOAMI_TASK, queue=BARE_QUEUE) for _ in range(WARMUP_TRIALS)]
                seen |= {_get(r, deadline, procs) for r in batch}
            meter = Meter(client, ctx.redis_pid, procs.pids)
            meter.start()
            start = time.perf_counter()
            inflight: deque[tuple[int, Any]] = deque()
            sent = 0
            while sent < min(ctx.queue_len, n):
                inflight.append((sent, _send_add(app, sent, objective_s)))
                sent += 1
            waited = 0.0
            while inflight:
                i, result = inflight.popleft()
                t = time.perf_counter()
                value = _get(result, deadline, procs)
                waited += time.perf_counter() - t
                if value != i + 1:
                    raise BenchError(f"add({i}, 1) returned {value!r}")
                if sent < n:
                    inflight.append((sent, _send_add(app, sent, objective_s)))
                    sent += 1
            seconds = time.perf_counter() - start
            cpu, calls = meter.stop()
    finally:
        app.close()
        client.close()
    return Run(seconds, n, cpu, calls, client_wait_s=waited)


def _send_add(app: Any, i: int, objective_s: float) -> Any:
    if objective_s > 0:
        return app.send_task(SLOW_ADD_TASK, args=[i, 1, objective_s], queue=BARE_QUEUE)
    return app.send_task(ADD_TASK, args=[i, 1], queue=BARE_QUEUE)


# ----------------------------------------------------------------------------- hqueue


def _square(x: float) -> float:
    return x**2


def make_sleepy(seconds: float) -> Callable[[float], float]:
    """An objective that sleeps ``seconds`` (pickled by value, so workers need no benchmarks)."""

    def sleepy(x: float) -> float:
        import time

        time.sleep(seconds)
        return x**2

    return sleepy


@contextlib.contextmanager
def hqueue_workers(ctx: Context, tag: str, deadline: float) -> Iterator[Processes]:
    """``--workers`` ``hqueue worker --pool solo`` processes, warm (each has run a trial)."""
    from hqueue import rand

    with Processes(ctx.logdir, ctx.env) as procs:
        for i in range(ctx.workers):
            procs.start(
                f"{tag}-hqueue{i}",
                [
                    sys.executable, "-m", "hqueue.cli", "worker", "--url", ctx.url,
                    "--pool", "solo", "--loglevel", "WARNING",
                ],
            )
        owners: set[str] = set()
        while len(owners) < ctx.workers:
            procs.check_alive()
            trials = hqueue_fmin(ctx, rand.suggest, WARMUP_TRIALS, _square, deadline, ctx.seed)[1]
            owners |= {t["owner"] for t in trials.trials if t.get("owner")}
        yield procs


@contextlib.contextmanager
def timed_event_waits() -> Iterator[list[float]]:
    """Sum the time hqueue's driver spends blocked on the event stream (its only wait for
    workers): ``AsyncLoop.wait_for_events`` is wrapped for the duration, then restored."""
    from hqueue.backends.redis.driver import AsyncLoop

    total = [0.0]
    original = AsyncLoop.wait_for_events

    def wait_for_events(self: Any) -> None:
        t = time.perf_counter()
        try:
            original(self)
        finally:
            total[0] += time.perf_counter() - t

    AsyncLoop.wait_for_events = wait_for_events  # type: ignore[method-assign]
    try:
        yield total
    finally:
        AsyncLoop.wait_for_events = original  # type: ignore[method-assign]


def hqueue_fmin(
    ctx: Context, algo: Any, n: int, objective: Callable, deadline: float, seed: int
) -> tuple[float, Any, float]:
    """One ``fmin`` over the workers on a fresh experiment: (seconds, trials, seconds the
    driver waited for workers)."""
    from hqueue import fmin, hp
    from hqueue.backends.redis.trials import RedisTrials
    from hqueue.states import JOB_STATE_DONE

    trials = RedisTrials(ctx.url, exp_key=f"dispatch-{uuid.uuid4().hex[:10]}")
    space = hp.uniform("x", -1.0, 1.0)
    with timed_event_waits() as waited:
        start = time.perf_counter()
        fmin(
            objective,
            space,
            algo=algo,
            max_evals=n,
            trials=trials,
            max_queue_len=ctx.queue_len,
            show_progressbar=False,
            rstate=np.random.default_rng(seed),
            timeout=_remaining(deadline),
        )
        seconds = time.perf_counter() - start
    done = sum(1 for t in trials.trials if t["state"] == JOB_STATE_DONE)
    if done != n:
        raise BenchError(f"hqueue finished {done} of {n} trials before the deadline")
    return seconds, trials, waited[0]


def idle_gaps_ms(docs: Sequence[dict]) -> list[float]:
    """Per owner, trials by book_time: next book_time - previous refresh_time, in ms.

    Example:
        >>> import datetime
        >>> t = lambda ms: datetime.datetime(2024, 1, 1) + datetime.timedelta(milliseconds=ms)
        >>> docs = [{"owner": "a", "book_time": t(0), "refresh_time": t(100)},
        ...         {"owner": "a", "book_time": t(103), "refresh_time": t(200)},
        ...         {"owner": "b", "book_time": t(1), "refresh_time": t(99)}]
        >>> idle_gaps_ms(docs)
        [3.0]
    """
    by_owner: dict[str, list[dict]] = {}
    for doc in docs:
        if doc.get("owner") and doc.get("book_time") and doc.get("refresh_time"):
            by_owner.setdefault(doc["owner"], []).append(doc)
    gaps: list[float] = []
    for owned in by_owner.values():
        owned.sort(key=lambda d: d["book_time"])
        for prev, nxt in zip(owned, owned[1:]):
            gaps.append((nxt["book_time"] - prev["refresh_time"]).total_seconds() * 1e3)
    return gaps


def run_hqueue(
    ctx: Context, algo_name: str, n: int, tag: str, seed: int, objective_s: float = 0.0
) -> Run:
    """``fmin`` for ``n`` trials on warm workers: the trivial objective, or one that sleeps
    ``objective_s`` when it is > 0."""
    from hqueue import rand, tpe

    algo = {"rand": rand.suggest, "tpe": tpe.suggest}[algo_name]
    objective = make_sleepy(objective_s) if objective_s > 0 else _square
    deadline = time.monotonic() + ctx.run_timeout
    client = ctx.client()
    try:
        with hqueue_workers(ctx, tag, deadline) as procs:
            # the warm-up above used rand; give the driver's algorithm a warm start too
            if algo_name != "rand":
                hqueue_fmin(ctx, algo, WARMUP_TRIALS, _square, deadline, seed)
            meter = Meter(client, ctx.redis_pid, procs.pids)
            meter.start()
            seconds, trials, waited = hqueue_fmin(ctx, algo, n, objective, deadline, seed)
            cpu, calls = meter.stop()
    finally:
        client.close()
    return Run(seconds, n, cpu, calls, idle_gaps_ms(trials.trials), client_wait_s=waited)


@dataclass
class GapResult:
    """The idle-gap experiment: a sleeping objective on ``workers`` hqueue workers."""

    trials: int
    workers: int
    objective_s: float
    seconds: float
    gaps_ms: list[float]
    durations_ms: list[float]


def run_gap(ctx: Context, n: int, objective_s: float) -> GapResult:
    """``n`` trials of a ``objective_s`` sleep; idle gaps and claim-to-finish durations."""
    from hqueue import rand

    deadline = time.monotonic() + ctx.run_timeout
    with hqueue_workers(ctx, "gap", deadline):
        seconds, trials, _ = hqueue_fmin(
            ctx, rand.suggest, n, make_sleepy(objective_s), deadline, ctx.seed
        )
    docs = trials.trials
    durations = [
        (d["refresh_time"] - d["book_time"]).total_seconds() * 1e3
        for d in docs
        if d.get("book_time") and d.get("refresh_time")
    ]
    return GapResult(n, ctx.workers, objective_s, seconds, idle_gaps_ms(docs), durations)


# ----------------------------------------------------------------------------- Optuna


def _optuna_objective(trial: Any) -> float:
    return trial.suggest_float("x", -1.0, 1.0) ** 2


def _sleepy_optuna_objective(seconds: float) -> Callable[[Any], float]:
    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", -1.0, 1.0)
        time.sleep(seconds)
        return x**2

    return objective


def _optuna_storage(optuna: Any, url: str) -> Any:
    journal = optuna.storages.journal
    return optuna.storages.JournalStorage(journal.JournalRedisBackend(url))


def _optuna_sampler(optuna: Any, name: str) -> Any:
    return optuna.samplers.RandomSampler() if name == "random" else optuna.samplers.TPESampler()


def _quiet_optuna() -> Any:
    import warnings

    import optuna

    warnings.simplefilter("ignore")  # ExperimentalWarning and friends
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def optuna_worker(argv: Sequence[str]) -> int:
    """One Optuna worker process: warm up, say ready, wait for "go", optimise, report.

    ``argv``: url, study name, sampler ("random"/"tpe"), n_trials, key prefix, deadline
    (Unix time) and optionally the seconds the objective sleeps (default 0: trivial). Started
    by :func:`run_optuna` as ``python -c ...``.
    """
    import redis

    url, study_name, sampler, n, key, deadline = argv[:6]
    objective_s = float(argv[6]) if len(argv) > 6 else 0.0
    objective = _sleepy_optuna_objective(objective_s) if objective_s > 0 else _optuna_objective
    optuna = _quiet_optuna()
    storage = _optuna_storage(optuna, url)
    client = redis.Redis.from_url(url)
    warm = optuna.create_study(
        study_name=f"{study_name}-warm-{os.getpid()}",
        storage=storage,
        sampler=_optuna_sampler(optuna, sampler),
    )
    warm.optimize(_optuna_objective, n_trials=WARMUP_TRIALS)
    study = optuna.load_study(
        study_name=study_name, storage=storage, sampler=_optuna_sampler(optuna, sampler)
    )
    client.rpush(f"{key}:ready", os.getpid())
    timeout = max(1, int(float(deadline) - time.time()))
    if client.blpop([f"{key}:go"], timeout=timeout) is None:
        return 3
    start = time.time()
    study.optimize(objective, n_trials=int(n))
    end = time.time()
    client.rpush(f"{key}:done", json.dumps({"pid": os.getpid(), "start": start, "end": end}))
    return 0


def _blpop(client: Any, key: str, deadline: float, procs: Processes) -> bytes:
    while True:
        reply = client.blpop([key], timeout=max(1, int(min(5.0, _remaining(deadline)))))
        if reply is not None:
            return reply[1]
        procs.check_alive()


def run_optuna(ctx: Context, sampler: str, n: int, tag: str, objective_s: float = 0.0) -> Run:
    """``workers`` processes each running ``study.optimize(n_trials=n // workers)``, the
    objective sleeping ``objective_s`` when it is > 0."""
    optuna = _quiet_optuna()
    deadline = time.monotonic() + ctx.run_timeout
    name = f"dispatch-{uuid.uuid4().hex[:10]}"
    key = f"bench-dispatch:{name}"
    each = n // ctx.workers
    storage = _optuna_storage(optuna, ctx.url)
    optuna.create_study(study_name=name, storage=storage, direction="minimize")
    client = ctx.client()
    code = f"import sys; from {MODULE} import optuna_worker; sys.exit(optuna_worker(sys.argv[1:]))"
    try:
        with Processes(ctx.logdir, ctx.env) as procs:
            unix_deadline = time.time() + _remaining(deadline)
            for i in range(ctx.workers):
                procs.start(
                    f"{tag}-optuna{i}",
                    [sys.executable, "-c", code, ctx.url, name, sampler, str(each), key,
                     f"{unix_deadline:.0f}", repr(float(objective_s))],
                )
            for _ in range(ctx.workers):
                _blpop(client, f"{key}:ready", deadline, procs)
            meter = Meter(client, ctx.redis_pid, procs.pids)
            meter.start()
            go = time.time()
            client.rpush(f"{key}:go", *["go"] * ctx.workers)
            ends = [
                json.loads(_blpop(client, f"{key}:done", deadline, procs))["end"]
                for _ in range(ctx.workers)
            ]
            cpu, calls = meter.stop()
        seconds = max(ends) - go
        done = optuna.load_study(study_name=name, storage=storage).get_trials(
            deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)
        )
        if len(done) != each * ctx.workers:
            raise BenchError(f"Optuna completed {len(done)} of {each * ctx.workers} trials")
    finally:
        client.close()
    return Run(seconds, each * ctx.workers, cpu, calls)


# ----------------------------------------------------------------------------- report


def versions(url: str) -> dict[str, str]:
    """Versions of celery, kombu, redis-py and of the ``redis-server`` at ``url``."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("celery", "kombu", "redis"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    try:
        import redis

        client = redis.Redis.from_url(url)
        out["redis-server"] = str(client.info("server").get("redis_version"))
        client.close()
    except Exception as exc:  # noqa: BLE001 - informative only
        out["redis-server"] = f"unknown ({exc})"
    return out


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else float("nan")


def _median_rate(runs: Sequence[Run]) -> float | None:
    return statistics.median(r.rate for r in runs) if runs else None


def render(
    runs: dict[str, list[Run]], workers: int, gap: GapResult | None, cells: Sequence[str]
) -> str:
    """The three tables: throughput, where the CPU goes, idle gaps."""
    from benchmarks import report

    base = _median_rate(runs.get("celery", []))
    rows = []
    for key in cells:
        system, sampler = CELLS[key]
        rs = runs.get(key, [])
        rate = _median_rate(rs)
        if rate is None:
            rows.append([system, sampler, "failed", "", "", "", ""])
            continue
        peer = _median_rate(runs.get(PEER_OF.get(key, ""), []))
        rows.append([
            system,
            sampler,
            f"{rate:.1f}",
            f"{min(r.rate for r in rs):.1f}-{max(r.rate for r in rs):.1f} ({len(rs)})",
            f"{1e3 * workers / rate:.2f}",
            f"{rate / base:.2f}" if base else "-",
            f"{rate / peer:.2f}" if key in PEER_OF and peer else "-",
        ])
    table1 = report.markdown_table(
        ["system", "sampler", "trials/s (median)", "range (runs)", "ms/trial/worker",
         "vs bare Celery", "hqueue / Optuna"],
        rows,
        left=2,
    )

    def med(values: list[float | None], scale: float = 1.0) -> str:
        vals = [v for v in values if v is not None]
        return f"{scale * statistics.median(vals):.2f}" if vals else "n/a"

    rows2 = []
    for key in cells:
        system, sampler = CELLS[key]
        rs = runs.get(key, [])
        if not rs:
            continue
        part = {
            k: [None if r.cpu[k] is None else r.cpu[k] / r.trials for r in rs]
            for k in ("client", "workers", "redis")
        }
        rest = [None if r.cpu.get("rest") is None else r.cpu["rest"] / r.trials for r in rs]
        totals = [
            None if any(p[i] is None for p in part.values()) else sum(p[i] for p in part.values())
            for i in range(len(rs))
        ]
        gaps = [g for r in rs for g in r.gaps_ms]
        rows2.append([
            system,
            sampler,
            med(part["client"], 1e3),
            med(part["workers"], 1e3),
            med(part["redis"], 1e3),
            med(totals, 1e3),
            med(rest, 1e3),
            med([None if r.client_wait_s is None else r.client_wait_s / r.seconds for r in rs],
                100.0),
            f"{statistics.median(r.redis_calls / r.trials for r in rs):.1f}",
            f"{statistics.median(gaps):.1f} / {_pct(gaps, 90):.1f}" if gaps else "-",
        ])
    table2 = report.markdown_table(
        ["system", "sampler", "client CPU ms/trial", "workers CPU ms/trial", "Redis CPU ms/trial",
         "total CPU ms/trial", "rest of machine CPU ms/trial", "client waiting %",
         "Redis commands/trial", "idle gap median / p90 ms"],
        rows2,
        left=2,
    )
    done = [k for k in cells if runs.get(k)]
    per_trial = {
        k: {
            cmd: statistics.median(r.commands.get(cmd, 0) / r.trials for r in runs[k])
            for r0 in runs[k]
            for cmd in r0.commands
        }
        for k in done
    }
    names = sorted(
        {c for k in done for c, v in per_trial[k].items() if v >= 0.5},
        key=lambda c: -max(per_trial[k].get(c, 0.0) for k in done),
    )
    table_cmd = report.markdown_table(
        ["Redis command", *[" ".join(x for x in CELLS[k] if x != "-") for k in done]],
        [[c, *[f"{per_trial[k].get(c, 0.0):.2f}" for k in done]] for c in names],
        left=1,
    )
    parts = [
        "## Throughput, trivial objective\n",
        table1,
        "",
        "## Where the time goes (median over runs; CPU of this machine's cores, timed part only)\n",
        table2,
        "",
        "The client is this process: the Celery client, hqueue's driver (suggestions, trial "
        "documents, task sending), nothing for Optuna, whose workers sample for themselves. "
        "Client waiting % = share of the timed wall time the client sat blocked waiting for "
        "workers (Celery: in `AsyncResult.get`, receiving the result included; hqueue: in the "
        "driver's block on the event stream, `AsyncLoop.wait_for_events`); the rest of its "
        "time it works or waits on Redis replies, so near 0 means the client is the "
        "bottleneck. "
        "Total = client + workers + Redis. Rest of machine = all cores' busy time (/proc/stat, "
        "steal included) minus that total: other processes, kernel work not charged to ours "
        "(loopback networking), time taken by the hypervisor; near 0 means nothing else "
        "competed. CPU times have 10 ms resolution per "
        "process (0.02 ms per trial at 500 trials). The idle gap column pools every gap of "
        "every run (hqueue only: read from its trial documents).",
        "",
        "Redis commands per trial by command (median over runs; commands below 0.5 per trial in "
        "every cell left out; `evalsha` is one Lua script call, the commands it runs are counted "
        "under their own names as well):\n",
        table_cmd,
        "",
    ]
    all_rows = []
    for key in cells:
        for r in runs.get(key, []):
            cpu = [r.cpu.get(k) for k in ("client", "workers", "redis", "rest")]
            all_rows.append([
                " ".join(x for x in CELLS[key] if x != "-"),
                r.rep + 1,
                f"{r.rate:.1f}",
                f"{r.seconds:.2f}",
                *["n/a" if v is None else f"{1e3 * v / r.trials:.2f}" for v in cpu],
            ])
    parts += [
        "All runs (rep = repetition; a high rest-of-machine value marks a run something else "
        "competed with):\n",
        report.markdown_table(
            ["cell", "rep", "trials/s", "s", "client CPU ms/trial", "workers CPU ms/trial",
             "Redis CPU ms/trial", "rest of machine CPU ms/trial"],
            all_rows,
            left=1,
        ),
        "",
    ]
    if gap is not None:
        ideal = gap.workers / gap.objective_s
        table3 = report.markdown_table(
            ["workers", "objective", "trials", "wall s", "trials/s", "ideal trials/s",
             "gaps", "idle gap median ms", "idle gap p90 ms", "idle gap max ms",
             "claim-to-finish median ms"],
            [[
                gap.workers,
                f"sleep {gap.objective_s:g} s",
                gap.trials,
                f"{gap.seconds:.2f}",
                f"{gap.trials / gap.seconds:.2f}",
                f"{ideal:.1f}",
                len(gap.gaps_ms),
                f"{_pct(gap.gaps_ms, 50):.1f}",
                f"{_pct(gap.gaps_ms, 90):.1f}",
                f"{max(gap.gaps_ms):.1f}" if gap.gaps_ms else "nan",
                f"{_pct(gap.durations_ms, 50):.1f}",
            ]],
        )
        parts += [
            f"## hqueue worker idle gap, {gap.objective_s:g} s objective\n",
            table3,
            "",
            f"{gap.workers} workers, not 8: this machine has {os.cpu_count()} cores, and 8 "
            "worker processes would measure CPU contention rather than dispatch latency. "
            "Gap = per worker, next trial's book_time minus the previous trial's refresh_time "
            "(its finish); claim-to-finish = refresh_time - book_time of one trial.",
            "",
        ]
    return "\n".join(parts) + "\n"


def plot(runs: dict[str, list[Run]], cells: Sequence[str], path: Path) -> Path:
    """Bars: trials/s (median, range as error bar); stacked CPU ms per trial by process."""
    from benchmarks import report

    plt = report.pyplot()
    keys = [k for k in cells if runs.get(k)]
    labels = [f"{CELLS[k][0]}\n{CELLS[k][1]}" if CELLS[k][1] != "-" else CELLS[k][0] for k in keys]
    colors = {"bare Celery": "tab:gray", "hqueue": "tab:blue", "Optuna": "tab:orange"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    med = [_median_rate(runs[k]) for k in keys]
    lo = [m - min(r.rate for r in runs[k]) for k, m in zip(keys, med)]
    hi = [max(r.rate for r in runs[k]) - m for k, m in zip(keys, med)]
    x = np.arange(len(keys))
    ax1.bar(x, med, yerr=[lo, hi], capsize=4, color=[colors[CELLS[k][0]] for k in keys])
    for xi, m in zip(x, med):
        ax1.text(xi, m / 2, f"{m:.0f}", ha="center", va="center", fontsize=9, color="white")
    ax1.set_xticks(x, labels, fontsize=8)
    ax1.set(ylabel="trials per second (median, range)", title="throughput, trivial objective")
    ax1.grid(True, axis="y", alpha=0.3)
    bottom = np.zeros(len(keys))
    for part, color in (("client", "tab:green"), ("workers", "tab:purple"), ("redis", "tab:red")):
        vals = []
        for k in keys:
            v = [r.cpu[part] / r.trials for r in runs[k] if r.cpu[part] is not None]
            vals.append(1e3 * statistics.median(v) if v else 0.0)
        ax2.bar(x, vals, bottom=bottom, color=color, label=part)
        bottom += np.asarray(vals)
    ax2.set_xticks(x, labels, fontsize=8)
    ax2.set(ylabel="CPU ms per trial", title="CPU per trial by process")
    ax2.grid(True, axis="y", alpha=0.3)
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- main


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages, e.g. ``"0.12 0.40 0.55"`` (``"unknown"`` if none).

    Example:
        >>> len(loadavg().split()) in (1, 3)
        True
    """
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Entry point: run every cell ``--reps`` times, the gap run, write ``dispatch.md``/``.png``."""
    from benchmarks import peers, report

    if peers.is_stand_in():
        raise SystemExit("dispatch needs hqueue itself (RedisTrials, workers): no stand-in")
    unknown = [c for c in args.cells if c not in CELLS]
    if unknown:
        raise SystemExit(f"unknown cells {unknown}; choose from {','.join(CELLS)}")
    n = args.trials or (50 if args.quick else 500)
    gap_n = args.gap_trials if args.gap_trials is not None else (20 if args.quick else 200)
    notes = [f"load average (1, 5, 15 min) at start: {loadavg()}"]
    if args.variant:
        notes.append("--variant is ignored by this benchmark")
    runs: dict[str, list[Run]] = {k: [] for k in args.cells}
    gap: GapResult | None = None
    versions_: dict[str, str] = {}
    failed = False
    with bench_redis(args.workers, args.queue_len, args.run_timeout, args.seed) as ctx:
        versions_ = versions(ctx.url)
        for rep in range(args.reps):
            for key in args.cells:
                tag = f"{key}-r{rep}"
                print(f"rep {rep + 1}/{args.reps}: {key} ({n} trials) ...", flush=True)
                try:
                    run = run_cell(ctx, key, n, tag, args.seed + rep)
                except Exception as exc:  # noqa: BLE001 - one broken cell must not stop all
                    failed = ctx.keep_logs = True
                    notes.append(f"FAILED {key} rep {rep + 1}: {exc!r}"[:600])
                    print(f"  {key} failed: {exc!r}", flush=True)
                    continue
                run.rep = rep
                runs[key].append(run)
                print(f"  {run.rate:.1f} trials/s ({run.seconds:.2f} s)", flush=True)
        if gap_n > 0:
            sleep = f"sleep({args.gap_objective_s:g})"
            print(f"idle gap: {gap_n} trials of {sleep} ...", flush=True)
            try:
                gap = run_gap(ctx, gap_n, args.gap_objective_s)
                print(
                    f"  median gap {_pct(gap.gaps_ms, 50):.1f} ms, "
                    f"p90 {_pct(gap.gaps_ms, 90):.1f} ms",
                    flush=True,
                )
            except Exception as exc:  # noqa: BLE001
                failed = ctx.keep_logs = True
                notes.append(f"FAILED idle-gap run: {exc!r}"[:600])
                print(f"  idle-gap run failed: {exc!r}", flush=True)
    notes.append(f"load average (1, 5, 15 min) at end: {loadavg()}")
    notes.append(
        "libraries: " + ", ".join(f"{k} {v}" for k, v in versions_.items())
    )
    notes.append(
        f"{n} trials per run, {args.reps} runs per cell, {args.workers} worker processes, "
        f"{args.queue_len} trials in flight"
    )
    body = render(runs, args.workers, gap, args.cells)
    print(body)
    out = report.output_dir(args.quick, args.out)
    method = (__doc__ or "").split("\n\n", 1)[1].strip()
    text = (
        report.header_markdown("distributed dispatch throughput", report.environment(argv), notes)
        + "\n"
        + body
        + "## How it is measured\n\n"
        + method
        + "\n"
    )
    md = report.write_text(out / "dispatch.md", text)
    png = plot(runs, args.cells, out / "dispatch.png")
    print(f"wrote {md} and {png}")
    return 1 if failed else 0


@contextlib.contextmanager
def bench_redis(
    workers: int, queue_len: int, run_timeout: float, seed: int
) -> Iterator[Context]:
    """A local ``redis-server`` (hqueue's ``RedisServer``), a signing secret (``HQUEUE_SECRET``,
    made up unless set) and a log folder for worker processes, as a :class:`Context`. The logs
    are deleted on exit unless ``ctx.keep_logs`` was set (then their folder is printed).

    Example (starts a ``redis-server``):
        >>> with bench_redis(workers=2, queue_len=4, run_timeout=60.0, seed=0) as ctx:
        ...     ctx.client().ping()
        True
    """
    from hqueue.backends.redis.server import RedisServer

    logdir = Path(tempfile.mkdtemp(prefix="hqueue-dispatch-"))
    secret_was = os.environ.get("HQUEUE_SECRET")
    if not secret_was:
        os.environ["HQUEUE_SECRET"] = secrets.token_hex(32)
    ctx: Context | None = None
    try:
        with RedisServer() as server:
            env = dict(os.environ, HQUEUE_URL=server.url)
            env[URL_ENV] = server.url
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p
            )
            ctx = Context(
                server.url, server.pid, env, logdir, workers, queue_len, run_timeout, seed
            )
            yield ctx
    finally:
        if not secret_was:
            os.environ.pop("HQUEUE_SECRET", None)
        if ctx is not None and ctx.keep_logs:
            print(f"worker logs kept in {logdir}", flush=True)
        else:
            shutil.rmtree(logdir, ignore_errors=True)


def run_cell(ctx: Context, key: str, n: int, tag: str, seed: int, objective_s: float = 0.0) -> Run:
    """One timed run of cell ``key`` (a key of :data:`CELLS`) with ``ctx.workers`` workers: the
    trivial objective, or one sleeping ``objective_s`` seconds when it is > 0."""
    if key == "celery":
        return run_celery(ctx, n, tag, objective_s)
    if key.startswith("hqueue_"):
        return run_hqueue(ctx, key.split("_", 1)[1], n, tag, seed, objective_s)
    return run_optuna(ctx, key.split("_", 1)[1], n, tag, objective_s)
