"""The Redis trial store: every state change, on fakeredis and on a real redis-server (the Lua
scripts must behave the same on both)."""

from __future__ import annotations

import time

import fakeredis
import pytest
import redis

from hqueue.backends.redis.keys import ExperimentKeys
from hqueue.backends.redis.store import TrialStore
from hqueue.states import (
    JOB_STATE_CANCEL,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
)


@pytest.fixture(params=["fakeredis", "real"])
def client(request):
    if request.param == "fakeredis":
        return fakeredis.FakeRedis()
    url = request.getfixturevalue("redis_url")
    return redis.Redis.from_url(url)


def new_doc(tid, exp_key="e1", x=0.5):
    return {"tid": tid, "spec": None, "result": {"status": "new"}, "state": JOB_STATE_NEW,
            "misc": {"tid": tid, "cmd": ["domain_attachment", "FMinIter_Domain"],
                     "workdir": None, "idxs": {"x": [tid]}, "vals": {"x": [x]}},
            "exp_key": exp_key, "owner": None, "version": 0, "book_time": None,
            "refresh_time": None}


@pytest.fixture
def store(client):
    return TrialStore(client, "e1")


def created(store, n=1):
    tids = store.new_tids(n)
    assert store.create([new_doc(t) for t in tids]) == tids
    return tids


def test_keys_share_the_experiment_hash_tag():
    keys = ExperimentKeys("exp1")
    for key in (keys.meta, keys.tid, keys.running, keys.changes, keys.trial(7),
                keys.domain("abc"), keys.trial_attachment(3, "model")):
        assert key.startswith("hq:{exp1}:")
    assert ExperimentKeys(None).exp_key == "default"
    with pytest.raises(ValueError):
        ExperimentKeys("bad{key}")


def test_tids_come_from_an_atomic_counter(store):
    assert store.new_tids(3) == [0, 1, 2]
    assert store.new_tids(2) == [3, 4]


def test_created_trial_reads_back_in_hyperopt_schema(store):
    [tid] = created(store)
    doc = store.get(tid)
    assert doc["state"] == JOB_STATE_NEW and doc["owner"] is None
    assert doc["misc"]["vals"] == {"x": [0.5]} and doc["result"] == {"status": "new"}
    assert store.queued_tids() == [tid]


def test_an_existing_tid_is_never_overwritten(store):
    [tid] = created(store)
    assert store.create([new_doc(tid, x=0.9)]) == []
    assert store.get(tid)["misc"]["vals"]["x"] == [0.5]


def test_a_trial_is_claimed_once(store):
    [tid] = created(store)
    claim = store.claim(tid, "w1", lease_s=30)
    assert claim is not None and claim.attempts == 1
    assert claim.doc["state"] == JOB_STATE_RUNNING and claim.doc["owner"] == "w1"
    assert store.claim(tid, "w2", lease_s=30) is None
    assert store.claim(999, "w2", lease_s=30) is None
    assert store.running_tids() == [tid] and store.queued_tids() == []


def test_only_the_owner_finishes_and_only_once(store):
    [tid] = created(store)
    store.claim(tid, "w1", 30)
    assert not store.finish(tid, "w2", JOB_STATE_DONE, {"status": "ok", "loss": 9.0})
    assert store.finish(tid, "w1", JOB_STATE_DONE, {"status": "ok", "loss": 1.0})
    assert not store.finish(tid, "w1", JOB_STATE_DONE, {"status": "ok", "loss": 2.0})
    doc = store.get(tid)
    assert doc["state"] == JOB_STATE_DONE and doc["result"]["loss"] == 1.0
    assert store.running_tids() == []


def test_heartbeat_renews_until_the_lease_is_lost(store):
    [tid] = created(store)
    store.claim(tid, "w1", 30)
    assert store.heartbeat(tid, "w1", 30).alive
    assert not store.heartbeat(tid, "w2", 30).alive
    store.finish(tid, "w1", JOB_STATE_DONE, {"status": "ok", "loss": 0.0})
    assert not store.heartbeat(tid, "w1", 30).alive


def test_expired_lease_requeues_then_errors_at_the_retry_cap(store):
    [tid] = created(store)
    for attempt in (1, 2):
        store.claim(tid, f"w{attempt}", lease_s=0.001)
        time.sleep(0.01)
        requeued, errored = store.expire_leases(max_attempts=2)
        if attempt == 1:
            assert (requeued, errored) == ([tid], [])
            assert store.get(tid)["state"] == JOB_STATE_NEW
        else:
            assert (requeued, errored) == ([], [tid])
    doc = store.get(tid)
    assert doc["state"] == JOB_STATE_ERROR and doc["misc"]["attempts"] == 2
    assert "lost its worker 2 times" in doc["misc"]["error"][1]


