"""The driver reads Redis once per loop step: a top-up works on the last pull
(``RedisBackend.pull_locally``), changes made meanwhile are read by the next pull, and
``max_evals`` / ``max_queue_len`` still hold exactly."""

from __future__ import annotations

import fakeredis
import numpy as np
import pytest
import redis

from hqueue import fmin, hp, rand, tpe
from hqueue.backends.redis.backend import RedisBackend
from hqueue.backends.redis.driver import AsyncRunner
from hqueue.backends.redis.records import ExperimentOptions
from hqueue.backends.redis.store import TrialStore
from hqueue.backends.redis.trials import RedisTrials
from hqueue.mirror import TrialMirror
from hqueue.states import JOB_STATE_DONE, JOB_STATE_NEW
from hqueue.trial_doc import generate_trial

SPACE = {"x": hp.uniform("x", -1, 1)}


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("HQUEUE_SECRET", "driver-pulls-secret-0123456789")


@pytest.fixture(params=["fakeredis", "real"])
def client(request):
    if request.param == "fakeredis":
        return fakeredis.FakeRedis()
    return redis.Redis.from_url(request.getfixturevalue("redis_url"))


@pytest.fixture
def backend(client):
    return RedisBackend(client, "e1", ExperimentOptions(), sender=lambda: None)


def docs_for(backend, n):
    return [generate_trial(t, {"x": float(t)}, "e1") for t in backend.new_tids(n)]


def finish(store, tid, loss=0.5):
    store.claim(tid, owner="w", lease_s=30)
    store.finish(tid, "w", JOB_STATE_DONE, {"status": "ok", "loss": loss})


def test_a_pull_inside_pull_locally_reads_nothing_and_sees_created_trials(backend, monkeypatch):
    mirror = TrialMirror(backend)
    backend.create(docs_for(backend, 2))
    mirror.pull()
    with backend.pull_locally():
        monkeypatch.setattr(backend.store, "changes_since", lambda *a, **k: pytest.fail(
            "read Redis inside pull_locally"))
        backend.create(docs_for(backend, 3))
        mirror.pull()
        mirror.pull()
    assert sorted(mirror.docs) == [0, 1, 2, 3, 4]
    assert len(mirror.ordered) == 5 and mirror.count(JOB_STATE_NEW) == 5


def test_changes_made_during_pull_locally_are_read_by_the_next_pull(backend, client):
    mirror = TrialMirror(backend)
    backend.create(docs_for(backend, 3))
    mirror.pull()
    worker = TrialStore(client, "e1")
    with backend.pull_locally():
        finish(worker, 0)
        backend.create(docs_for(backend, 2))
        finish(worker, 3)  # created in the block, finished before the block's end
        mirror.pull()
        assert mirror.count(JOB_STATE_DONE) == 0  # not read yet
    mirror.pull()
    assert {t: d["state"] for t, d in mirror.docs.items()} == {
        0: JOB_STATE_DONE, 1: JOB_STATE_NEW, 2: JOB_STATE_NEW, 3: JOB_STATE_DONE,
        4: JOB_STATE_NEW}
    assert mirror.count(JOB_STATE_DONE) == 2 and mirror.count(JOB_STATE_NEW) == 3


class QueueWorker:
    """``send_task`` for fmin: trials are finished when the driver waits (``on_wait`` of
    them per wait) and, every ``inline_every``-th send, at once inside the send; records how
    many trials were pending in Redis at each send."""

    def __init__(self, url: str, exp_key: str, on_wait: int = 2, inline_every: int = 3):
        self.store = TrialStore(redis.Redis.from_url(url), exp_key)
        self.todo: list[int] = []
        self.pending_at_send: list[int] = []
        self.on_wait, self.inline_every, self.sent = on_wait, inline_every, 0

    def __call__(self, exp_key: str, tid: int, queue: str) -> None:
        self.sent += 1
        self.pending_at_send.append(len(self.store.queued_tids()) +
                                    len(self.store.running_tids()))
        if self.sent % self.inline_every == 0:
            finish(self.store, tid, loss=float(tid))
        else:
            self.todo.append(tid)

    def work(self) -> None:
        for tid in self.todo[:self.on_wait]:
            finish(self.store, tid, loss=float(tid))
        del self.todo[:self.on_wait]


def run_counted(redis_url, monkeypatch, algo, max_evals, max_queue_len):
    """fmin with a :class:`QueueWorker`; the worker, the count of loop steps (top-ups) and
    the count of reads of the experiment's changes."""
    worker = QueueWorker(redis_url, f"pulls-{algo.__module__}-{max_queue_len}")
    steps, reads = [], []
    top_up, wait = AsyncRunner.top_up, AsyncRunner.wait_for_events
    changes_since = TrialStore.changes_since

    def counted_top_up(self):
        steps.append(1)
        return top_up(self)

    def waiting(self):
        worker.work()
        return wait(self)

    def counted_reads(self, *args, **kwargs):
        reads.append(1)
        return changes_since(self, *args, **kwargs)

    monkeypatch.setattr(AsyncRunner, "top_up", counted_top_up)
    monkeypatch.setattr(AsyncRunner, "wait_for_events", waiting)
    monkeypatch.setattr(TrialStore, "changes_since", counted_reads)
    trials = RedisTrials(redis_url, worker.store.exp_key, send_task=worker)
    reads.clear()  # the constructor's load
    fmin(lambda cfg: cfg["x"] ** 2, SPACE, algo=algo, max_evals=max_evals, trials=trials,
         max_queue_len=max_queue_len, show_progressbar=False, rstate=np.random.default_rng(0))
    return worker, trials, len(steps), len(reads)


@pytest.mark.parametrize("algo", [rand.suggest, tpe.suggest])
def test_a_driver_step_reads_the_experiment_once(redis_url, monkeypatch, algo):
    _, _, steps, reads = run_counted(redis_url, monkeypatch, algo, max_evals=40,
                                     max_queue_len=4)
    assert steps >= 10
    # one pull per step, plus three outside the loop: fmin's setup, the runner's start and
    # the final argmin
    assert reads <= steps + 3


@pytest.mark.parametrize("max_queue_len", [1, 3, 8])
def test_max_evals_and_max_queue_len_hold_when_trials_finish_during_a_top_up(
        redis_url, monkeypatch, max_queue_len):
    worker, trials, _, _ = run_counted(redis_url, monkeypatch, tpe.suggest, max_evals=30,
                                       max_queue_len=max_queue_len)
    trials.refresh()
    assert sorted(trials.tids) == list(range(30))
    assert all(t["state"] == JOB_STATE_DONE for t in trials.trials)
    assert worker.sent == 30
    assert max(worker.pending_at_send) <= max_queue_len
