"""Every exit path of a trial ends in DONE, ERROR with the true reason, or a requeue with the
attempt counted; side effects of a trial happen once however often it is retried; what a
trial changes in its process is put back. Runner-level (no Celery), on fakeredis and a real
redis-server."""

from __future__ import annotations

import os
import subprocess
import sys
import time

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
from hqueue.backends.redis.store import TrialStore
from hqueue.states import JOB_STATE_DONE, JOB_STATE_ERROR, JOB_STATE_NEW, JOB_STATE_RUNNING
from hqueue.worker import runner
from hqueue.worker.experiment import LRUCache, load_domain, read_options
from hqueue.worker.runner import run_trial

_fresh_process_state = fresh_runner_state(SECRET)
store = store_fixture("wexp")


def self_referencing(cfg):
    result = {"loss": 1.0, "status": STATUS_OK}
    result["me"] = result
    return result


def nested_deep(cfg):
    result = {"loss": 1.0, "status": STATUS_OK}
    inner = result
    for _ in range(600):
        inner["next"] = {}
        inner = inner["next"]
    return result


def huge(cfg):
    return {"loss": 1.0, "status": STATUS_OK, "blob": b"x" * 4096}


class StrRaises(Exception):
    def __str__(self):
        raise RuntimeError("__str__ exploded")


def exploding_str(cfg):
    raise StrRaises()


@pytest.mark.parametrize("objective, reason", [
    (self_referencing, "contains itself or is nested too deeply"),
    (nested_deep, "the result cannot be encoded"),
    (huge, "over max_result_bytes (1024)"),
])
def test_a_result_that_cannot_be_stored_is_error_with_that_reason_on_the_first_attempt(
        store, objective, reason):
    publish_domain(store, Domain(objective, SPACE), max_result_bytes=1024)
    tid = add_trial(store)
    assert run_trial(store, tid, owner="w1") == "error"
    doc = store.get(tid)
    assert doc["state"] == JOB_STATE_ERROR and doc["misc"]["attempts"] == 1
    kind, message = doc["misc"]["error"]
    assert "ResultNotStorable" in kind and reason in message
    assert store.queued_tids() == [] and store.running_tids() == []


def test_an_exception_whose_str_raises_is_error_with_a_fallback_message(store):
    publish_domain(store, Domain(exploding_str, SPACE))
    tid = add_trial(store)
    assert run_trial(store, tid, owner="w1") == "error"
    doc = store.get(tid)
    assert doc["state"] == JOB_STATE_ERROR and doc["misc"]["attempts"] == 1
    assert doc["misc"]["error"] == (str(StrRaises), "<StrRaises: its __str__ raised "
                                    "RuntimeError>")


def test_a_runner_failure_requeues_with_the_attempt_counted_then_errors_at_the_cap(
        store, monkeypatch):
    publish_domain(store, Domain(lambda cfg: {"loss": 0.0, "status": STATUS_OK}, SPACE),
                   max_retries=2)
    tid = add_trial(store)

    def broken(run):
        raise RuntimeError("a bug in the runner")

    monkeypatch.setattr(runner, "conclude", broken)
    monkeypatch.setattr(store, "finish", lambda *a, **k: (_ for _ in ()).throw(
        ConnectionError("redis went away")))
    assert run_trial(store, tid, owner="w1") == "requeued"
    doc = store.get(tid)
    assert doc["state"] == JOB_STATE_NEW and doc["misc"]["attempts"] == 1
    assert run_trial(store, tid, owner="w2") == "error"
    doc = store.get(tid)
    assert doc["state"] == JOB_STATE_ERROR and doc["misc"]["attempts"] == 2
    assert "LeaseExpired" in doc["misc"]["error"][0]


def _inject_and_enqueue(cfg, ctrl):
    ctrl.inject_results([None], [{"loss": 0.5, "status": STATUS_OK}],
                        [{"idxs": {}, "vals": {}, "note": "injected"}])
    ctrl.enqueue([{"x": 0.2}, {"x": 0.3}])
    if ctrl.current_trial["misc"]["attempts"] == 1:  # the worker is lost after its effects
        far = int(time.time() * 1000) + 10**8
        assert ctrl.store.expire_leases(max_attempts=3, now_ms=far)[0] == [ctrl.tid]
    return {"loss": 0.0, "status": STATUS_OK}


