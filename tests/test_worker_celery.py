"""Real Celery workers (``celery -A hqueue.worker worker``) on a real redis-server: trials sent
as tasks get evaluated, and SIGTERM hands a running trial back to the queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from hqueue import STATUS_OK, Domain, hp
from hqueue.backends.redis.store import TrialStore
from hqueue.fmin import generate_trial
from hqueue.pyll import rec_eval
from hqueue.security import dumps_domain
from hqueue.states import JOB_STATE_DONE, JOB_STATE_NEW, JOB_STATE_RUNNING
from hqueue.worker import TASK_NAME, make_app

SECRET = "celery-test-secret-0123456789abcdef"
REPO = Path(__file__).resolve().parents[1]
EXP = "celery-exp"


def objective(expr, memo, ctrl):
    """Fast for x < 0.9; for x >= 0.9 a long run that stops when told to."""
    cfg = rec_eval(expr, memo=memo)
    if cfg["x"] >= 0.9:
        deadline = time.monotonic() + 60
        while not ctrl.should_stop() and time.monotonic() < deadline:
            ctrl.checkpoint({"status": "running", "loss": 1.0})
            time.sleep(0.05)
        return {"loss": 1.0, "status": STATUS_OK}
    return {"loss": (cfg["x"] - 0.2) ** 2, "status": STATUS_OK, "pid": os.getpid()}


@pytest.fixture
def store(redis_url, monkeypatch):
    monkeypatch.setenv("HQUEUE_SECRET", SECRET)
    store = TrialStore(redis.Redis.from_url(redis_url), EXP)
    domain = Domain(objective, {"x": hp.uniform("x", -1, 1)}, pass_expr_memo_ctrl=True)
    digest, blob = dumps_domain(domain, EXP, SECRET.encode(), by_value=[sys.modules[__name__]])
    store.client.set(store.keys.domain(digest), blob)
    store.client.hset(store.keys.meta, mapping={
        "domain": digest, "queue": "hqueue", "lease_s": 3, "max_retries": 3,
        "trial_timeout": "", "max_attachment_bytes": 2**20})
    return store


def add_trials(store, xs):
    tids = store.new_tids(len(xs))
    docs = []
    for tid, x in zip(tids, xs):
        doc = generate_trial(tid, {"x": x})
        doc["exp_key"] = EXP
        docs.append(doc)
    assert store.create(docs) == tids
    return tids


@contextmanager
def celery_worker(url, tmp_path, pool="solo"):
    env = dict(os.environ, HQUEUE_URL=url, HQUEUE_SECRET=SECRET)
    env.pop("CELERY_BROKER_URL", None)
    log = open(tmp_path / f"worker-{pool}.log", "wb")
    cmd = [sys.executable, "-m", "celery", "-A", "hqueue.worker", "worker", f"--pool={pool}",
           "--concurrency=1", "-Q", "hqueue", "--loglevel=INFO", "--without-gossip",
           "--without-mingle", "--without-heartbeat", "-n", f"test-{pool}-{os.getpid()}@%h"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()


def wait_for(predicate, what, log_path, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not reached in {timeout} s; worker log:\n"
                        f"{Path(log_path).read_text()[-4000:]}")
        time.sleep(0.05)


def send(url, tids):
    app = make_app(url)
    for tid in tids:
        app.send_task(TASK_NAME, args=[EXP, tid], queue="hqueue")


def test_a_celery_worker_runs_trials_and_hands_one_back_on_sigterm(redis_url, store, tmp_path):
    log = tmp_path / "worker-solo.log"
    with celery_worker(redis_url, tmp_path) as proc:
        tids = add_trials(store, [-0.5, 0.0, 0.2, 0.4, 0.8])
        store.client.config_resetstat()
        send(redis_url, tids)
        wait_for(lambda: all(d["state"] == JOB_STATE_DONE for d in store.get_many(tids)),
                 "all 5 trials DONE", log)
        # taking a task is a BRPOP: kombu's ack emulation (a MULTI/EXEC adding the message
        # to its `unacked` hash, another deleting it with HDEL) is off
        stats = store.client.info("commandstats")
        assert "cmdstat_hdel" not in stats, str({k: v["calls"] for k, v in stats.items()})
        assert not store.client.exists("unacked", "unacked_index")
        docs = store.get_many(tids)
        assert [d["result"]["loss"] for d in docs] == pytest.approx(
            [0.49, 0.04, 0.0, 0.04, 0.36])
        assert {d["result"]["pid"] for d in docs} != {os.getpid()}
        assert all(d["owner"].split(":")[1] == str(d["result"]["pid"]) for d in docs)

        [slow] = add_trials(store, [0.95])
        send(redis_url, [slow])
        wait_for(lambda: store.get(slow)["state"] == JOB_STATE_RUNNING, "slow trial running",
                 log)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, log.read_text()[-4000:]
    doc = store.get(slow)
    assert doc["state"] == JOB_STATE_NEW and doc["owner"] is None
    assert doc["misc"]["attempts"] == 0 and store.queued_tids() == [slow]
    assert store.client.llen("hqueue") == 1  # its task was re-sent
    assert "released" in log.read_text()


@pytest.mark.parametrize("to", ["group", "parent"])
def test_a_prefork_pool_process_releases_its_trial_on_sigterm(redis_url, store, tmp_path, to):
    """``group``: what systemd and ``docker stop`` through an init do; ``parent``: what
    Kubernetes does to PID 1 (the parent passes it on to the pool process running the trial)."""
    log = tmp_path / "worker-prefork.log"
    with celery_worker(redis_url, tmp_path, pool="prefork") as proc:
        [slow] = add_trials(store, [0.95])
        send(redis_url, [slow])
        wait_for(lambda: store.get(slow)["state"] == JOB_STATE_RUNNING, "slow trial running",
                 log)
        if to == "group":
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    doc = store.get(slow)
    assert doc["state"] == JOB_STATE_NEW and doc["misc"]["attempts"] == 0, log.read_text()
    assert store.client.llen("hqueue") == 1


def test_the_app_is_hardened_for_long_tasks_tracked_by_leases():
    conf = make_app("redis://h:6379/3", queues=["gpu", "cpu"]).conf
    assert conf.broker_url == "redis://h:6379/3"
    assert (conf.worker_prefetch_multiplier, conf.task_acks_late, conf.task_ignore_result,
            conf.task_default_queue, conf.broker_connection_retry_on_startup,
            conf.task_serializer, conf.worker_max_tasks_per_child,
            conf.worker_cancel_long_running_tasks_on_connection_loss) == (
        1, False, True, "hqueue", True, "json", None, False)
    assert conf.accept_content == ["json"]
    assert conf.broker_transport_options["visibility_timeout"] >= 3600
    assert [q.name for q in conf.task_queues] == ["gpu", "cpu"]
    assert make_app("unix:///run/r.sock?db=2").conf.broker_url == \
        "redis+socket:///run/r.sock?virtual_host=2"
    assert make_app("rediss://h:6380/0").conf.broker_use_ssl["ssl_cert_reqs"] == 2  # REQUIRED


def test_celery_minus_a_finds_a_lazily_built_app(monkeypatch):
    import hqueue.worker as worker

    monkeypatch.delenv("HQUEUE_URL", raising=False)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    with pytest.raises(worker.WorkerConfigError, match="set HQUEUE_URL=redis://"):
        worker.celery  # noqa: B018
    monkeypatch.setenv("HQUEUE_URL", "redis://lazy-host:6379/0")
    app = worker.celery
    assert app is worker.get_app() and TASK_NAME in app.tasks
    assert app.conf.broker_url == "redis://lazy-host:6379/0"
    host, pid, tag = worker.worker_id().split(":")
    assert pid == str(os.getpid()) and len(tag) == 8