def test_a_trial_errored_at_the_retry_cap_keeps_its_checkpoint_marked_failed(store):
    [tid] = created(store)
    store.claim(tid, "w1", lease_s=0.001)
    store.checkpoint(tid, "w1", {"status": "ok", "loss": 0.7, "epoch": 3})
    time.sleep(0.01)
    assert store.expire_leases(max_attempts=1) == ([], [tid])
    result = store.get(tid)["result"]
    assert result["status"] == "fail" and "lost its worker 1 times" in result["failure"]
    assert (result["loss"], result["epoch"]) == (0.7, 3)


def test_a_late_result_after_requeue_is_dropped(store):
    [tid] = created(store)
    store.claim(tid, "stale", lease_s=0.001)
    time.sleep(0.01)
    store.expire_leases(max_attempts=3)
    store.claim(tid, "fresh", lease_s=30)
    assert not store.finish(tid, "stale", JOB_STATE_DONE, {"status": "ok", "loss": 5.0})
    assert store.finish(tid, "fresh", JOB_STATE_DONE, {"status": "ok", "loss": 1.0})
    assert store.get(tid)["result"]["loss"] == 1.0


def test_live_leases_are_not_expired(store):
    [tid] = created(store)
    store.claim(tid, "w1", lease_s=30)
    assert store.expire_leases(max_attempts=1) == ([], [])


def test_release_hands_the_trial_back_without_using_an_attempt(store):
    [tid] = created(store)
    store.claim(tid, "w1", 30)
    assert store.release(tid, "w1")
    doc = store.get(tid)
    assert doc["state"] == JOB_STATE_NEW and doc["misc"]["attempts"] == 0
    assert store.queued_tids() == [tid]
    assert not store.release(tid, "w1")


def test_cancel_stops_queued_trials_and_flags_running_ones(store):
    queued, running = created(store, 2)
    store.claim(running, "w1", 30)
    assert store.cancel(queued) == "cancelled"
    assert store.get(queued)["state"] == JOB_STATE_CANCEL
    assert store.claim(queued, "w2", 30) is None
    assert store.cancel(running) == "stopping"
    assert store.heartbeat(running, "w1", 30).cancel_requested
    store.finish(running, "w1", JOB_STATE_CANCEL, {"status": "fail"})
    assert store.cancel(running) == "finished"


def test_a_requeued_trial_that_was_asked_to_stop_runs_again_unstopped(store):
    [tid] = created(store)
    store.claim(tid, "w1", 30)
    assert store.cancel(tid) == "stopping"
    store.finish(tid, "w1", JOB_STATE_CANCEL, {"status": "fail"})
    assert store.requeue(tid, states=(JOB_STATE_CANCEL,))
    store.claim(tid, "w2", 30)
    assert not store.heartbeat(tid, "w2", 30).cancel_requested


def test_checkpoint_publishes_partial_results_of_the_owner_only(store):
    [tid] = created(store)
    store.claim(tid, "w1", 30)
    assert store.checkpoint(tid, "w1", {"status": "running", "loss": 0.7})
    assert not store.checkpoint(tid, "w2", {"status": "running", "loss": 0.1})
    assert store.get(tid)["result"]["loss"] == 0.7


def test_changes_since_returns_only_what_changed(store):
    tids = created(store, 5)
    seq, docs = store.changes_since(0)
    assert sorted(d["tid"] for d in docs) == tids
    store.claim(tids[2], "w1", 30)
    seq2, docs = store.changes_since(seq)
    assert [d["tid"] for d in docs] == [tids[2]] and seq2 > seq
    assert store.changes_since(seq2) == (seq2, [])


def test_finished_trials_are_announced_on_the_events_stream(store, client):
    [tid] = created(store)
    store.claim(tid, "w1", 30)
    store.finish(tid, "w1", JOB_STATE_DONE, {"status": "ok", "loss": 0.0})
    events = client.xrange(store.keys.events)
    assert len(events) == 1 and events[0][1][b"tid"] == str(tid).encode()


def test_experiments_do_not_see_each_other(client):
    a, b = TrialStore(client, "a"), TrialStore(client, "b")
    a.create([new_doc(t, "a") for t in a.new_tids(2)])
    assert b.new_tids(1) == [0] and b.get(1) is None
    assert b.changes_since(0) == (0, [])
