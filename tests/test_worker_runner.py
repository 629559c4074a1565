"""The worker's trial runner (hqueue.worker.runner) and its ctrl, without Celery: on fakeredis
and on a real redis-server (the store's Lua scripts must behave the same on both)."""

from __future__ import annotations

import hashlib
import logging
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from runner_fixtures import SECRET, SPACE, add_trial, publish_domain, store_fixture, with_ctrl

from hqueue import STATUS_OK, Domain
from hqueue.backends.redis.store import TrialStore
from hqueue.cache import clear_process_cache
from hqueue.security import sign
from hqueue.states import (
    JOB_STATE_CANCEL,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    RunOutcome,
)
from hqueue.worker import runner
from hqueue.worker.experiment import parse_options
from hqueue.worker.runner import accept_trials, release_running, run_trial

GATE = threading.Event()  # objectives that wait for the test block on it


@pytest.fixture(autouse=True)
def _fresh_process_state(monkeypatch):
    monkeypatch.setenv("HQUEUE_SECRET", SECRET.decode())
    clear_process_cache()
    accept_trials()
    GATE.clear()
    yield
    GATE.set()
    accept_trials()


store = store_fixture("wexp")


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def in_background(fn, *args, **kwargs):
    pool = ThreadPoolExecutor(1)
    future = pool.submit(fn, *args, **kwargs)
    pool.shutdown(wait=False)
    return future


def square(cfg):
    return {"loss": (cfg["x"] - 0.25) ** 2, "status": STATUS_OK, "x_seen": cfg["x"]}


def test_a_trial_runs_and_its_result_is_written_once(store):
    publish_domain(store, Domain(square, SPACE))
    tid = add_trial(store, x=0.75)
    assert run_trial(store, tid, owner="w1") == "done"
    doc = store.get(tid)
    assert doc["state"] == JOB_STATE_DONE and doc["owner"] == "w1"
    assert doc["result"] == {"loss": 0.25, "status": "ok", "x_seen": 0.75}
    assert store.running_tids() == [] and store.queued_tids() == []
    assert run_trial(store, tid, owner="w2") == "dropped"  # duplicate delivery
    assert store.get(tid)["owner"] == "w1"


def test_a_cancelled_or_unknown_trial_is_dropped(store):
    publish_domain(store, Domain(square, SPACE))
    tid = add_trial(store)
    assert store.cancel(tid) == "cancelled"
    assert run_trial(store, tid, owner="w1") == "dropped"
    assert run_trial(store, 999, owner="w1") == "dropped"


def fails(cfg):
    raise ValueError(f"boom at x={cfg['x']}")


def test_an_objective_exception_is_an_error_with_its_traceback(store, caplog):
    publish_domain(store, Domain(fails, SPACE))
    tid = add_trial(store, x=0.5)
    with caplog.at_level(logging.ERROR, logger="hqueue.worker.runner"):
        assert run_trial(store, tid, owner="w1") == "error"
    doc = store.get(tid)
    assert doc["state"] == JOB_STATE_ERROR
    assert doc["misc"]["error"] == ("<class 'ValueError'>", "boom at x=0.5")
    assert doc["result"]["status"] == "fail"
    assert "in fails" in doc["result"]["traceback"]
    assert "ValueError: boom at x=0.5" in doc["result"]["traceback"]
    assert "boom at x=0.5" in caplog.text


def returns_none(cfg):
    return None


def test_a_bad_return_value_is_an_error_with_hqueues_message(store):
    publish_domain(store, Domain(returns_none, SPACE))
    tid = add_trial(store)
    assert run_trial(store, tid, owner="w1") == "error"
    kind, message = store.get(tid)["misc"]["error"]
    assert "InvalidObjective" in kind and "the objective returned None" in message


def returns_a_set(cfg):
    return {"loss": 1.0, "status": STATUS_OK, "model": {1, 2}}


def test_a_result_redis_cannot_hold_is_an_error_naming_it(store):
    publish_domain(store, Domain(returns_a_set, SPACE))
    tid = add_trial(store)
    assert run_trial(store, tid, owner="w1") == "error"
    doc = store.get(tid)
    assert doc["state"] == JOB_STATE_ERROR and "['model'] (a set)" in doc["misc"]["error"][1]


def test_without_a_published_domain_the_trial_errors_clearly(store):
    tid = add_trial(store)
    assert run_trial(store, tid, owner="w1") == "error"
    assert "has no published domain" in store.get(tid)["misc"]["error"][1]


