"""Load: ten experiments at once on one Redis and one pool of 8 worker processes.

Ten driver threads, each its own exp_key and ``max_queue_len=4``, share 2 Celery workers of
4 prefork processes each. The objective returns the experiment it was built for, so a trial
evaluated with another experiment's domain would show. Every experiment must end with
exactly its trials, each finished once (:func:`e2e_helpers.check_exactly_once`).

``HQ_LOAD_TRIALS`` sets the trials per experiment: 200 (the full load; it runs in CI, about
35 s of search on a 2-core machine); ``HQ_LOAD_TRIALS=50`` for a quick run.
"""

from __future__ import annotations

import collections
import os
import threading
import time

import numpy as np
import pytest
from e2e_helpers import (
    LoggedObjective,
    all_docs,
    check_exactly_once,
    read_log,
    record,
)

from hqueue import fmin, hp, rand
from hqueue.backends.redis.trials import RedisTrials

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("e2e_secret")]

N_EXPERIMENTS = 10


def test_ten_experiments_at_once_each_get_exactly_their_own_trials(redis_url, pool, tmp_path):
    n = int(os.environ.get("HQ_LOAD_TRIALS", "200"))
    for _ in range(2):
        pool.start(pool="prefork", concurrency=4)
    log_path = tmp_path / "evals.jsonl"
    exp_keys = [f"load-{i}" for i in range(N_EXPERIMENTS)]
    errors: list[tuple[str, BaseException]] = []
    durations: dict[str, float] = {}

    def drive(exp_key: str, seed: int) -> None:
        begin = time.monotonic()
        try:
            trials = RedisTrials(redis_url, exp_key=exp_key, lease_s=30)
            fmin(LoggedObjective(log_path, exp=exp_key), hp.uniform("x", -1, 1),
                 algo=rand.suggest, max_evals=n, trials=trials, max_queue_len=4,
                 rstate=np.random.default_rng(seed), show_progressbar=False)
        except BaseException as exc:  # reported by the test
            errors.append((exp_key, exc))
        durations[exp_key] = time.monotonic() - begin

    begin = time.monotonic()
    drivers = [threading.Thread(target=drive, args=(k, i), name=k, daemon=True)
               for i, k in enumerate(exp_keys)]
    for d in drivers:
        d.start()
    for d in drivers:
        d.join(timeout=1200)
    total_s = time.monotonic() - begin
    assert not any(d.is_alive() for d in drivers), "a driver did not finish"
    assert not errors, errors

    by_exp = collections.Counter(r["exp"] for r in read_log(log_path) if r["event"] == "return")
    for exp_key in exp_keys:
        check_exactly_once(redis_url, exp_key, n, log_path)
        docs = all_docs(redis_url, exp_key)
        assert {d["result"]["exp"] for d in docs} == {exp_key}  # its own objective, each time
        assert by_exp[exp_key] == n
    pids = {r["pid"] for r in read_log(log_path)}
    print(f"\nload: {N_EXPERIMENTS} experiments x {n} trials = {N_EXPERIMENTS * n} trials on 8 "
          f"worker processes ({len(pids)} pids seen) in {total_s:.1f} s "
          f"({N_EXPERIMENTS * n / total_s:.0f} trials/s); slowest experiment "
          f"{max(durations.values()):.1f} s; lost 0, duplicated 0, cross-talk 0")
    record(f"load: {N_EXPERIMENTS} experiments x {n} trials at once, 8 worker processes",
           test="test_ten_experiments_at_once_each_get_exactly_their_own_trials",
           injected=0, trials=N_EXPERIMENTS * n, lost=0, duplicated=0, re_evaluations=0,
           observed=f"{N_EXPERIMENTS * n / total_s:.0f} trials/s; every trial ran its own "
                    "experiment's objective", seconds=round(total_s, 1))
