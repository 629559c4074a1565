"""``hqueue status`` tells the truth about workers: the PID the user started, and dead workers
shown dead quickly, without the trial they no longer run (issue 13 item 6)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import fakeredis
import redis
from click.testing import CliRunner
from e2e_helpers import SECRET, WorkerPool, send_trials, wait_for_gate, wait_until, worker_env

from hqueue import hp
from hqueue.backends.redis.keys import WORKERS
from hqueue.backends.redis.presence import FORGET_AFTER_S, WorkerPresence, WorkerRegistry
from hqueue.backends.redis.records import pid_namespace
from hqueue.cli import main


def _status_rows(url: str) -> list[list[str]]:
    """The workers table of ``hqueue status``, one list of cells per worker."""
    result = CliRunner().invoke(main, ["status", "--url", url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("WORKER ")), None)
    if start is None:
        return []  # "no workers" yet
    return [line.split() for line in lines[start + 1:] if line.strip()]


def gated(x: float) -> float:
    """An objective that blocks until the file named by ``$HQ_TEST_GATE`` exists."""
    wait_for_gate()
    return x ** 2


def test_status_shows_the_pid_of_hqueue_worker_and_pool_pids_as_detail(redis_url):
    launcher = subprocess.Popen(
        [sys.executable, "-m", "hqueue.cli", "worker", "--url", redis_url, "--pool", "prefork",
         "--concurrency", "2", "--loglevel", "WARNING"],
        env=worker_env(redis_url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        registry = WorkerRegistry(redis.Redis.from_url(redis_url))
        wait_until(lambda: len(registry.list()) == 2, 120, "two pool processes announced")
        rows = _status_rows(redis_url)
        assert len(rows) == 2
        # columns: WORKER HOST PID TRIAL-PID QUEUES GPUS SEEN STATE RUNNING
        assert {row[2] for row in rows} == {str(launcher.pid)}
        pool_pids = {int(row[3]) for row in rows}
        assert launcher.pid not in pool_pids and len(pool_pids) == 2
        assert {w.pid for w in registry.list()} == pool_pids
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=60)


def test_a_sigkilled_worker_is_shown_dead_without_its_trial(redis_url, tmp_path,
                                                          monkeypatch):
    monkeypatch.setenv("HQUEUE_SECRET", SECRET)
    pool = WorkerPool(redis_url, tmp_path)
    gate = tmp_path / "gate"  # never created: the trial runs until the worker dies
    worker = pool.start(env={"HQ_TEST_GATE": str(gate)})
    try:
        send_trials(redis_url, "dead", gated, hp.uniform("x", -1, 1), [{"x": 0.5}])
        wait_until(lambda: any(r[-1] == "dead:0" for r in _status_rows(redis_url)), 120,
                   "status shows the worker running trial 0")
        [row] = [r for r in _status_rows(redis_url) if r[-1] == "dead:0"]
        assert row[2] == row[3] == str(worker.pid) and row[-2] == "alive"
        pool.kill(worker, signal.SIGKILL)
        # a safety net, not a speed assertion: the state is what is checked
        wait_until(lambda: any(r[-2] == "dead" for r in _status_rows(redis_url)), 60,
                   "status shows the killed worker dead")
        [after] = [r for r in _status_rows(redis_url) if r[0] == row[0]]
        assert after[-2:] == ["dead", "-"]
    finally:
        pool.stop_all()


def test_a_fresh_entry_whose_process_is_gone_on_this_host_is_dead_at_once():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    now = time.time()
    registry = WorkerRegistry(fakeredis.FakeRedis())
    for wid, pid in [("gone", proc.pid), ("here", os.getpid())]:
        registry.announce(WorkerPresence(wid, socket.gethostname(), pid, ("hqueue",),
                                         started=now, seen=now, trials=(("e", 1),),
                                         launcher=pid, main=pid, pid_ns=pid_namespace()))
    workers = {w.worker_id: w for w in registry.list(now=now)}
    assert workers["here"].alive(now) and workers["here"].live_trials(now) == (("e", 1),)
    assert not workers["gone"].alive(now) and workers["gone"].live_trials(now) == ()
    assert set(registry.running("e", now=now)) == {1}


def test_a_dead_launcher_on_this_host_makes_its_worker_dead():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    now = time.time()
    w = WorkerPresence("w", socket.gethostname(), os.getpid(), ("hqueue",), started=now,
                       seen=now, launcher=proc.pid, main=os.getpid(), pid_ns=pid_namespace())
    assert w.user_pid == proc.pid and not w.alive(now)


def test_entries_from_another_host_are_judged_by_silence_alone():
    now = time.time()
    w = WorkerPresence("w", "another-host", 1, ("hqueue",), started=now, seen=now,
                       launcher=1, main=1, pid_ns="4026531836")
    assert w.alive(now) and not w.alive(now + 11.0)


def test_dead_entries_are_pruned_after_a_bounded_time():
    client = fakeredis.FakeRedis()
    registry = WorkerRegistry(client)
    registry.announce(WorkerPresence("old", "box", 1, ("hqueue",), started=0.0, seen=100.0))
    assert [w.worker_id for w in registry.list(now=100.0 + FORGET_AFTER_S - 1)] == ["old"]
    assert registry.list(now=100.0 + FORGET_AFTER_S + 1) == []
    assert client.hlen(WORKERS) == 0 and FORGET_AFTER_S <= 600
