"""Redis rung storage (``prune_report.lua``) on a real redis-server: key names, curves,
retry idempotence, and consistent decisions with several processes reporting at once."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest
import redis

from hqueue.backends.redis.keys import ExperimentKeys
from hqueue.backends.redis.rungs import RedisRungs
from hqueue.pruners import MemoryRungs, PruningSession, RungSnapshot, SuccessiveHalving
from hqueue.pruners.rules import kept_at_rung, promotable
from hqueue.pruners.storage import summarize

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
    assert first == again == RungSnapshot(0.3, 1, 0, 0.5, 0.5)
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
    assert snap == RungSnapshot(float("inf"), 1, 0, float("inf"), float("inf"))
    assert rungs.rung(RUNG) == {1: float("inf"), 2: float("inf")}  # NaN recorded as +inf


@pytest.mark.parametrize("quantile", [0.0, 25.0, 50.0, 90.0, 100.0])
def test_redis_snapshots_equal_the_in_memory_ones(rungs, quantile):
    rng = np.random.default_rng(int(quantile))
    memory = MemoryRungs()
    values = np.round(rng.normal(size=60), 1)  # rounded: many ties
    values[[5, 17]] = np.nan
    values[[9]] = np.inf
    for trial, value in enumerate(values):
        for again in (False, True):  # every report retried once with another value
            v = value + 1.0 if again else value
            got = rungs.record(trial, 1, v, [RUNG, "other"], quantile)
            want = memory.record(trial, 1, v, [RUNG, "other"], quantile)
            assert len(got) == 2
            for g, w in zip(got, want):
                assert np.allclose(g, w, equal_nan=True), (trial, g, w)


def _reporter(url: str, proc: int, start, out) -> None:
    client = redis.Redis.from_url(url)
    rungs = RedisRungs(client, "exp")
    start.wait()
    seen = []
    for i in range(TRIALS_PER_PROC):
        trial = proc * 1000 + i
        value = float((trial * 7919) % 10007) / 10007  # distinct per trial
        snap = rungs.record(trial, 1, value, [RUNG])[0]
        seen.append(tuple(snap))
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
    # atomic record-and-read: the k-th report to land saw exactly k - 1 others ...
    reports.sort(key=lambda r: r[1])
    assert [r[1] for r in reports] == list(range(n))
    # ... and its statistics are those of exactly the reports that landed before it, so every
    # decision is the one a serial order would have made
    for k, (own, _, better, lower, upper) in enumerate(reports):
        earlier = np.array([r[0] for r in reports[:k]])
        want = summarize(own, earlier, 50.0)
        assert (better, lower, upper) == pytest.approx(
            (want.n_better, want.lower, want.upper), nan_ok=True)
        assert kept_at_rung(own, better, k, 3) == promotable(own, np.append(earlier, own), 3)
    final = RedisRungs(redis.Redis.from_url(redis_url), "exp").rung(RUNG)
    assert len(final) == n
