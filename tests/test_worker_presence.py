"""Worker presence: workers announce themselves in ``hq:workers``; readers see who is alive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import fakeredis
import pytest

from hqueue.backends.redis.codec import encode_value
from hqueue.backends.redis.keys import WORKERS
from hqueue.backends.redis.presence import (
    FORGET_AFTER_S,
    STALE_AFTER_S,
    WorkerPresence,
    WorkerRegistry,
    alive_count,
)
from hqueue.worker import beacon as beacon_mod
from hqueue.worker import runner


def _presence(wid: str, seen: float, trials=()) -> WorkerPresence:
    return WorkerPresence(wid, "box", 1, ("hqueue",), started=seen - 5, seen=seen,
                          trials=tuple(trials))


def test_a_worker_not_seen_for_the_stale_window_counts_as_dead():
    registry = WorkerRegistry(fakeredis.FakeRedis())
    registry.announce(_presence("fresh", seen=1000.0))
    registry.announce(_presence("stale", seen=1000.0 - STALE_AFTER_S - 1))
    workers = registry.list(now=1000.0)
    assert {w.worker_id: w.alive(now=1000.0) for w in workers} == {"fresh": True,
                                                                   "stale": False}
    assert alive_count(workers, now=1000.0) == 1
    assert workers[0].worker_id == "fresh"  # most recently seen first


def test_long_dead_workers_are_forgotten_when_listed():
    client = fakeredis.FakeRedis()
    registry = WorkerRegistry(client)
    registry.announce(_presence("gone", seen=0.0))
    assert registry.list(now=FORGET_AFTER_S + 1.0) == []
    assert client.hlen(WORKERS) == 0


def test_a_damaged_presence_entry_is_skipped_not_fatal():
    client = fakeredis.FakeRedis()
    client.hset(WORKERS, "junk", b"\xc1not msgpack")
    client.hset(WORKERS, "odd", encode_value({"pid": "not a number"}))
    registry = WorkerRegistry(client)
    registry.announce(_presence("ok", seen=time.time()))
    assert [w.worker_id for w in registry.list()] == ["ok"]


def test_running_maps_an_experiments_tids_to_live_workers():
    registry = WorkerRegistry(fakeredis.FakeRedis())
    registry.announce(_presence("a", seen=1000.0, trials=[("exp1", 3), ("exp2", 9)]))
    registry.announce(_presence("b", seen=1000.0, trials=[("exp1", 4)]))
    registry.announce(_presence("dead", seen=1.0, trials=[("exp1", 5)]))
    running = registry.running("exp1", now=1000.0)
    assert {tid: w.worker_id for tid, w in running.items()} == {3: "a", 4: "b"}


def test_a_beacon_reports_the_trials_its_process_runs(monkeypatch):
    client = fakeredis.FakeRedis()
    monkeypatch.setattr(runner, "running_tids", lambda: [("exp1", 7)])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    beacon = beacon_mod.Beacon(client, ["gpu"], every_s=60)
    beacon.announce_now()
    [w] = WorkerRegistry(client).list()
    assert (w.pid, w.queues, w.trials, w.gpus) == (os.getpid(), ("gpu",), (("exp1", 7),), "1")
    beacon.stop()
    assert WorkerRegistry(client).list() == []


def test_a_beacon_survives_redis_being_unreachable():
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server)
    beacon = beacon_mod.Beacon(client, ["hqueue"], every_s=60)
    server.connected = False
    beacon.announce_now()  # logs, does not raise
    assert beacon._failing
    server.connected = True
    beacon.announce_now()
    assert not beacon._failing and len(WorkerRegistry(client).list()) == 1


@pytest.mark.parametrize("pool", ["solo", "prefork"])
def test_a_real_worker_appears_while_alive_and_leaves_on_sigterm(redis_url, pool):
    import redis

    env = dict(os.environ, HQUEUE_URL=redis_url, HQUEUE_SECRET="presence-secret-0123456789")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "hqueue.worker", "worker", f"--pool={pool}",
         "--concurrency=2", "-Q", "gpu,hqueue", "--loglevel=WARNING", "-n", f"p{pool}@%h",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    registry = WorkerRegistry(redis.Redis.from_url(redis_url))
    expected = 1 if pool == "solo" else 2  # prefork: each pool process announces itself
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(registry.list()) < expected:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.1)
        workers = registry.list()
        assert len(workers) == expected
        assert all(set(w.queues) == {"gpu", "hqueue"} and w.alive() for w in workers)
        if pool == "solo":
            assert workers[0].pid == proc.pid
        else:
            assert proc.pid not in {w.pid for w in workers}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert registry.list() == []
