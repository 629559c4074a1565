"""RedisTrials and the asynchronous driver on fakeredis, with an in-process stand-in for the
workers (real Celery workers are exercised in the end-to-end tests)."""

from __future__ import annotations

import fakeredis
import numpy as np
import pytest

from hqueue import STATUS_OK, fmin, hp, tpe
from hqueue.backends.redis.driver import DriverBusy, DriverLock
from hqueue.backends.redis.trials import RedisTrials
from hqueue.exceptions import HqueueError
from hqueue.fmin import spec_from_misc
from hqueue.security import load_secret, loads_domain
from hqueue.states import JOB_STATE_CANCEL, JOB_STATE_DONE, JOB_STATE_ERROR

SPACE = {"x": hp.uniform("x", -2, 2), "k": hp.choice("k", [0, 1])}


def objective(cfg):
    return {"loss": (cfg["x"] - 0.5) ** 2 + cfg["k"], "status": STATUS_OK}


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("HQUEUE_SECRET", "test-secret-0123456789abcdef")


@pytest.fixture
def server():
    return fakeredis.FakeServer()


def inline_workers(monkeypatch, fail_tids=()):
    """Evaluate trials as soon as their tasks are sent, as a worker would."""

    def send_tasks(self, tids):
        self.store.mark_sent(tids)
        digest = self.client.hget(self.keys.meta, "domain").decode()
        domain = loads_domain(self.client.get(self.keys.domain(digest)), self.keys.exp_key,
                              load_secret(), expected_digest=digest)
        for tid in tids:
            claim = self.store.claim(tid, "inline", lease_s=30)
            if claim is None:
                continue
            if tid in fail_tids:
                self.store.finish(tid, "inline", JOB_STATE_ERROR, {"status": "fail"},
                                  error=("RuntimeError", "boom"))
                continue
            result = domain.evaluate(spec_from_misc(claim.doc["misc"]), None)
            self.store.finish(tid, "inline", JOB_STATE_DONE, result)

    monkeypatch.setattr(RedisTrials, "send_tasks", send_tasks)


def redis_trials(server, exp_key="exp", **options):
    return RedisTrials(client=fakeredis.FakeRedis(server=server), exp_key=exp_key,
                       url="redis://fake", **options)


def run(trials, max_evals, seed=0, **kw):
    kw.setdefault("show_progressbar", False)
    return fmin(objective, SPACE, algo=tpe.suggest, max_evals=max_evals, trials=trials,
                rstate=np.random.default_rng(seed), **kw)


def test_search_runs_through_redis_and_keeps_hyperopt_documents(monkeypatch, server):
    inline_workers(monkeypatch)
    trials = redis_trials(server)
    best = run(trials, 30, max_queue_len=4)
    assert len(trials) == 30 and sorted(trials.tids) == list(range(30))
    assert all(t["state"] == JOB_STATE_DONE for t in trials.trials)
    assert set(best) == {"x", "k"} and trials.best_trial["result"]["loss"] < 0.5
    doc = trials.trials[0]
    assert {"tid", "spec", "result", "misc", "state", "owner", "book_time", "refresh_time",
            "exp_key", "version"} <= set(doc)
    assert doc["misc"]["idxs"]["x"] == [0]


def test_a_second_run_resumes_without_duplicate_tids(monkeypatch, server):
    inline_workers(monkeypatch)
    run(redis_trials(server), 10)
    again = redis_trials(server)
    run(again, 15, seed=1)
    assert sorted(again.tids) == list(range(15))


def test_experiments_sharing_a_redis_stay_apart(monkeypatch, server):
    inline_workers(monkeypatch)
    a, b = redis_trials(server, "a"), redis_trials(server, "b")
    run(a, 6)
    run(b, 4)
    a.refresh()
    assert len(a) == 6 and len(b) == 4
    assert {t["exp_key"] for t in b.trials} == {"b"}


