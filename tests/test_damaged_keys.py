"""One damaged key per key of the schema (hqueue/backends/redis/keys.py): a key of the wrong
type costs at most its trial or its experiment, is reported by its name, and never leaves a
half-applied change. On fakeredis and a real redis-server."""

from __future__ import annotations

import pytest
from runner_fixtures import (
    SECRET,
    SPACE,
    add_trial,
    fresh_runner_state,
    publish_domain,
    store_fixture,
    with_ctrl,
)

from hqueue import STATUS_OK, Domain
from hqueue.backends.redis.attachments import RedisAttachments
from hqueue.backends.redis.damaged import DamagedKey
from hqueue.backends.redis.keys import EXPERIMENTS, WORKERS
from hqueue.backends.redis.overview import ExperimentMirror, SummaryTracker
from hqueue.backends.redis.presence import WorkerRegistry
from hqueue.backends.redis.store import TrialStore
from hqueue.states import JOB_STATE_ERROR, JOB_STATE_NEW, JOB_STATE_RUNNING
from hqueue.worker.runner import run_trial

_fresh_process_state = fresh_runner_state(SECRET)
store = store_fixture("dmg")


def ok(cfg):
    return {"loss": 0.0, "status": STATUS_OK}


def damage(client, key, kind="string"):
    """Replace ``key`` with a value of another type."""
    client.delete(key)
    {"string": lambda: client.set(key, "damaged"),
     "hash": lambda: client.hset(key, "damaged", "1"),
     "list": lambda: client.rpush(key, "damaged"),
     "set": lambda: client.sadd(key, "damaged")}[kind]()


def named(key):
    return pytest.raises(DamagedKey, match=f"Redis key {key.replace('{', '.').replace('}', '.')}")


def error_of(store, tid):
    doc = store.get(tid)
    assert doc["state"] == JOB_STATE_ERROR
    return doc["misc"]["error"][1]


# -- what readers show: one damaged experiment, the others as usual ------------------------------
@pytest.mark.parametrize("attr, kind", [("changes", "string"), ("seq", "hash"),
                                        ("seq", "no integer"), ("queued", "string"),
                                        ("driver", "hash"), ("meta", "string")])
def test_one_experiments_damaged_key_is_shown_by_name_and_the_other_experiments_read(
        store, attr, kind):
    from hqueue.commands.status import StatusView
    from hqueue.dashboard.model import Dashboard
    from hqueue.fmin import generate_trial

    other = TrialStore(store.client, "healthy")
    other.create([generate_trial(t, {"x": 0.5}) for t in other.new_tids(2)])
    store.create([generate_trial(t, {"x": 0.5}) for t in store.new_tids(1)])
    board, status = Dashboard(store.client), StatusView(store.client)
    board.experiments(), status.render()  # mirrors that already read the experiment once
    key = getattr(store.keys, attr)
    if kind == "no integer":
        store.client.set(key, "not a number")
    else:
        damage(store.client, key, kind)
    for fresh in (False, True):  # and readers that meet the damaged key first
        if fresh:
            board, status = Dashboard(store.client), StatusView(store.client)
        shown = {e["exp_key"]: e for e in board.experiments()["experiments"]}
        assert shown["healthy"]["counts"]["new"] == 2 and shown["healthy"]["damaged"] == []
        assert shown[store.exp_key]["damaged"] == [key]
        assert board.experiment(store.exp_key)["summary"]["damaged"] == [key]
        assert board.experiment("healthy")["summary"]["damaged"] == []
        board.trials(store.exp_key)
        assert board.trials("healthy")["total"] == 2
        text = status.render()
        assert f"{store.exp_key}: damaged Redis key(s) {key} " in text
        assert "healthy" in text and "healthy: damaged" not in text
    store.client.delete(key)  # repaired: no longer listed
    assert {e["exp_key"]: e["damaged"] for e in board.experiments()["experiments"]} == {
        store.exp_key: [], "healthy": []}