def _requeue_me_then_return(cfg, ctrl):
    # what the driver does when this worker's lease looks expired
    requeued, _ = ctrl.store.expire_leases(max_attempts=5, now_ms=int(time.time() * 1000) + 10**8)
    assert requeued == [ctrl.current_trial["tid"]]
    return {"loss": 0.0, "status": STATUS_OK}


def test_a_result_after_the_lease_was_lost_is_discarded(store):
    publish_domain(store, with_ctrl(_requeue_me_then_return))
    tid = add_trial(store)
    assert run_trial(store, tid, owner="w1") == "lost"
    doc = store.get(tid)
    assert doc["state"] == JOB_STATE_NEW and doc["result"] == {"status": "new"}


def _lose_lease_and_wait(cfg, ctrl):
    ctrl.store.expire_leases(max_attempts=5, now_ms=int(time.time() * 1000) + 10**8)
    deadline = time.monotonic() + 5
    while not ctrl.should_stop() and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"loss": 0.0, "status": STATUS_OK, "told_to_stop": ctrl.should_stop()}


def test_the_heartbeat_notices_a_lost_lease_and_stops_the_objective(store):
    publish_domain(store, with_ctrl(_lose_lease_and_wait), lease_s=0.3)
    tid = add_trial(store)
    start = time.monotonic()
    assert run_trial(store, tid, owner="w1") == "lost"
    assert time.monotonic() - start < 2
    assert store.get(tid)["state"] == JOB_STATE_NEW


def _outlive_the_lease(cfg, ctrl):
    time.sleep(0.8)  # more than two leases: only heartbeats keep it
    requeued, _ = ctrl.store.expire_leases(max_attempts=5)
    return {"loss": float(len(requeued)), "status": STATUS_OK}


def test_heartbeats_keep_a_long_trial_leased(store):
    publish_domain(store, with_ctrl(_outlive_the_lease), lease_s=0.3)
    tid = add_trial(store)
    assert run_trial(store, tid, owner="w1") == "done"
    assert store.get(tid)["result"]["loss"] == 0.0


def _until_stopped(cfg, ctrl):
    epoch = 0
    while not ctrl.should_stop():
        epoch += 1
        ctrl.report(1.0 / epoch, step=epoch)
        GATE.wait(0.02)
        assert epoch < 1000, "never told to stop"
    return {"loss": 0.5, "status": STATUS_OK, "epochs": epoch}


def test_a_cancelled_running_trial_stops_and_is_cancel(store):
    publish_domain(store, with_ctrl(_until_stopped), lease_s=0.3)
    tid = add_trial(store)
    future = in_background(run_trial, store, tid, owner="w1")
    wait_until(lambda: store.get(tid)["state"] == JOB_STATE_RUNNING)
    assert store.cancel(tid) == "stopping"
    assert future.result(timeout=10) == "cancelled"
    doc = store.get(tid)
    assert doc["state"] == JOB_STATE_CANCEL and doc["result"]["epochs"] >= 1


def _checkpoint_and_wait(cfg, ctrl):
    ctrl.checkpoint({"status": "running", "loss": 0.7, "epoch": 1})
    ctrl.report(0.6)
    assert GATE.wait(10), "the test never saw the checkpoint"
    return {"loss": 0.5, "status": STATUS_OK}


def test_checkpoints_are_visible_to_another_client_while_running(store):
    publish_domain(store, with_ctrl(_checkpoint_and_wait))
    tid = add_trial(store)
    future = in_background(run_trial, store, tid, owner="w1")
    observer = TrialStore(store.client, store.exp_key)
    wait_until(lambda: "intermediate" in observer.get(tid)["result"])
    doc = observer.get(tid)
    assert doc["state"] == JOB_STATE_RUNNING
    assert doc["result"]["epoch"] == 1
    assert doc["result"]["intermediate"] == [{"step": 0, "value": 0.6}]
    GATE.set()
    assert future.result(timeout=10) == "done"
    assert observer.get(tid)["result"] == {"loss": 0.5, "status": "ok"}


def _attach(cfg, ctrl):
    ctrl.attachments["weights"] = b"\x00\x01" * 10
    ctrl.attachments["log"] = "epoch 1 ok"
    assert sorted(ctrl.attachments) == ["log", "weights"] and "log" in ctrl.attachments
    return {"loss": 0.0, "status": STATUS_OK, "attachments": {"extra": b"x"}}


