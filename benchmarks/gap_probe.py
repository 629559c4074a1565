"""Where a worker's idle gap between two trials goes: ``python -m benchmarks.gap_probe W S N``.

Runs ``N`` trials of a ``time.sleep(S)`` objective with random search on ``W`` Celery workers
(``--pool solo``, hqueue's app) and a local ``redis-server``; ``max_queue_len`` 2 W. Each
worker is this module as its Celery app (``celery -A benchmarks.gap_probe``): hqueue's app,
with Celery's ``task_received`` / ``task_prerun`` / ``task_postrun`` signals and the worker's
``read_options``, ``TrialStore.claim`` and ``TrialStore.finish`` timestamped into a log per
process. Printed: the idle gap (next claim - previous finish, from the trial documents, as
``scaling`` reads it) and the median of each step from the end of one trial's ``finish`` to
the end of the next one's ``claim``.

Example:
    nice -n 10 .venv/bin/python -m benchmarks.gap_probe 8 0.5 80
"""

from __future__ import annotations

import os
import time
from pathlib import Path

LOG_DIR_ENV = "HQ_GAP_PROBE_DIR"


def _install_probe(log_dir: str) -> object:
    """In a worker: hqueue's Celery app with the timestamps wired in."""
    from celery import signals

    import hqueue.worker as worker
    from hqueue.backends.redis.store import TrialStore
    from hqueue.worker import runner

    log = open(Path(log_dir) / f"log.{os.getpid()}", "a", buffering=1)  # noqa: SIM115

    def mark(name: str) -> object:
        def handler(*args: object, **kwargs: object) -> None:
            log.write(f"{name} {time.time():.6f}\n")
        return handler

    for name in ("task_received", "task_prerun", "task_postrun"):
        getattr(signals, name).connect(mark(name), weak=False)

    def timed(owner: object, attr: str, label: str) -> None:
        original = getattr(owner, attr)

        def wrapper(*args: object, **kwargs: object) -> object:
            log.write(f"{label}_start {time.time():.6f}\n")
            try:
                return original(*args, **kwargs)
            finally:
                log.write(f"{label}_end {time.time():.6f}\n")
        setattr(owner, attr, wrapper)

    timed(TrialStore, "claim", "claim")
    timed(TrialStore, "finish", "finish")
    timed(runner, "read_options", "options")
    return worker.get_app()


if os.environ.get(LOG_DIR_ENV):  # imported by `celery -A benchmarks.gap_probe`
    celery = _install_probe(os.environ[LOG_DIR_ENV])


def sleeper(x: float) -> float:
    time.sleep(float(os.environ.get("HQ_GAP_PROBE_S", "0.1")))
    return x ** 2


def steps(log_dir: Path) -> dict[str, list[float]]:
    """Milliseconds of each step from a ``finish`` end to the next ``claim`` end."""
    out: dict[str, list[float]] = {}
    for path in log_dir.glob("log.*"):
        events = [(n, float(t)) for n, t in (line.split() for line in path.read_text().split(
            "\n") if line)]
        start = None
        for i, (name, _) in enumerate(events):
            if name == "finish_end":
                start = i
            elif name == "claim_end" and start is not None:
                for (a, ta), (b, tb) in zip(events[start:i], events[start + 1:i + 1]):
                    out.setdefault(f"{a} -> {b}", []).append(1e3 * (tb - ta))
                start = None
    return out


def main(workers: int, seconds: float, n: int) -> None:
    import statistics
    import subprocess
    import sys
    import tempfile

    import numpy as np

    from benchmarks.dispatch import idle_gaps_ms
    from hqueue import fmin, hp, rand
    from hqueue.backends.redis.server import RedisServer
    from hqueue.backends.redis.trials import RedisTrials

    os.environ.setdefault("HQUEUE_SECRET", "gap-probe-" + "0" * 32)
    os.environ["HQ_GAP_PROBE_S"] = str(seconds)
    log_dir = Path(tempfile.mkdtemp(prefix="hq-gap-"))
    root = str(Path(__file__).resolve().parent.parent)
    with RedisServer() as server:
        env = dict(os.environ, HQUEUE_URL=server.url, PYTHONPATH=root,
                   **{LOG_DIR_ENV: str(log_dir)})
        procs = [subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "benchmarks.gap_probe", "worker", "--pool",
             "solo", "-n", f"probe{i}@%h", "--loglevel", "WARNING", "--without-gossip",
             "--without-mingle", "--without-heartbeat"], env=env, stdout=subprocess.DEVNULL)
            for i in range(workers)]
        try:
            space = hp.uniform("x", -1, 1)
            fmin(sleeper, space, algo=rand.suggest, max_evals=4 * workers,  # warm-up
                 trials=RedisTrials(server.url, "warm"), max_queue_len=2 * workers,
                 show_progressbar=False)
            for path in log_dir.glob("log.*"):
                path.write_text("")
            trials = RedisTrials(server.url, "probe")
            t0 = time.perf_counter()
            fmin(sleeper, space, algo=rand.suggest, max_evals=n, trials=trials,
                 max_queue_len=2 * workers, show_progressbar=False,
                 rstate=np.random.default_rng(0))
            rate = n / (time.perf_counter() - t0)
            trials.refresh()
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(30)
    gaps = sorted(idle_gaps_ms(trials.trials))
    print(f"{workers} workers, {seconds} s objective, {n} trials: {rate:.2f} trials/s "
          f"({100 * rate * seconds / workers:.1f}% of ideal); idle gap median "
          f"{statistics.median(gaps):.1f} ms, p90 {gaps[int(0.9 * len(gaps))]:.1f} ms; load "
          f"{os.getloadavg()[0]:.1f}")
    for name, values in steps(log_dir).items():
        print(f"  {name}: median {statistics.median(values):.2f} ms ({len(values)})")


if __name__ == "__main__":
    import sys

    main(int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]))