def test_the_dashboard_api_lists_the_damaged_key_of_one_experiment(redis_url, request):
    pytest.importorskip("flask")
    import redis

    from hqueue.fmin import generate_trial

    client = redis.Redis.from_url(redis_url)
    broken, healthy = TrialStore(client, "api-broken"), TrialStore(client, "api-healthy")
    for s in (broken, healthy):
        s.create([generate_trial(t, {"x": 0.5}) for t in s.new_tids(1)])
    damage(client, broken.keys.changes)
    web = request.getfixturevalue("web")  # after the skip: the fixture needs flask
    answer = web.get("/api/experiments")
    assert answer.status_code == 200
    shown = {e["exp_key"]: e for e in answer.get_json()["experiments"]}
    assert shown["api-broken"]["damaged"] == [broken.keys.changes]
    assert shown["api-healthy"]["counts"]["new"] == 1
    assert web.get("/api/experiments/api-broken").status_code == 200
    client.close()


# -- the experiment's keys, one test each --------------------------------------------------------
def test_meta(store):
    other = TrialStore(store.client, "healthy")
    publish_domain(other, Domain(ok, SPACE))
    tid = add_trial(store)
    damage(store.client, store.keys.meta)
    assert run_trial(store, tid, owner="w1") == "error"
    assert store.keys.meta in error_of(store, tid)
    for exp in (store.exp_key, other.exp_key):  # every experiment's overview still reads
        mirror = ExperimentMirror(store.client, exp)
        mirror.refresh()
        assert SummaryTracker(mirror).summary([]).exp_key == exp
        assert mirror.queue == "hqueue"


def test_domain_blob(store):
    digest = publish_domain(store, Domain(ok, SPACE))
    tid = add_trial(store)
    damage(store.client, store.keys.domain(digest), "hash")
    assert run_trial(store, tid, owner="w1") == "error"
    assert store.keys.domain(digest) in error_of(store, tid)


def test_tid_counter(store):
    damage(store.client, store.keys.tid, "hash")
    with named(store.keys.tid):
        store.new_tids(1)


def test_trial_hash(store):
    publish_domain(store, Domain(ok, SPACE))
    tids = [add_trial(store) for _ in range(2)]
    damage(store.client, store.keys.trial(tids[0]))
    assert run_trial(store, tids[0], owner="w1") == "dropped"
    assert run_trial(store, tids[1], owner="w1") == "done"
    docs = store.get_many(tids, unreadable_as_error=True)
    assert [d["state"] for d in docs] == [JOB_STATE_ERROR, 2]


@pytest.mark.parametrize("attr", ["tids", "queued", "changes", "seq"])
def test_keys_create_writes(store, attr):
    key = getattr(store.keys, attr)
    damage(store.client, key, "hash" if attr == "seq" else "string")
    [tid] = store.new_tids(1)
    from hqueue.fmin import generate_trial

    with named(key):
        store.create([generate_trial(tid, {"x": 0.5})])
    assert not store.client.exists(store.keys.trial(tid))  # nothing half-written


@pytest.mark.parametrize("attr, kind", [("running", "string"), ("seq", "hash"),
                                        ("events", "set"), ("changes", "string")])
def test_keys_finish_writes(store, attr, kind):
    tid = add_trial(store)
    assert store.claim(tid, "w1", 30) is not None
    key = getattr(store.keys, attr)
    damage(store.client, key, kind)
    with named(key):
        store.finish(tid, "w1", 2, {"loss": 0.0, "status": "ok"})
    assert int(store.client.hget(store.keys.trial(tid), "state")) == JOB_STATE_RUNNING


def test_finish_refused_by_a_damaged_running_set_adds_no_event(store):
    """finish's earlier writes (the event) are undone when a later write meets a damaged
    key."""
    tid = add_trial(store)
    assert store.claim(tid, "w1", 30) is not None
    damage(store.client, store.keys.running)
    with named(store.keys.running):
        store.finish(tid, "w1", 2, {"loss": 0.0, "status": "ok"})
    assert store.client.xlen(store.keys.events) == 0
    assert int(store.client.hget(store.keys.trial(tid), "state")) == JOB_STATE_RUNNING


