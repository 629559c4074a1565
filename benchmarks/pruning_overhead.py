"""What one pruning report costs in Redis: the rung script alone, and a worker's whole
``ctrl.report`` + ``ctrl.should_prune()``, on a real redis-server (part of ``pruning``).

:func:`rung_overhead` times one ASHA report reaching a rung that already holds 100 to 100,000
trials. :func:`worker_report_overhead` times a worker's ``RedisCtrl.report`` (the partial
result's checkpoint, the curve point and the rung records in one Lua script) against the path
it replaced (``Ctrl.report``: ``TrialStore.checkpoint``, then the rung script: two round trips),
interleaved trial by trial on one server so both see the same load. Both count the client's
round trips.

Example:
    nice -n 10 python -m benchmarks.pruning_overhead
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np


def _counting_client(url: str) -> Any:
    """A redis client whose class counts the commands it sends (``.round_trips``)."""
    import redis

    class Counting(redis.Redis):
        round_trips = 0

        def execute_command(self, *args: Any, **options: Any) -> Any:
            type(self).round_trips += 1
            return super().execute_command(*args, **options)

    return Counting.from_url(url)


def rung_overhead(n_reports: int, rung_sizes: Sequence[int]) -> list[list[Any]]:
    """Median/p90 ms and client round trips of one ASHA report that reaches a rung holding
    ``size`` trials (``RedisRungs.record`` through a ``PruningSession``, decision included)."""
    from hqueue.backends.redis.rungs import RedisRungs
    from hqueue.backends.redis.server import RedisServer
    from hqueue.pruners import PruningSession, SuccessiveHalving

    rows = []
    with RedisServer(appendonly=False) as server:
        client = _counting_client(server.url)
        for size in rung_sizes:
            client.flushall()
            rungs, asha = RedisRungs(client, f"bench{size}"), SuccessiveHalving()
            with client.pipeline(transaction=False) as pipe:  # fill rung 1 with ``size`` trials
                pipe.zadd(rungs.keys.rung("sh:1:3:0:1"), {str(t): t % 97 for t in range(size)})
                pipe.execute()
            rungs.record(size, 1, 0.5, ["sh:1:3:0:1"])  # loads the script once
            times, type(client).round_trips = [], 0
            for i in range(n_reports):
                session = PruningSession(asha, rungs, size + 1 + i)
                t0 = time.perf_counter()
                session.report(float(i % 89), 1)  # reaches rung 1: record + decide
                times.append((time.perf_counter() - t0) * 1000)
            rows.append([size, f"{statistics.median(times):.3f}",
                         f"{np.percentile(times, 90):.3f}",
                         f"{type(client).round_trips / n_reports:.2f}"])
        client.close()
    return rows


#: the two report paths :func:`worker_report_overhead` compares
ONE_SCRIPT = "RedisCtrl.report: one script (checkpoint + curve + rungs)"
TWO_TRIPS = "Ctrl.report on a worker (before): checkpoint, then the rung script"


def worker_report_overhead(n_trials: int, steps: int = 27, seed: int = 0) -> list[list[Any]]:
    """Median/p90 ms and round trips of one ``ctrl.report`` + ``ctrl.should_prune()`` on a
    worker's ctrl (ASHA over ``steps``; trials with random curves, so some are pruned), for the
    one-script path and the two-round-trip one, alternating trial by trial."""
    from hqueue.backends.redis.server import RedisServer
    from hqueue.backends.redis.store import TrialStore
    from hqueue.ctrl import Ctrl
    from hqueue.fmin import generate_trial
    from hqueue.pruners import SuccessiveHalving, dumps_spec
    from hqueue.worker.ctrl import RedisCtrl

    rng = np.random.default_rng(seed)
    spec = dumps_spec(SuccessiveHalving(max_resource=steps))
    paths = {ONE_SCRIPT: RedisCtrl.report, TWO_TRIPS: Ctrl.report}
    times: dict[str, list[float]] = {name: [] for name in paths}
    trips = dict.fromkeys(paths, 0)
    with RedisServer(appendonly=False) as server:
        client = _counting_client(server.url)
        store = TrialStore(client, "bench-report")
        for i in range(n_trials):
            order = list(paths) if i % 2 == 0 else list(paths)[::-1]
            for name in order:
                [tid] = store.new_tids(1)
                store.create([generate_trial(tid, {"x": 0.0})])
                ctrl = RedisCtrl(store, store.claim(tid, owner="w", lease_s=60).doc, owner="w",
                                 pruner_spec=spec)
                final = rng.uniform()
                before = type(client).round_trips
                for step in range(1, steps + 1):
                    value = final + 1.0 / step
                    t0 = time.perf_counter()
                    paths[name](ctrl, value, step=step)
                    pruned = ctrl.should_prune()
                    times[name].append((time.perf_counter() - t0) * 1000)
                    if pruned:
                        break
                trips[name] += type(client).round_trips - before
        client.close()
    return [[name, len(times[name]), f"{statistics.median(times[name]):.3f}",
             f"{np.percentile(times[name], 90):.3f}", f"{trips[name] / len(times[name]):.2f}"]
            for name in paths]


if __name__ == "__main__":
    from benchmarks import report

    print(report.markdown_table(["path", "reports", "median ms", "p90 ms", "round trips"],
                                worker_report_overhead(200), left=1))
