"""Redis faults mid-search, against a real redis-server and real worker processes.

- Redis stopped (SIGTERM, persistence on) and restarted: the driver and the workers reconnect
  by themselves, the search completes, and no trial is evaluated twice.
- Redis killed (SIGKILL) with the persistence ``hqueue serve`` uses (AOF, ``appendfsync
  everysec``): writes already handed to the OS survive a killed process, so the search
  completes as after a clean restart.
- Redis rolled back: killed with AOF off after an early snapshot, so it restarts with the data
  of many seconds earlier (worse than the one-second window a power cut costs with
  ``everysec``): the driver notices, restores what Redis lost from its own copy, and the
  search converges: every tid finished exactly once, none stuck, none duplicated (a trial
  whose result was lost may be evaluated again).
- A driver cut off long enough that a second driver takes the experiment stops with
  DriverBusy instead of feeding it twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from e2e_helpers import record

from hqueue import STATUS_OK, fmin, hp, rand
from hqueue.backends.redis.driver import DriverBusy, DriverLock
from hqueue.backends.redis.server import RedisServer
from hqueue.backends.redis.trials import RedisTrials
from hqueue.states import JOB_STATE_DONE

SECRET = "faults-secret-0123456789abcdef"
N_TRIALS = 60


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("HQUEUE_SECRET", SECRET)


@pytest.fixture
def server(request, tmp_path):
    appendonly = getattr(request, "param", True)
    with RedisServer(dir=tmp_path / "redis", appendonly=appendonly) as srv:
        yield srv


@pytest.fixture
def workers(server):
    procs: list[subprocess.Popen] = []
    env = dict(os.environ, HQUEUE_URL=server.url, HQUEUE_SECRET=SECRET)
    for i in range(2):
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "hqueue.worker", "worker", "--pool=solo",
             "--loglevel=WARNING", "-n", f"f{i}-{time.time()}@%h", "--without-gossip",
             "--without-mingle", "--without-heartbeat"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    yield procs
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def make_objective(log: Path):
    def objective(cfg):
        time.sleep(0.05)
        with open(log, "a") as f:  # one line per evaluation: re-evaluations show up
            f.write(f"{cfg['x']!r}\n")
        return {"loss": (cfg["x"] - 0.3) ** 2, "status": STATUS_OK}

    return objective


class Search(threading.Thread):
    """fmin on RedisTrials in a thread, so the test can hurt Redis meanwhile."""

    def __init__(self, url: str, log: Path) -> None:
        super().__init__(daemon=True)
        self.url, self.log = url, log
        self.error: BaseException | None = None
        self.trials: RedisTrials | None = None

    def run(self) -> None:
        try:
            self.trials = RedisTrials(self.url, exp_key="faults", lease_s=10)
            fmin(make_objective(self.log), {"x": hp.uniform("x", -1, 1)}, algo=rand.suggest,
                 max_evals=N_TRIALS, trials=self.trials, max_queue_len=4,
                 rstate=np.random.default_rng(0), show_progressbar=False)
        except BaseException as exc:  # reported by the test
            self.error = exc


def evaluations(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def assert_converged(server: RedisServer) -> list[dict]:
    check = RedisTrials(server.url, exp_key="faults")
    tids = sorted(t["tid"] for t in check.trials)
    assert tids == list(range(N_TRIALS)), "each tid exactly once, none missing"
    assert all(t["state"] == JOB_STATE_DONE for t in check.trials), "none stuck or failed"
    assert check.client.zcard(check.keys.running) == 0
    assert check.client.zcard(check.keys.queued) == 0
    return check.trials


def test_redis_restarted_mid_search_driver_and_workers_reconnect_and_nothing_runs_twice(
        server, workers, tmp_path):
    log = tmp_path / "evaluations.log"
    search = Search(server.url, log)
    search.start()
    wait_for(lambda: evaluations(log) >= 15, 120, "15 evaluations before the restart")
    server.stop()  # SIGTERM: Redis writes its data and exits
    time.sleep(2.0)  # clients see connection refused meanwhile
    server.start()
    search.join(timeout=240)
    assert not search.is_alive(), "the search did not finish after Redis came back"
    assert search.error is None, repr(search.error)
    assert_converged(server)
    assert evaluations(log) == N_TRIALS  # nothing lost, so nothing evaluated twice
    record("Redis stopped (SIGTERM) and restarted 2 s later", injected=1, trials=N_TRIALS,
           lost=0, duplicated=0, re_evaluations=evaluations(log) - N_TRIALS,
           observed="driver and 2 workers reconnected by themselves; search completed",
           test="test_faults_redis.py::test_redis_restarted_mid_search_*")


def kill_and_restart(server: RedisServer) -> None:
    os.kill(server.pid, signal.SIGKILL)  # no shutdown save, no final fsync
    server.wait(timeout=10)
    time.sleep(1.0)
    server.start()


def test_redis_killed_mid_search_with_aof_everysec_loses_nothing(server, workers, tmp_path):
    log = tmp_path / "evaluations.log"
    search = Search(server.url, log)
    search.start()
    wait_for(lambda: evaluations(log) >= 20, 120, "20 evaluations before the crash")
    kill_and_restart(server)
    search.join(timeout=240)
    assert not search.is_alive(), "the search did not finish after the crash"
    assert search.error is None, repr(search.error)
    assert_converged(server)
    assert evaluations(log) == N_TRIALS
    record("Redis SIGKILLed (AOF everysec) and restarted", injected=1, trials=N_TRIALS,
           lost=0, duplicated=0, re_evaluations=evaluations(log) - N_TRIALS,
           observed="no write lost (a killed process's writes are in the OS); completed",
           test="test_faults_redis.py::test_redis_killed_mid_search_with_aof_everysec_*")


@pytest.mark.parametrize("server", [False], indirect=True, ids=["aof-off"])
def test_redis_rolled_back_to_an_old_snapshot_the_search_converges_with_exact_counts(
        server, workers, tmp_path):
    log = tmp_path / "evaluations.log"
    search = Search(server.url, log)
    search.start()
    wait_for(lambda: evaluations(log) >= 10, 120, "10 evaluations before the snapshot")
    server.client().save()
    wait_for(lambda: evaluations(log) >= 30, 120, "30 evaluations before the crash")
    kill_and_restart(server)  # restarts from the snapshot: 20 evaluations' worth forgotten
    assert len(RedisTrials(server.url, exp_key="faults").trials) < 30
    search.join(timeout=240)
    assert not search.is_alive(), "the search did not converge after the rollback"
    assert search.error is None, repr(search.error)
    assert_converged(server)
    assert evaluations(log) >= N_TRIALS  # a result Redis lost may have been recomputed
    record("Redis rolled back ~20 evaluations (SIGKILL, AOF off, old snapshot)", injected=1,
           trials=N_TRIALS, lost=0, duplicated=0, re_evaluations=evaluations(log) - N_TRIALS,
           observed="driver restored lost results and trials from its copy; converged",
           test="test_faults_redis.py::test_redis_rolled_back_*")


def test_a_second_driver_taking_over_a_lapsed_lease_stops_the_first(redis_url):
    first = RedisTrials(redis_url, exp_key="two-drivers")
    lock = DriverLock(first, ttl_s=0.2)
    lock.acquire()
    with pytest.raises(DriverBusy):
        DriverLock(first, ttl_s=5).acquire()  # refused while the lease is held
    time.sleep(0.3)  # the first driver is cut off: its lease lapses
    second = DriverLock(RedisTrials(redis_url, exp_key="two-drivers"), ttl_s=5)
    second.acquire()
    with pytest.raises(DriverBusy, match="took over"):
        lock.renew()
    lock.release()  # must not delete the second driver's lease
    assert first.client.get(first.keys.driver) == second.token.encode()