def test_errored_trials_count_toward_max_evals_and_leave_trials(monkeypatch, server):
    inline_workers(monkeypatch, fail_tids={1, 2})
    trials = redis_trials(server)
    run(trials, 8)
    assert len(trials) == 6  # ERROR trials are not in trials.trials, as in hyperopt
    assert trials.count_by_state_unsynced(JOB_STATE_ERROR) == 2


def test_timeout_stops_and_cancels_what_was_queued(monkeypatch, server):
    sent = []

    def send_tasks(self, tids):  # workers never pick anything up
        sent.extend(tids)
        self.store.mark_sent(tids)

    monkeypatch.setattr(RedisTrials, "send_tasks", send_tasks)
    trials = redis_trials(server)
    assert run(trials, 10, max_queue_len=3, timeout=1.5, return_argmin=False) is None
    assert len(sent) == 3 and trials.count_by_state_unsynced(JOB_STATE_CANCEL) == 3


def test_a_second_driver_on_the_same_experiment_is_refused(server):
    trials = redis_trials(server)
    DriverLock(trials, ttl_s=30).acquire()
    with pytest.raises(DriverBusy, match="another exp_key"):
        run(redis_trials(server), 5)


def test_attachments_live_in_their_own_keys_with_a_size_cap(server):
    trials = redis_trials(server, max_attachment_bytes=10)
    trials.attachments["note"] = "hello"
    assert trials.attachments["note"] == b"hello" and list(trials.attachments) == ["note"]
    doc = {"tid": 0}
    trials.trial_attachments(doc)["model"] = b"123"
    assert dict(trials.trial_attachments(doc)) == {"model": b"123"}
    with pytest.raises(HqueueError, match="10-byte cap"):
        trials.attachments["big"] = b"x" * 11


def test_redis_trials_needs_a_url():
    with pytest.raises(HqueueError, match="HQUEUE_URL"):
        RedisTrials()


def test_pickled_redis_trials_keep_url_and_options():
    import pickle

    trials = RedisTrials.__new__(RedisTrials)
    trials.url, trials._exp_key = "redis://localhost:1/0", "e"
    trials.options = {"queue": "gpu", "lease_s": 5.0, "max_retries": 2, "trial_timeout": None,
                      "max_attachment_bytes": 100}
    trials._on_space_change = "new_segment"
    trials.broker_url = "amqp://guest:guest@localhost:5672//"
    state = pickle.loads(pickle.dumps(trials.__getstate__()))
    assert state == {"url": "redis://localhost:1/0", "exp_key": "e", "options": trials.options,
                     "on_space_change": "new_segment",
                     "broker_url": "amqp://guest:guest@localhost:5672//"}


def test_a_damaged_domain_blob_is_stored_anew_by_the_next_run(monkeypatch, server):
    inline_workers(monkeypatch)
    trials = redis_trials(server)
    run(trials, 2)
    digest = trials.client.hget(trials.keys.meta, "domain").decode()
    key = trials.keys.domain(digest)
    trials.client.set(key, trials.client.get(key)[:-10])  # truncated in Redis
    again = redis_trials(server)
    run(again, 4)
    assert len(again) == 4 and all(t["state"] == 2 for t in again.trials)


def test_a_restarted_driver_resends_every_queued_trial(monkeypatch, server):
    inline_workers(monkeypatch)
    trials = redis_trials(server)
    # a previous driver created two trials and died before sending their tasks
    tids = trials.store.new_tids(2)
    docs = trials.new_trial_docs(tids, [None] * 2, [{"status": "new"}] * 2,
                                 [{"tid": t, "cmd": None, "workdir": None,
                                   "idxs": {"x": [t], "k": [t]}, "vals": {"x": [0.1], "k": [0]}}
                                  for t in tids])
    trials.store.create(docs)
    run(trials, 4)
    assert all(t["state"] == 2 for t in trials.trials) and len(trials) == 4