def test_attachments_live_in_their_own_keys(store):
    publish_domain(store, with_ctrl(_attach))
    tid = add_trial(store)
    assert run_trial(store, tid, owner="w1") == "done"
    keys = store.keys
    assert store.client.get(keys.trial_attachment(tid, "weights")) == b"\x00\x01" * 10
    assert store.client.get(keys.trial_attachment(tid, "log")) == b"epoch 1 ok"
    assert store.client.get(keys.trial_attachment(tid, "extra")) == b"x"
    doc = store.get(tid)
    assert "attachments" not in doc["result"] and b"epoch 1" not in store.client.hget(
        keys.trial(tid), "doc")


def _attach_too_much(cfg, ctrl):
    ctrl.attachments["big"] = b"x" * 2000


def test_an_attachment_over_the_cap_is_refused_clearly(store):
    publish_domain(store, with_ctrl(_attach_too_much), max_attachment_bytes=1024)
    tid = add_trial(store)
    assert run_trial(store, tid, owner="w1") == "error"
    kind, message = store.get(tid)["misc"]["error"]
    assert "AttachmentTooLarge" in kind
    assert "2000 bytes" in message and "1024-byte cap" in message
    assert "max_attachment_bytes" in message
    assert store.client.get(store.keys.trial_attachment(tid, "big")) is None


def _inject_and_enqueue(cfg, ctrl):
    injected = ctrl.inject_results([None], [{"loss": 0.125, "status": STATUS_OK}],
                                   [{"idxs": {}, "vals": {}}])
    queued = ctrl.enqueue([{"x": 0.3}, {"x": -0.3}])
    return {"loss": 1.0, "status": STATUS_OK, "injected": injected, "queued": queued}


def test_inject_results_and_enqueue_create_trials(store):
    publish_domain(store, with_ctrl(_inject_and_enqueue))
    tid = add_trial(store)
    sent = []
    assert run_trial(store, tid, owner="w1",
                     send_task=lambda *args: sent.append(args)) == "done"
    result = store.get(tid)["result"]
    [injected], queued = result["injected"], result["queued"]
    doc = store.get(injected)
    assert doc["state"] == JOB_STATE_DONE and doc["result"]["loss"] == 0.125
    assert doc["misc"]["from_tid"] == tid and doc["misc"]["cmd"] == store.get(tid)["misc"]["cmd"]
    assert doc["exp_key"] == store.exp_key
    assert len(queued) == 2 and sorted(store.queued_tids()) == sorted(queued)
    assert sent == [(store.exp_key, t, "hqueue") for t in queued]
    new = store.get(queued[0])
    assert new["state"] == JOB_STATE_NEW and new["misc"]["vals"] == {"x": [0.3]}
    assert new["misc"]["from_tid"] == tid
    publish_domain(store, Domain(square, SPACE))
    assert run_trial(store, queued[0], owner="w1") == "done"


def write_marker(path):
    Path(path).write_text("the malicious pickle ran")
    return abs


class Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (write_marker, (self.path,))


def _store_blob(store, payload, blob):
    digest = hashlib.sha256(payload).hexdigest()
    store.client.set(store.keys.domain(digest), blob)
    store.client.hset(store.keys.meta, mapping={"domain": digest, "lease_s": 30})


@pytest.mark.parametrize("attack", ["unsigned", "other_secret", "modified", "other_exp"])
def test_a_domain_that_fails_authentication_errors_and_is_never_unpickled(
        store, tmp_path, attack, caplog):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Evil(str(marker)))
    blob = {
        "unsigned": payload,
        "other_secret": sign(payload, b"hqueue/domain\x00wexp", b"another-secret-0123456789"),
        "modified": sign(payload, b"hqueue/domain\x00wexp", SECRET)[:-3] + b"xyz",
        "other_exp": sign(payload, b"hqueue/domain\x00other", SECRET),
    }[attack]
    _store_blob(store, payload, blob)
    tid = add_trial(store)
    with caplog.at_level(logging.ERROR, logger="hqueue.worker.runner"):
        assert run_trial(store, tid, owner="w1") == "error"
    assert not marker.exists()
    doc = store.get(tid)
    kind, message = doc["misc"]["error"]
    assert doc["state"] == JOB_STATE_ERROR and "SignatureError" in kind
    assert message in caplog.text
    expected = {"unsigned": "not signed", "other_secret": "set the same HQUEUE_SECRET",
                "modified": "modified after it was signed",
                "other_exp": "different experiment"}[attack]
    assert expected in message


def _cooperative_slow(cfg, ctrl):
    epoch = 0
    while not ctrl.should_stop():
        epoch += 1
        ctrl.checkpoint({"status": "running", "loss": 1.0 / epoch, "epoch": epoch})
        time.sleep(0.02)
    raise RuntimeError("stopped early")


