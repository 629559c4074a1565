"""The driver's batched writes: trials created in one round trip, and not read back by the
next pull unless they changed since (fakeredis and a real Redis)."""

from __future__ import annotations

import pytest

from hqueue.backends.redis.backend import RedisBackend
from hqueue.backends.redis.records import ExperimentOptions
from hqueue.backends.redis.store import TrialStore
from hqueue.mirror import TrialMirror
from hqueue.states import JOB_STATE_DONE, JOB_STATE_NEW, JOB_STATE_RUNNING
from hqueue.trial_doc import generate_trial


@pytest.fixture
def backend(store_client):
    return RedisBackend(store_client, "e1", ExperimentOptions(), sender=lambda: None)


def docs_for(backend, n):
    return [generate_trial(t, {"x": float(t)}, "e1") for t in backend.new_tids(n)]


class CountingCalls:
    """Wraps a client's pipeline() to count HGETALLs the store sends."""

    def __init__(self, client, monkeypatch):
        self.hgetall = 0
        original = client.pipeline

        def pipeline(*args, **kwargs):
            pipe = original(*args, **kwargs)
            hgetall = pipe.hgetall

            def counted(key):
                self.hgetall += 1
                return hgetall(key)

            pipe.hgetall = counted
            return pipe

        monkeypatch.setattr(client, "pipeline", pipeline)


def test_create_batch_returns_the_documents_a_read_would_return(backend):
    store = backend.store
    created = store.create_batch(docs_for(backend, 3))
    assert [c.tid for c in created] == [0, 1, 2]
    assert [c.seq for c in created] == [1, 2, 3]
    assert [c.doc for c in created] == store.get_many([0, 1, 2])


def test_create_batch_skips_existing_tids(backend):
    docs = docs_for(backend, 2)
    backend.store.create(docs[:1])
    assert [c.tid for c in backend.store.create_batch(docs)] == [1]


def test_trials_created_by_this_backend_are_not_read_back(backend, store_client, monkeypatch):
    mirror = TrialMirror(backend)
    mirror.pull()
    backend.create(docs_for(backend, 4))
    calls = CountingCalls(store_client, monkeypatch)
    mirror.pull()
    assert calls.hgetall == 0
    assert sorted(mirror.docs) == [0, 1, 2, 3]
    assert mirror.count(JOB_STATE_NEW) == 4
    assert mirror.docs[2]["misc"]["vals"] == {"x": [2.0]}


def test_a_trial_changed_after_its_creation_is_read_again(backend, store_client, monkeypatch):
    mirror = TrialMirror(backend)
    backend.create(docs_for(backend, 3))
    other = TrialStore(store_client, "e1")  # a worker
    other.claim(1, owner="w", lease_s=30)
    other.claim(2, owner="w", lease_s=30)
    other.finish(2, "w", JOB_STATE_DONE, {"status": "ok", "loss": 0.5})
    calls = CountingCalls(store_client, monkeypatch)
    mirror.pull()
    assert calls.hgetall == 2
    assert [mirror.docs[t]["state"] for t in (0, 1, 2)] == [
        JOB_STATE_NEW, JOB_STATE_RUNNING, JOB_STATE_DONE]
    assert [d["tid"] for d in mirror.ordered] == [0, 1, 2]


def test_a_reload_reads_every_trial_again(backend, store_client, monkeypatch):
    mirror = TrialMirror(backend)
    backend.create(docs_for(backend, 2))
    mirror.pull()
    backend.create(docs_for(backend, 1))
    calls = CountingCalls(store_client, monkeypatch)
    mirror.reload()
    assert calls.hgetall == 3


def test_create_batch_reloads_scripts_redis_forgot(backend, store_client):
    backend.create(docs_for(backend, 1))
    store_client.script_flush()
    assert backend.create(docs_for(backend, 2)) == [1, 2]
    assert backend.store.get(2)["state"] == JOB_STATE_NEW


def test_a_tid_repeated_in_one_batch_is_created_once_from_its_first_document(backend):
    first, again = generate_trial(0, {"x": 1.0}, "e1"), generate_trial(0, {"x": 2.0}, "e1")
    backend.new_tids(1)
    assert [c.seq for c in backend.store.create_batch([first, again])] == [1]
    assert backend.store.get(0)["misc"]["vals"] == {"x": [1.0]}


def test_the_first_send_of_trials_just_created_records_no_send_time_again(store_client,
                                                                         monkeypatch):
    sent = []
    backend = RedisBackend(store_client, "e1", ExperimentOptions(),
                           sender=lambda: lambda exp, tid, queue: sent.append(tid))
    marks = []
    monkeypatch.setattr(backend.store, "mark_sent", lambda tids: marks.append(list(tids)))
    tids = backend.create(docs_for(backend, 2))
    assert backend.store.queued_tids() == tids  # stamped queued when created
    backend.dispatch(tids)
    assert sent == tids and marks == []
    backend.dispatch(tids[:1])  # a re-send (a lost task) records when
    assert marks == [tids[:1]]
