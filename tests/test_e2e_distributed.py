"""End to end: a driver on RedisTrials, real Celery worker processes, a real redis-server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from hqueue import STATUS_OK, fmin, hp, tpe
from hqueue.backends.redis.trials import RedisTrials
from hqueue.states import JOB_STATE_DONE

SECRET = "e2e-secret-0123456789abcdef"


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("HQUEUE_SECRET", SECRET)


class Workers:
    """Celery worker processes started with ``celery -A hqueue.worker worker``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.procs: list[subprocess.Popen] = []

    def start(self, n: int = 1, queue: str = "hqueue") -> None:
        env = dict(os.environ, HQUEUE_URL=self.url, HQUEUE_SECRET=SECRET)
        for i in range(n):
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "hqueue.worker", "worker",
                 "--pool=solo", "-Q", queue, "--loglevel=WARNING", "-n", f"w{i}-{time.time()}@%h",
                 "--without-gossip", "--without-mingle", "--without-heartbeat"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            ))

    def kill(self, i: int, sig: int = signal.SIGKILL) -> None:
        self.procs[i].send_signal(sig)
        self.procs[i].wait(timeout=30)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture
def workers(redis_url):
    w = Workers(redis_url)
    yield w
    w.stop()


def test_a_search_runs_on_worker_processes(redis_url, workers):
    workers.start(2)

    def objective(cfg):
        return {"loss": (cfg["x"] - 1.0) ** 2 + cfg["k"], "status": STATUS_OK,
                "pid": os.getpid()}

    trials = RedisTrials(redis_url, exp_key="e2e", lease_s=10)
    space = {"x": hp.uniform("x", -3, 3), "k": hp.choice("k", [0, 1])}
    best = fmin(objective, space, algo=tpe.suggest, max_evals=30, trials=trials,
                max_queue_len=4, rstate=np.random.default_rng(0), show_progressbar=False)
    assert len(trials) == 30 and sorted(trials.tids) == list(range(30))
    assert all(t["state"] == JOB_STATE_DONE for t in trials.trials)
    assert {t["result"]["pid"] for t in trials.trials} - {os.getpid()}  # ran elsewhere
    assert best["k"] == 0 and abs(best["x"] - 1.0) < 1.0


def test_a_killed_worker_loses_no_trial_and_duplicates_none(redis_url, workers):
    workers.start(2)

    def slow(cfg):
        time.sleep(0.3)
        return cfg ** 2

    trials = RedisTrials(redis_url, exp_key="kill", lease_s=2.0, max_retries=5)
    killer_done = []

    def early_stop(t, *state):
        if not killer_done and len(t.trials) >= 4:
            workers.kill(0)  # SIGKILL mid-trial: its trial must be recovered through the lease
            killer_done.append(True)
        return False, list(state)

    fmin(slow, hp.uniform("x", -1, 1), algo=tpe.suggest, max_evals=16, trials=trials,
         max_queue_len=3, early_stop_fn=early_stop, rstate=np.random.default_rng(1),
         show_progressbar=False)
    assert killer_done
    tids = [t["tid"] for t in trials.trials]
    assert len(tids) == 16 and len(set(tids)) == 16
    assert all(t["state"] == JOB_STATE_DONE for t in trials.trials)
