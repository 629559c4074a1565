"""``python -m benchmarks.key_checks``: what the key-type checks cost the hot store scripts.

Every store script starts with ``hq_expect(...)`` (``hqueue/backends/redis/scripts/
_prelude.lua``): one ``TYPE`` per key it touches (and a ``GET`` for counters) before any
write. This benchmark times ``claim``, ``heartbeat`` and ``finish`` (``TrialStore`` calls, each
one ``EVALSHA`` round trip) with the prelude as shipped and with a prelude whose ``hq_expect``
returns at once, on one local ``redis-server`` (hqueue's ``RedisServer``, its default config).

Each round creates ``--calls`` trials in a fresh experiment per variant (not timed), then times
every call one by one (``time.perf_counter``), the two variants alternating call by call (the
first of each pair alternating too): all claims, then all heartbeats, then all finishes. The
client-side figure is the median round trip over every call of every round. Because a round
trip on a loaded machine is mostly noise, each round also runs one block of ``--calls`` calls
per operation and variant between ``CONFIG RESETSTAT`` and ``INFO commandstats``: Redis's own
microseconds per ``EVALSHA`` (the script's run time) and ``TYPE`` calls per call; the report
gives their median over the rounds.

Example:
    nice -n 10 python -m benchmarks.key_checks --calls 2000 --rounds 6
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

from hqueue.backends.redis import records
from hqueue.backends.redis.server import RedisServer
from hqueue.backends.redis.store import TrialStore
from hqueue.fmin import generate_trial
from hqueue.states import JOB_STATE_DONE

OPERATIONS = ("claim", "heartbeat", "finish")
VARIANTS = ("checks", "no checks")
NO_CHECKS = "local function hq_expect(...)\n  return nil\nend\n"


def unchecked_script(name: str) -> str:
    """``records.load_script(name)`` with an ``hq_expect`` that checks nothing.

    Example:
        >>> script = unchecked_script("claim")
        >>> script.startswith(NO_CHECKS)
        True
        >>> records.load_script("claim").endswith(script[len(NO_CHECKS):])
        True
    """
    prelude, text = _prelude_text(), records.load_script(name)
    assert text.startswith(prelude)
    return NO_CHECKS + text[len(prelude):]


def _prelude_text() -> str:
    from importlib import resources

    return resources.files(records.__package__).joinpath("scripts", "_prelude.lua").read_text()


def make_store(client: object, exp_key: str, checks: bool) -> TrialStore:
    """A TrialStore whose scripts check key types (as shipped) or do not."""
    if checks:
        return TrialStore(client, exp_key)
    with mock.patch("hqueue.backends.redis.store.load_script", unchecked_script):
        return TrialStore(client, exp_key)


def _operations(store: TrialStore) -> dict[str, Callable[[int], object]]:
    return {
        "claim": lambda t: store.claim(t, "bench:1:owner", 30.0),
        "heartbeat": lambda t: store.heartbeat(t, "bench:1:owner", 30.0),
        "finish": lambda t: store.finish(t, "bench:1:owner", JOB_STATE_DONE,
                                         {"loss": 0.5, "status": "ok"}),
    }


def _fresh(client: object, name: str, calls: int) -> tuple[dict[str, TrialStore], list[int]]:
    """A checked and an unchecked store of ``calls`` NEW trials each (the same tids)."""
    stores = {v: make_store(client, f"{name}-{v.replace(' ', '-')}", v == "checks")
              for v in VARIANTS}
    for store in stores.values():
        tids = store.new_tids(calls)
        store.create([generate_trial(t, {"x": 0.5}) for t in tids])
    return stores, tids


def time_round(client: object, name: str, calls: int, flip: bool) -> dict[tuple, list[float]]:
    """Round-trip milliseconds of each call, the two variants alternating call by call."""
    stores, tids = _fresh(client, name, calls)
    ops = {v: _operations(stores[v]) for v in VARIANTS}
    out: dict[tuple, list[float]] = {(op, v): [] for op in OPERATIONS for v in VARIANTS}
    for op in OPERATIONS:
        for i, tid in enumerate(tids):
            order = VARIANTS if (i % 2 == 0) != flip else VARIANTS[::-1]
            for v in order:
                begin = time.perf_counter()
                ops[v][op](tid)
                out[(op, v)].append((time.perf_counter() - begin) * 1000.0)
    return out


def server_round(client: Any, name: str, calls: int) -> dict[tuple, tuple[float, float]]:
    """Per operation and variant, Redis's own figures for a block of ``calls`` calls (``CONFIG
    RESETSTAT`` then ``INFO commandstats``): microseconds per EVALSHA, TYPE calls per call."""
    stores, tids = _fresh(client, name, calls)
    out = {}
    for op in OPERATIONS:
        for v in VARIANTS:
            run_op = _operations(stores[v])[op]
            client.config_resetstat()
            for tid in tids:
                run_op(tid)
            stats = client.info("commandstats")
            evalsha = stats.get("cmdstat_evalsha", {})
            types = stats.get("cmdstat_type", {}).get("calls", 0)
            out[(op, v)] = (float(evalsha.get("usec_per_call", 0.0)), types / calls)
    return out


def run(calls: int, rounds: int) -> dict[str, dict[str, float]]:
    """Per operation: median round-trip ms per variant, median server us per EVALSHA per
    variant, and TYPE calls per call per variant."""
    import redis

    trips: dict[tuple, list[float]] = {(op, v): [] for op in OPERATIONS for v in VARIANTS}
    server: dict[tuple, list[float]] = {(op, v): [] for op in OPERATIONS for v in VARIANTS}
    types: dict[tuple, float] = {}
    with tempfile.TemporaryDirectory() as tmp, RedisServer(dir=tmp) as redis_server:
        client = redis.Redis.from_url(redis_server.url)
        for r in range(rounds):
            for key, times in time_round(client, f"trip{r}", calls, r % 2 == 1).items():
                trips[key].extend(times)
            for (op, v), (usec, n_types) in server_round(client, f"srv{r}", calls).items():
                server[(op, v)].append(usec)
                types[(op, v)] = n_types
        client.close()
    return {op: {"trip checks": statistics.median(trips[(op, "checks")]),
                 "trip no checks": statistics.median(trips[(op, "no checks")]),
                 "server checks": statistics.median(server[(op, "checks")]),
                 "server no checks": statistics.median(server[(op, "no checks")]),
                 "types checks": types[(op, "checks")],
                 "types no checks": types[(op, "no checks")]} for op in OPERATIONS}


def report(medians: dict[str, dict[str, float]], calls: int, rounds: int) -> str:
    """The figures as a markdown table."""
    lines = [f"key-type checks, {calls} calls x {rounds} rounds per cell: round trip = median "
             "ms per call (variants alternating call by call); in Redis = median over rounds "
             "of INFO commandstats usec_per_call of EVALSHA", "",
             "| script | TYPE calls, checks / none | round trip, checks | round trip, none "
             "| in Redis, checks | in Redis, none | in Redis, difference |",
             "|:--|--:|--:|--:|--:|--:|--:|"]
    for op, m in medians.items():
        diff = m["server checks"] - m["server no checks"]
        lines.append(f"| {op} | {m['types checks']:.0f} / {m['types no checks']:.0f} | "
                     f"{m['trip checks']:.3f} ms | "
                     f"{m['trip no checks']:.3f} ms | {m['server checks']:.1f} us | "
                     f"{m['server no checks']:.1f} us | {diff:+.1f} us |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=2000, help="trials per round and variant")
    parser.add_argument("--rounds", type=int, default=6, help="rounds (variant order alternates)")
    args = parser.parse_args(argv)
    print(report(run(args.calls, args.rounds), args.calls, args.rounds))


if __name__ == "__main__":
    main()
