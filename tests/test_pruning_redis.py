"""Redis rung storage (``prune_report.lua``) on a real redis-server: key names, curves,
retry idempotence, and consistent decisions with several processes reporting at once."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest
import redis

from hqueue.backends.redis.keys import ExperimentKeys
from hqueue.backends.redis.rungs import RedisRungs
from hqueue.pruners import PruningSession, SuccessiveHalving
from hqueue.pruners.rules import promotable

N_PROCS = 6
TRIALS_PER_PROC = 15
RUNG = "sh:1:3:0:1"


def test_curve_and_rung_key_names_are_pinned():
    keys = ExperimentKeys("e1")
    assert keys.curve(3) == "hq:{e1}:curve:3"
    assert keys.rung("sh:1:3:0:9") == "hq:{e1}:rung:sh:1:3:0:9"


@pytest.fixture
def rungs(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield RedisRungs(client, "exp")
    client.close()


def test_curve_is_kept_by_step_and_bounded(redis_url):
    client = redis.Redis.from_url(redis_url)
    rungs = RedisRungs(client, "exp", max_curve_points=3)
    for step, value in [(1, 0.9), (2, 0.7), (3, float("nan")), (4, 0.5), (2, 0.6)]:
        rungs.record(7, step, value, [])
    steps, values = rungs.curve(7)
    assert steps.tolist() == [1, 2, 3]  # step 4 beyond the cap was dropped
    assert values[:2].tolist() == [0.9, 0.6] and np.isnan(values[2])  # step 2 overwritten
    assert rungs.curve(8)[0].tolist() == []


def test_a_retried_report_counts_once_at_a_rung(rungs):
    rungs.record(1, 1, 0.5, [RUNG])
    first = rungs.record(2, 1, 0.3, [RUNG])[0]
    again = rungs.record(2, 1, 0.9, [RUNG])[0]  # the retry reports a different value
    assert (first.own, first.others.tolist()) == (0.3, [0.5])
    assert (again.own, again.others.tolist()) == (0.3, [0.5])
    assert rungs.rung(RUNG) == {1: 0.5, 2: 0.3}


def test_a_retried_trial_gets_the_same_decision_from_its_first_values(rungs):
    asha = SuccessiveHalving(reduction_factor=2)
    for trial, value in [(0, 0.1), (1, 0.2)]:
        PruningSession(asha, rungs, trial).report(value, 1)
    attempt = PruningSession(asha, rungs, 2)
    attempt.report(0.05, 1)  # best so far: goes on
    retry = PruningSession(asha, rungs, 2)
    retry.report(0.9, 1)  # the retry's worse value is not recorded: still judged on 0.05
    assert not attempt.should_prune() and not retry.should_prune()
    assert len(rungs.rung("sh:1:2:0:1")) == 3


def test_nan_and_inf_values_round_trip(rungs):
    rungs.record(1, 1, float("inf"), [RUNG])
    snap = rungs.record(2, 1, float("nan"), [RUNG])[0]
    assert np.isnan(snap.own) and snap.others.tolist() == [float("inf")]


def _reporter(url: str, proc: int, start, out) -> None:
    client = redis.Redis.from_url(url)
    rungs = RedisRungs(client, "exp")
    start.wait()
    seen = []
    for i in range(TRIALS_PER_PROC):
        trial = proc * 1000 + i
        value = float((trial * 7919) % 10007) / 10007  # distinct per trial
        snap = rungs.record(trial, 1, value, [RUNG])[0]
        seen.append((trial, snap.own, sorted(snap.others.tolist())))
    out.put(seen)


def test_concurrent_reporters_see_one_consistent_order(redis_url):
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_reporter, args=(redis_url, p, start, out))
             for p in range(N_PROCS)]
    for p in procs:
        p.start()
    start.set()
    reports = [r for _ in procs for r in out.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    n = N_PROCS * TRIALS_PER_PROC
    # atomic record-and-read: the k-th report to land saw exactly k values, each earlier
    # snapshot contained in each later one, so the decisions are those of one serial order
    reports.sort(key=lambda r: len(r[2]))
    assert [len(r[2]) + 1 for r in reports] == list(range(1, n + 1))
    for before, after in zip(reports, reports[1:]):
        assert set(before[2]) | {before[1]} == set(after[2])
    final = RedisRungs(redis.Redis.from_url(redis_url), "exp").rung(RUNG)
    assert len(final) == n
    # and every decision is the rule applied to that serial prefix
    order = [r[1] for r in reports]
    for k, (_, own, others) in enumerate(reports):
        assert promotable(own, np.array(others + [own]), 3) == promotable(
            own, np.array(order[: k + 1]), 3)