def _ignores_stop(cfg, ctrl):
    ctrl.checkpoint({"status": "running", "loss": 2.0, "epoch": 1})
    while True:
        time.sleep(0.01)


def _blocked(cfg, ctrl):
    ctrl.checkpoint({"status": "running", "loss": 3.0, "epoch": 1})
    time.sleep(2.5)
    return 0.0


@pytest.mark.parametrize("objective", [_cooperative_slow, _ignores_stop, _blocked])
def test_trial_timeout_errors_and_keeps_the_last_partial_result(store, objective):
    publish_domain(store, with_ctrl(objective), trial_timeout=0.3)
    tid = add_trial(store)
    start = time.monotonic()
    assert run_trial(store, tid, owner="w1", timeout_grace_s=0.2) == "error"
    assert time.monotonic() - start < 2.0  # the blocked objective is abandoned, not awaited
    doc = store.get(tid)
    assert doc["state"] == JOB_STATE_ERROR
    assert doc["misc"]["error"][1].startswith("trial_timeout exceeded")
    assert doc["result"]["status"] == "fail" and doc["result"]["epoch"] >= 1
    assert "trial_timeout exceeded" in doc["result"]["failure"]


def test_release_running_hands_the_trial_back_and_resends_it(store):
    publish_domain(store, with_ctrl(_until_stopped), lease_s=0.3)
    tid = add_trial(store)
    sent, released = [], []
    future = in_background(run_trial, store, tid, owner="w1",
                           send_task=lambda *args: sent.append(args))
    wait_until(lambda: store.get(tid)["state"] == JOB_STATE_RUNNING)
    wait_until(lambda: runner.running_tids() == [(store.exp_key, tid)])
    assert release_running(then=lambda: released.append(True)) == 1
    assert future.result(timeout=10) == "released"
    doc = store.get(tid)
    assert doc["state"] == JOB_STATE_NEW and doc["owner"] is None
    assert doc["misc"]["attempts"] == 0 and store.queued_tids() == [tid]
    assert sent == [(store.exp_key, tid, "hqueue")] and released == [True]
    # while shutting down, deliveries are passed on unclaimed
    assert run_trial(store, tid, owner="w1", send_task=lambda *a: sent.append(a)) == "released"
    assert store.get(tid)["state"] == JOB_STATE_NEW and len(sent) == 2
    accept_trials()
    publish_domain(store, Domain(square, SPACE))
    assert run_trial(store, tid, owner="w2") == "done"


def test_a_failed_resend_on_release_is_not_fatal(store, caplog):
    publish_domain(store, with_ctrl(_until_stopped), lease_s=0.3)
    tid = add_trial(store)

    def broken_broker(*args):
        raise ConnectionError("broker down")

    future = in_background(run_trial, store, tid, owner="w1", send_task=broken_broker)
    wait_until(lambda: runner.running_tids() == [(store.exp_key, tid)])
    release_running()
    with caplog.at_level(logging.WARNING, logger="hqueue.worker.runner"):
        assert future.result(timeout=10) == "released"
    assert store.get(tid)["state"] == JOB_STATE_NEW and "the driver will" in caplog.text


def test_meta_options_are_parsed_from_redis_bytes():
    opts = parse_options({b"domain": b"ab", b"lease_s": b"12.5", b"max_retries": b"4",
                          b"trial_timeout": b"", b"max_attachment_bytes": b"2048",
                          b"queue": b"gpu"})
    assert (opts.digest, opts.lease_s, opts.max_retries, opts.trial_timeout,
            opts.max_attachment_bytes, opts.queue) == ("ab", 12.5, 4, None, 2048, "gpu")
    assert parse_options({}).lease_s == 30.0 and parse_options({}).digest is None


def test_run_trial_says_how_a_trial_ended_as_a_run_outcome(store, caplog):
    publish_domain(store, Domain(square, SPACE))
    tid = add_trial(store)
    with caplog.at_level(logging.INFO, logger="hqueue.worker.runner"):
        done = run_trial(store, tid, owner="w1")
    assert done is RunOutcome.DONE and done == "done"
    assert run_trial(store, tid, owner="w2") is RunOutcome.DROPPED
    assert set(runner.OUTCOMES) == set(RunOutcome)
    # the per-trial log line names the outcome by its word
    assert any(f"trial {tid} of 'wexp': done (" in r.getMessage() for r in caplog.records)