def test_inject_results_and_enqueue_happen_once_when_the_trial_is_retried(store):
    publish_domain(store, with_ctrl(_inject_and_enqueue))
    tid = add_trial(store)
    assert run_trial(store, tid, owner="w1") == "lost"
    assert run_trial(store, tid, owner="w2") == "done"
    docs = store.get_many(range(10))
    assert [d["tid"] for d in docs] == [0, 1, 2, 3]
    children = [d for d in docs if d["misc"].get("from_tid") == tid]
    assert sorted((d["state"], d["misc"]["vals"].get("x", [None])[0]) for d in children
                  if d["state"] == JOB_STATE_NEW) == [(JOB_STATE_NEW, 0.2), (JOB_STATE_NEW, 0.3)]
    assert [d["misc"]["note"] for d in children if d["state"] == JOB_STATE_DONE] == ["injected"]
    assert store.get(tid)["misc"]["attempts"] == 2


def _leaves_state_behind(cfg):
    import sys

    sys.setrecursionlimit(sys.getrecursionlimit() + 5000)
    os.environ["HQ_TEST_LEAK"] = "1"
    os.chdir("/")
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    return {"loss": 0.0, "status": STATUS_OK}


def test_recursion_limit_environment_cwd_and_children_are_restored_after_a_trial(store):
    import psutil

    publish_domain(store, Domain(_leaves_state_behind, SPACE))
    tid = add_trial(store)
    limit, cwd, before = sys.getrecursionlimit(), os.getcwd(), set(os.environ)
    children = {p.pid for p in psutil.Process().children()}  # the session's redis-server
    assert run_trial(store, tid, owner="w1") == "done"
    assert sys.getrecursionlimit() == limit and os.getcwd() == cwd
    assert set(os.environ) == before
    assert {p.pid for p in psutil.Process().children()} == children  # killed and reaped


def test_the_domain_cache_keeps_only_the_most_recently_used():
    cache = LRUCache(2)
    for key in ("a", "b", "a", "c"):  # "a" was used after "b": "b" goes, not "a"
        cache.get(key, lambda k=key: k.upper())
    assert cache.keys() == ["a", "c"]
    cache.get("d", lambda: "D")
    assert cache.keys() == ["c", "d"] and cache.get("c", lambda: "rebuilt") == "C"


def test_a_worker_keeps_at_most_max_domains_loaded(store, monkeypatch):
    monkeypatch.setattr("hqueue.worker.experiment.MAX_DOMAINS", 2)
    stores = [TrialStore(store.client, f"exp{i}") for i in range(4)]
    for s in stores:
        digest = publish_domain(s, Domain(lambda cfg: {"loss": 0.0, "status": "ok"}, SPACE))
        load_domain(s, digest)
    from hqueue.cache import process_cache

    assert len(process_cache("hqueue.worker.domains", dict).keys()) == 2


# -- damaged keys, read by the worker and the store ------------------------------------------
def test_a_trial_doc_whose_tid_is_not_its_keys_is_error_and_not_run(store):
    calls = []
    publish_domain(store, Domain(lambda cfg: calls.append(1) or {"loss": 0, "status": "ok"},
                                 SPACE))
    tid = add_trial(store)
    store.client.hset(store.keys.trial(tid), "doc",
                      store.client.hget(store.keys.trial(add_trial(store)), "doc"))
    assert run_trial(store, tid, owner="w1") == "error"
    assert calls == [] and "is not its key's" in store.get_many([tid], True)[0]["misc"][
        "error"][1]


def test_a_wrong_typed_meta_errors_the_experiments_trials_naming_the_key(store):
    tid = add_trial(store)
    store.client.set(store.keys.meta, "garbage")
    with pytest.raises(Exception, match="meta"):
        read_options(store)
    assert run_trial(store, tid, owner="w1") == "error"
    assert store.keys.meta in store.get(tid)["misc"]["error"][1]