def test_a_damaged_trial_document_reads_as_an_error_trial_and_refresh_goes_on(server):
    trials = RedisTrials(client=fakeredis.FakeRedis(server=server), exp_key="damaged")
    from hqueue.fmin import generate_trial

    trials.store.create([generate_trial(0, {"x": 0.5}), generate_trial(1, {"x": -0.5})])
    trials.client.hset(trials.keys.trial(1), "doc", b"\xc1 not msgpack")
    trials.client.incr(trials.keys.seq)
    trials.client.zadd(trials.keys.changes, {"1": int(trials.client.get(trials.keys.seq))})
    trials.refresh()  # does not raise
    by_tid = {t["tid"]: t for t in trials._dynamic_trials}
    assert by_tid[1]["state"] == JOB_STATE_ERROR
    assert "corrupt trial data" in by_tid[1]["result"]["failure"]
    assert by_tid[0]["misc"]["vals"] == {"x": [0.5]}


def _finish_inline(trials, tid, loss):
    trials.store.claim(tid, "w", lease_s=30)
    trials.store.finish(tid, "w", JOB_STATE_DONE, {"loss": loss, "status": STATUS_OK})


def test_refresh_appends_what_changed_and_keeps_the_sampler_history(server):
    from hqueue.fmin import generate_trial

    trials = redis_trials(server, "incremental")
    trials.store.create([generate_trial(t, {"x": 0.1 * t, "k": 0}) for t in range(3)])
    for tid in range(3):
        _finish_inline(trials, tid, float(tid))
    trials.refresh()
    history = trials.history()
    assert len(history.losses) == 3
    trials.store.create([generate_trial(3, {"x": 0.4, "k": 1})])
    _finish_inline(trials, 3, -1.0)
    trials.refresh()
    assert trials.history() is history  # not rebuilt from scratch
    assert len(trials) == 4 and trials.best_trial["tid"] == 3
    assert sorted(history.losses.tolist()) == [-1.0, 0.0, 1.0, 2.0]


def test_a_requeued_error_trial_comes_back_into_trials_after_refresh(server):
    from hqueue.fmin import generate_trial

    trials = redis_trials(server, "requeued")
    trials.store.create([generate_trial(t, {"x": 0.0, "k": 0}) for t in range(2)])
    _finish_inline(trials, 0, 1.0)
    trials.store.claim(1, "w", lease_s=30)
    trials.store.finish(1, "w", JOB_STATE_ERROR, {"status": "fail"}, error=("E", "boom"))
    trials.refresh()
    assert trials.tids == [0]
    assert trials.store.requeue(1)
    trials._refresh_incremental()  # what the driver calls every loop
    assert trials.tids == [0, 1]
    _finish_inline(trials, 1, 0.5)
    trials.refresh()
    assert sorted(trials.history().losses.tolist()) == [0.5, 1.0]


class RecordedBar:
    """A progress bar for ``fmin(show_progressbar=...)`` that keeps its count and total."""

    postfix = None

    def __init__(self, initial, total):
        self.n, self.total = initial, total

    def update(self, k=1):
        self.n += k


def recording_progress(bars):
    """A ``show_progressbar`` callable appending each bar it makes to ``bars``."""
    import contextlib

    @contextlib.contextmanager
    def progress(initial, total):
        bars.append(RecordedBar(initial, total))
        yield bars[-1]

    return progress


def test_the_progress_bar_counts_errored_trials_and_ends_at_max_evals(monkeypatch, server):
    inline_workers(monkeypatch, fail_tids={0, 3})
    bars = []
    trials = redis_trials(server)
    run(trials, 8, show_progressbar=recording_progress(bars))
    assert trials.count_by_state_unsynced(JOB_STATE_ERROR) == 2
    assert (bars[0].n, bars[0].total) == (8, 8)
    assert trials.count_in_states(JOB_STATE_DONE) == 6


