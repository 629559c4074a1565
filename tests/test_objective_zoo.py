"""The objective zoo against real worker processes in every pool (solo, threads, prefork):
objectives that fork, leave processes and threads behind, return what cannot be stored, raise
what cannot be printed, change the recursion limit, or die after side effects; broker
messages that are not Celery tasks; a launcher killed outright. Each test asserts the end
state exactly: trial states, attempts, evaluations per tid, leftover processes gone, worker
alive."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from typing import Any

import numpy as np
import psutil
import pytest
import redis
from e2e_helpers import all_docs, read_log, record, wait_until, worker_env
from zoo_objectives import ZOO, ZooObjective

from hqueue import fmin, hp, rand
from hqueue.backends.redis.presence import WorkerRegistry
from hqueue.backends.redis.trials import RedisTrials
from hqueue.states import JOB_STATE_DONE, JOB_STATE_ERROR

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("e2e_secret")]

#: how each zoo trial must end: (state, what its error type names, or None)
EXPECTED = {
    "fork_pool": (JOB_STATE_DONE, None), "fork_terminate": (JOB_STATE_DONE, None),
    "subprocess": (JOB_STATE_DONE, None), "orphan": (JOB_STATE_DONE, None),
    "os_fork": (JOB_STATE_DONE, None),
    "fork_returns": (JOB_STATE_DONE, None), "thread": (JOB_STATE_DONE, None),
    "recursion": (JOB_STATE_DONE, None), None: (JOB_STATE_DONE, None),
    "self_ref": (JOB_STATE_ERROR, "ResultNotStorable"),
    "deep": (JOB_STATE_ERROR, "ResultNotStorable"),
    "huge": (JOB_STATE_ERROR, "ResultNotStorable"),
    "bad_str": (JOB_STATE_ERROR, "ExplodingStr"),
}


SAFETY_S = 400  # how long a search may take before the test gives up on it (never a target)


def _search(url, exp_key, objective, n, timeout=SAFETY_S, **options):
    """A search of ``n`` trials, one queued at a time. ``timeout`` is a safety net only: a
    worker that died makes the test fail (trials left undone) instead of hanging."""
    trials = RedisTrials(url, exp_key=exp_key, **options)
    fmin(objective, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=n, trials=trials,
         max_queue_len=1, rstate=np.random.default_rng(0), show_progressbar=False,
         timeout=timeout)
    return trials


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("kind", ["solo", "threads", "prefork"])
def test_the_objective_zoo_costs_at_most_its_own_trial_in_every_pool(redis_url, pool,
                                                                     tmp_path, kind):
    behaviours = dict(enumerate((None, *ZOO, None)))
    n = len(behaviours)
    objective = ZooObjective(tmp_path / "evals.jsonl", behaviours)
    worker = pool.start(pool=kind, concurrency=1)
    begin = time.monotonic()
    _search(redis_url, "zoo", objective, n, lease_s=10.0, max_result_bytes=2**20)
    duration = time.monotonic() - begin
    docs = all_docs(redis_url, "zoo")
    assert [d["tid"] for d in docs] == list(range(n))
    got = {tid: (docs[tid]["state"], docs[tid]["misc"].get("error")) for tid in range(n)}
    for tid, what in behaviours.items():
        state, error_kind = EXPECTED[what]
        assert got[tid][0] == state, (what, got[tid])
        if error_kind:
            assert error_kind in got[tid][1][0], (what, got[tid])
        assert docs[tid]["misc"]["attempts"] == 1, (what, docs[tid]["misc"])
    by_name = {what: docs[tid] for tid, what in behaviours.items() if what}
    assert by_name["bad_str"]["misc"]["error"][1] == \
        "<ExplodingStr: its __str__ raised RuntimeError>"
    assert "over max_result_bytes" in by_name["huge"]["misc"]["error"][1]
    assert by_name["fork_pool"]["result"]["squares"] == [i * i for i in range(8)]
    assert by_name["fork_terminate"]["result"]["terminated"] == -signal.SIGTERM
    assert "from_child" not in by_name["fork_returns"]["result"]
    log = read_log(objective.log_path)
    starts = collections.Counter(r["tid"] for r in log if r["event"] == "start")
    assert starts == collections.Counter(range(n)), "a trial was evaluated twice"
    assert len({r["recursion_limit"] for r in log}) == 1, "the recursion limit leaked"
    leftovers = [r["pid"] for r in read_log(objective.log_path + ".pids")]
    assert len(leftovers) == 3 and all(_gone(pid) for pid in leftovers), leftovers
    assert worker.poll() is None, pool.log_text(worker)[-3000:]
    assert "Unrecoverable" not in pool.log_text(worker)
    print(f"\nzoo in the {kind} pool: {n} trials, {duration:.0f} s")
    record(f"objective zoo ({kind} pool)", test="test_objective_zoo.py::test_the_objective_zoo_"
           f"costs_at_most_its_own_trial_in_every_pool[{kind}]", injected=len(ZOO), trials=n,
           lost=0, duplicated=0, stuck=0, re_evaluations=0, seconds=round(duration, 1),
           observed="4 ERROR with their true reason on the first attempt, the rest DONE; "
                    "leftover processes killed, the worker alive")


def test_a_pool_process_killed_after_inject_and_enqueue_is_requeued_at_once_and_its_side_effects_happen_once(  # noqa: E501
        redis_url, pool, tmp_path):
    objective = ZooObjective(tmp_path / "evals.jsonl", {0: "inject_kill"})
    worker = pool.start(pool="prefork", concurrency=1, loglevel="WARNING")
    _search(redis_url, "inject", objective, 3, lease_s=600.0)  # only WorkerLostError can help
    docs = all_docs(redis_url, "inject")
    assert [d["tid"] for d in docs] == [0, 1, 2]
    assert docs[0]["state"] == JOB_STATE_DONE and docs[0]["misc"]["attempts"] == 2
    injected = [d for d in docs if d["misc"].get("injected_by") == 0]
    enqueued = [d for d in docs if d["misc"].get("from_tid") == 0 and d not in injected]
    assert len(injected) == 1 and len(enqueued) == 1
    assert injected[0]["state"] == JOB_STATE_DONE and enqueued[0]["state"] == JOB_STATE_DONE
    starts = collections.Counter(r["tid"] for r in read_log(objective.log_path))
    assert starts == {0: 2, enqueued[0]["tid"]: 1}
    assert "its pool process" in pool.log_text(worker)  # handed back by WorkerLostError
    assert worker.poll() is None


def test_messages_that_are_not_celery_tasks_are_dropped_and_the_worker_goes_on(
        redis_url, pool, tmp_path):
    worker = pool.start(pool="solo", loglevel="INFO")
    client = redis.Redis.from_url(redis_url)
    wait_until(lambda: "ready" in pool.log_text(worker), 120, "the worker to start")
    for poison in (b"\xff\xfe not json at all", b"[1, 2, 3]", b'{"body": 1}'):
        client.lpush("hqueue", poison)
    wait_until(lambda: client.llen("hqueue") == 0, 60, "the worker to pop the messages")
    dropped = "dropped a message on the broker queue"
    wait_until(lambda: pool.log_text(worker).count(dropped) == 3 or worker.poll() is not None,
               60, "the worker to drop the three messages")
    assert worker.poll() is None, pool.log_text(worker)[-2000:]  # before a search needs it
    objective = ZooObjective(tmp_path / "evals.jsonl", {})
    _search(redis_url, "after-poison", objective, 3, lease_s=5.0)
    assert [d["state"] for d in all_docs(redis_url, "after-poison")] == [JOB_STATE_DONE] * 3
    assert worker.poll() is None
    assert pool.log_text(worker).count(dropped) == 3


def _launcher(url: str, pool: str = "prefork", stderr: Any = subprocess.DEVNULL,
              extra: tuple[str, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hqueue.cli", "worker", "--url", url,
                             "--pool", pool, "--concurrency", "1", "--loglevel",
                             "WARNING", *extra], env=worker_env(url), stdout=subprocess.DEVNULL,
                            stderr=stderr)


def _celery_tree(launcher: subprocess.Popen, n: int) -> list[psutil.Process]:
    def tree():
        procs = psutil.Process(launcher.pid).children(recursive=True)
        return procs if len(procs) >= n else None

    return wait_until(tree, 120, f"{n} worker processes under the launcher", every=0.2)


def test_killing_the_launcher_with_sigkill_takes_its_worker_and_pool_processes_down(redis_url):
    launcher = _launcher(redis_url)
    tree = _celery_tree(launcher, 2)  # the Celery worker and its pool process
    launcher.kill()
    launcher.wait()
    wait_until(lambda: all(_gone(p.pid) for p in tree), 120, "the workers to exit")


def test_the_launcher_restarts_a_worker_that_died(redis_url):
    launcher = _launcher(redis_url)
    try:
        first = _celery_tree(launcher, 2)
        worker = next(p for p in first if p.ppid() == launcher.pid)
        worker.kill()
        wait_until(lambda: [p for p in psutil.Process(launcher.pid).children()
                            if p.pid != worker.pid and p.status() != psutil.STATUS_ZOMBIE],
                   120, "a new worker process")
        assert launcher.poll() is None
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(60)


@pytest.mark.parametrize("kind", ["solo", "threads"])
def test_a_worker_process_killed_by_its_objective_is_requeued_by_the_launcher_at_once(
        redis_url, tmp_path, kind):
    """os._exit, SIGKILL and a segfault in the objective kill a solo/threads worker outright;
    the launcher sees its child die, requeues that trial (attempt counted) and starts the worker
    again. The lease is 600 s, so recovery through the lease cannot make this pass."""
    log = tmp_path / "launcher.log"
    objective = ZooObjective(tmp_path / "evals.jsonl",
                             {0: "exit_once", 1: "sigkill_once", 2: "segfault_once"})
    with open(log, "wb") as stderr:
        launcher = _launcher(redis_url, kind, stderr)
    try:
        trials = RedisTrials(redis_url, exp_key=f"dies-{kind}", lease_s=600.0)
        fmin(objective, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=4, trials=trials,
             max_queue_len=1, rstate=np.random.default_rng(0), show_progressbar=False,
             timeout=SAFETY_S)  # a safety net only: a broken recovery fails, not hangs
        docs = all_docs(redis_url, f"dies-{kind}")
        assert [(d["tid"], d["state"], d["misc"]["attempts"]) for d in docs] == [
            (0, JOB_STATE_DONE, 2), (1, JOB_STATE_DONE, 2), (2, JOB_STATE_DONE, 2),
            (3, JOB_STATE_DONE, 1)]
        starts = collections.Counter(r["tid"] for r in read_log(objective.log_path))
        assert starts == {0: 2, 1: 2, 2: 2, 3: 1}
        text = log.read_text(errors="replace")
        for tid in (0, 1, 2):  # each handed back by the launcher, not by its lease
            assert f"trial {tid} of 'dies-{kind}': its worker process" in text
        assert text.count("died; requeued (attempt counted)") == 3
        assert launcher.poll() is None
        assert [p for p in psutil.Process(launcher.pid).children()
                if p.status() != psutil.STATUS_ZOMBIE]  # a worker is running again
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(60)


@pytest.mark.parametrize("kind", ["solo", "prefork"])
def test_with_gpus_each_worker_process_sees_only_its_own_gpu(redis_url, tmp_path, kind):
    """``hqueue worker --gpus 0,1``: two worker processes, each objective sees the
    CUDA_VISIBLE_DEVICES of its own worker, and each worker announces its GPU. (No GPU here:
    hqueue only sets the variable, so this checks the assignment, not CUDA.)"""
    env_before = os.environ.get("CUDA_VISIBLE_DEVICES")
    objective = ZooObjective(tmp_path / "evals.jsonl", {0: "gpu_pair", 1: "gpu_pair"})
    launcher = _launcher(redis_url, kind, extra=("--gpus", "0,1"))
    try:
        _celery_tree(launcher, 2 if kind == "solo" else 4)
        trials = RedisTrials(redis_url, exp_key=f"gpus-{kind}", lease_s=30.0)
        fmin(objective, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=2,
             trials=trials, max_queue_len=2, rstate=np.random.default_rng(0),
             show_progressbar=False)
        results = [d["result"] for d in all_docs(redis_url, f"gpus-{kind}")]
        seen = {r["pid"]: r["cuda"] for r in results}
        assert len(seen) == 2 and set(seen.values()) == {"0", "1"}
        registry = WorkerRegistry(redis.Redis.from_url(redis_url))
        wait_until(lambda: {w.gpus for w in registry.list()} == {"0", "1"}, 60,
                   "each worker to announce its GPU")
        assert launcher.poll() is None
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(60)
    assert os.environ.get("CUDA_VISIBLE_DEVICES") == env_before