@pytest.mark.parametrize("key, kind", [("events", "set"), ("running", "string"),
                                       ("seq", "hash"), ("changes", "string")])
def test_a_wrong_typed_experiment_key_fails_finish_naming_it_before_any_write(
        store, key, kind):
    from hqueue.backends.redis.damaged import DamagedKey

    tid = add_trial(store)
    claim = store.claim(tid, "w1", 30)
    assert claim is not None
    name = getattr(store.keys, key)
    store.client.delete(name)
    {"set": lambda: store.client.sadd(name, "x"), "string": lambda: store.client.set(name, "x"),
     "hash": lambda: store.client.hset(name, "x", "1")}[kind]()
    with pytest.raises(DamagedKey, match=f"Redis key {name.replace('{', '.').replace('}', '.')}"):
        store.finish(tid, "w1", JOB_STATE_DONE, {"loss": 0.0, "status": "ok"})
    assert int(store.client.hget(store.keys.trial(tid), "state")) == JOB_STATE_RUNNING


def test_a_trial_key_that_is_not_a_hash_does_not_break_reading_the_others(store):
    tids = [add_trial(store) for _ in range(3)]
    store.client.delete(store.keys.trial(tids[1]))
    store.client.set(store.keys.trial(tids[1]), "not a hash")
    docs = store.get_many(tids, unreadable_as_error=True)
    assert [(d["tid"], d["state"]) for d in docs] == \
        [(0, JOB_STATE_NEW), (1, JOB_STATE_ERROR), (2, JOB_STATE_NEW)]
    assert store.keys.trial(tids[1]) in docs[1]["result"]["failure"]


def test_a_running_trial_with_a_damaged_attempts_field_becomes_error_naming_its_key(store):
    tid = add_trial(store)
    store.claim(tid, "w1", 30)
    store.client.hset(store.keys.trial(tid), "attempts", "many")
    store.client.zadd(store.keys.running, {str(tid): 0})
    assert store.expire_leases(max_attempts=3) == ([], [tid])
    doc = store.get(tid)
    assert doc["state"] == JOB_STATE_ERROR and store.keys.trial(tid) in doc["misc"]["error"][1]


def test_a_running_trial_with_an_unknown_state_becomes_error_and_reads_as_error(store):
    tid = add_trial(store)
    store.claim(tid, "w1", 30)
    store.client.hset(store.keys.trial(tid), "state", "7")
    assert store.get_many([tid], unreadable_as_error=True)[0]["state"] == JOB_STATE_ERROR
    store.client.zadd(store.keys.running, {str(tid): 0})
    assert store.expire_leases(max_attempts=3) == ([], [tid])
    assert store.get(tid)["state"] == JOB_STATE_ERROR


def test_a_running_trial_missing_from_the_running_set_is_adopted_and_reaped(store):
    tid = add_trial(store)
    store.claim(tid, "w1", 30)
    store.client.zrem(store.keys.running, str(tid))
    assert store.expire_leases(max_attempts=3) == ([], [])
    assert store.adopt_orphans([tid, 99], lease_s=0) == [tid]
    assert store.expire_leases(max_attempts=3) == ([tid], [])
    assert store.get(tid)["state"] == JOB_STATE_NEW


def test_a_running_trial_whose_key_is_not_a_hash_leaves_the_running_set_and_the_others_are_reaped(
        store):
    tids = [add_trial(store) for _ in range(2)]
    for tid in tids:
        assert store.claim(tid, "w1", 30) is not None
    store.client.delete(store.keys.trial(tids[0]))
    store.client.set(store.keys.trial(tids[0]), "not a hash")
    store.client.zadd(store.keys.running, {str(t): 0 for t in tids})  # both leases expired
    assert store.expire_leases(max_attempts=3) == ([tids[1]], [])
    assert store.running_tids() == []
    assert store.get(tids[1])["state"] == JOB_STATE_NEW