def test_the_progress_bar_counts_a_trial_that_finishes_during_the_last_history_read(
        monkeypatch, server):
    """The last trial can land in the pull that the bar's best-loss read makes (history()),
    after the loop counted finished trials: the bar must still reach max_evals."""
    from hqueue import rand

    def send_tasks(self, tids):  # tid 0 finishes at once, the others stay queued
        self.store.mark_sent(tids)
        for tid in tids:
            if tid == 0:
                _finish_inline(self, tid, 1.0)

    original_history = RedisTrials.history

    def history(self, *args, **kwargs):
        for tid in self.store.queued_tids():
            _finish_inline(self, tid, 0.5)
        return original_history(self, *args, **kwargs)

    monkeypatch.setattr(RedisTrials, "send_tasks", send_tasks)
    monkeypatch.setattr(RedisTrials, "history", history)
    bars = []
    trials = redis_trials(server, "last-pull")
    fmin(objective, SPACE, algo=rand.suggest, max_evals=2, trials=trials, max_queue_len=2,
         rstate=np.random.default_rng(0), show_progressbar=recording_progress(bars))
    assert trials.count_in_states(JOB_STATE_DONE) == 2
    assert bars[0].n == 2


def test_a_lease_held_by_a_dead_process_on_this_machine_is_taken_over_at_once(redis_url):
    import os
    import socket
    import subprocess
    import sys

    from hqueue.backends.redis.records import holder_is_dead, pid_namespace

    trials = RedisTrials(redis_url, exp_key="dead-driver")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = f"{socket.gethostname()}:{pid_namespace()}:{int(gone.stdout)}:deadbeef"
    assert holder_is_dead(dead)
    trials.client.set(trials.keys.driver, dead, px=60_000)
    lock = DriverLock(trials, ttl_s=3)
    lock.acquire()  # no DriverBusy, no wait for the 60 s lease
    assert trials.client.get(trials.keys.driver).decode() == lock.token
    assert lock.token.split(":")[2] == str(os.getpid())


def test_a_live_driver_on_this_machine_is_refused_at_once(redis_url):
    trials = RedisTrials(redis_url, exp_key="live-driver")
    DriverLock(trials, ttl_s=60).acquire()
    with pytest.raises(DriverBusy, match="alive"):
        DriverLock(trials, ttl_s=60).acquire()


def test_a_lease_held_on_another_machine_is_awaited_until_it_lapses(redis_url, caplog):
    trials = RedisTrials(redis_url, exp_key="remote-driver")
    trials.client.set(trials.keys.driver, "otherhost:1:123:cafe", px=700)
    lock = DriverLock(trials, ttl_s=1)
    with caplog.at_level("WARNING"):
        lock.acquire()
    assert "on another machine: waiting up to 1 s" in caplog.text
    assert trials.client.get(trials.keys.driver).decode() == lock.token


def test_a_lease_kept_alive_on_another_machine_is_refused_after_the_wait(redis_url):
    import threading

    trials = RedisTrials(redis_url, exp_key="remote-alive")
    key = trials.keys.driver
    trials.client.set(key, "otherhost:1:123:cafe", px=500)
    stop = threading.Event()

    def renew():  # the other driver keeps its lease
        while not stop.is_set():
            trials.client.set(key, "otherhost:1:123:cafe", px=500)
            stop.wait(0.1)

    keeper = threading.Thread(target=renew, daemon=True)
    keeper.start()
    try:
        with pytest.raises(DriverBusy, match="alive"):
            DriverLock(trials, ttl_s=0.5).acquire()
    finally:
        stop.set()
        keeper.join()


def test_a_resumed_search_shows_its_best_loss_before_anything_new_finishes(monkeypatch, server):
    inline_workers(monkeypatch)
    trials = redis_trials(server, "resumed-bar")
    run(trials, 4)
    best = min(trials.losses())
    bars = []
    run(redis_trials(server, "resumed-bar"), 4, show_progressbar=recording_progress(bars))
    assert bars[0].n == 4 and bars[0].postfix == f"best loss: {best:.6g}"