def test_claim_refused_by_a_damaged_queued_set_leaves_no_lease_behind(store):
    tid = add_trial(store)
    damage(store.client, store.keys.queued)
    with named(store.keys.queued):
        store.claim(tid, "w1", 30)
    assert store.client.zscore(store.keys.running, tid) is None
    store.client.delete(store.keys.queued)  # repaired: the trial is still NEW and claimable
    assert store.claim(tid, "w1", 30).attempts == 1


def test_running_set_for_the_reaper(store):
    damage(store.client, store.keys.running)
    with named(store.keys.running):
        store.expire_leases(3)


def test_queued_set_for_a_claim(store):
    tid = add_trial(store)
    damage(store.client, store.keys.queued)
    with named(store.keys.queued):
        store.claim(tid, "w1", 30)
    assert int(store.client.hget(store.keys.trial(tid), "state")) == JOB_STATE_NEW


def test_changes_for_readers(store):
    damage(store.client, store.keys.changes)
    with named(store.keys.changes):
        store.changes_since(0)


def test_seq_counter_holding_no_integer(store):
    tid = add_trial(store)
    store.client.set(store.keys.seq, "not a number")
    with named(store.keys.seq):
        store.claim(tid, "w1", 30)
    with named(store.keys.seq):
        store.current_seq()


def test_running_set_for_a_heartbeat(store):
    tid = add_trial(store)
    store.claim(tid, "w1", 30)
    damage(store.client, store.keys.running)
    with named(store.keys.running):
        store.heartbeat(tid, "w1", 30)


def _enqueues(cfg, ctrl):
    ctrl.enqueue([{"x": 0.1}])
    return {"loss": 0.0, "status": STATUS_OK}


def test_trial_effects(store):
    publish_domain(store, with_ctrl(_enqueues))
    tid = add_trial(store)
    damage(store.client, store.keys.trial_effects(tid))
    assert run_trial(store, tid, owner="w1") == "error"
    assert store.keys.trial_effects(tid) in error_of(store, tid)


@pytest.mark.parametrize("which", ["trial", "experiment"])
def test_attachment(store, which):
    key_for = (lambda n: store.keys.trial_attachment(0, n)) if which == "trial" else \
        store.keys.experiment_attachment
    attachments = RedisAttachments(store.client, key_for, which, max_bytes=1024)
    damage(store.client, key_for("log"), "list")
    with named(key_for("log")):
        attachments["log"]
    attachments["log"] = b"written again"  # a write replaces the damaged value
    assert attachments["log"] == b"written again"


def test_attachment_chunk(store):
    attachments = RedisAttachments(store.client, store.keys.experiment_attachment, "exp",
                                   max_bytes=1024, chunk_bytes=4)
    attachments["big"] = b"0123456789"
    version = store.client.hget(store.keys.experiment_attachment("big"), "version").decode()
    chunk = attachments._chunk_keys(store.keys.experiment_attachment("big"), version, 3)[1]
    damage(store.client, chunk, "hash")
    with named(store.keys.experiment_attachment("big")):
        attachments["big"]


def test_attachments_index_is_not_read(store):
    publish_domain(store, Domain(ok, SPACE))
    tid = add_trial(store)
    damage(store.client, store.keys.attachments)
    assert run_trial(store, tid, owner="w1") == "done"


def test_driver_lease(store):
    from hqueue.backends.redis.driver import DriverLock

    class Trials:
        client, keys = store.client, store.keys

    damage(store.client, store.keys.driver, "hash")
    lock = DriverLock(Trials, ttl_s=5)
    with named(store.keys.driver):
        lock.acquire()
    with named(store.keys.driver):
        lock.renew()


# -- the global keys ------------------------------------------------------------------------------
def test_experiments_set(store):
    damage(store.client, EXPERIMENTS)
    [tid] = store.new_tids(1)
    from hqueue.fmin import generate_trial

    with named(EXPERIMENTS):
        store.create([generate_trial(tid, {"x": 0.5})])


def test_workers_hash(store):
    damage(store.client, WORKERS)
    assert WorkerRegistry(store.client).list() == []  # the dashboard still reads
