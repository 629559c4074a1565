"""Pruning on a Redis worker: the runner's ``RedisCtrl`` prunes with ASHA on the experiment's
shared rungs, keeps every report in the trial's curve key, and a pruned trial ends DONE/pruned
(on fakeredis and on a real redis-server)."""

from __future__ import annotations

import fakeredis
import pytest
from runner_fixtures import fresh_runner_state, store_fixture

from hqueue import STATUS_OK, STATUS_PRUNED, Domain, hp
from hqueue.backends.redis.rungs import RedisRungs
from hqueue.backends.redis.store import TrialStore
from hqueue.fmin import generate_trial
from hqueue.pyll import rec_eval
from hqueue.security import dumps_domain
from hqueue.states import JOB_STATE_DONE
from hqueue.worker.runner import run_trial

SECRET = b"pruning-worker-secret-0123456789abcdef"
EPOCHS = 9


_fresh_process_state = fresh_runner_state(SECRET)
store = store_fixture("pexp")


def _epoch_objective(expr, memo, ctrl):
    x = rec_eval(expr, memo=memo)["x"]
    for epoch in ctrl.epochs(EPOCHS):
        ctrl.report(x + 0.01 * (EPOCHS - epoch), step=epoch + 1)
    return x


def _publish(store):
    domain = Domain(_epoch_objective, {"x": hp.uniform("x", 0, 1)}, pass_expr_memo_ctrl=True)
    digest, blob = dumps_domain(domain, store.exp_key, SECRET)
    store.client.set(store.keys.domain(digest), blob)
    store.client.hset(store.keys.meta, mapping={
        "domain": digest, "queue": "hqueue", "lease_s": 30, "max_retries": 3,
        "trial_timeout": "", "max_attachment_bytes": 1024})


def _add(store, x):
    [tid] = store.new_tids(1)
    doc = generate_trial(tid, {"x": x})
    doc["exp_key"] = store.exp_key
    store.create([doc])
    return tid


def test_a_worse_trial_is_pruned_on_the_shared_rungs_and_curves_are_kept(store):
    _publish(store)
    good, bad = _add(store, 0.1), _add(store, 0.9)
    assert run_trial(store, good, owner="w1") == "done"
    assert run_trial(store, bad, owner="w2") == "done"  # pruned is a finished trial
    good_doc, bad_doc = store.get(good), store.get(bad)
    assert good_doc["state"] == bad_doc["state"] == JOB_STATE_DONE
    assert good_doc["result"]["status"] == STATUS_OK
    assert bad_doc["result"]["status"] == STATUS_PRUNED
    assert bad_doc["result"]["loss"] == pytest.approx(0.99)  # its one report, at step 1
    assert [p["step"] for p in bad_doc["result"]["intermediate"]] == [1]
    rungs = RedisRungs(store.client, store.exp_key)
    steps, values = rungs.curve(good)
    assert steps.tolist() == list(range(1, EPOCHS + 1))
    assert values[-1] == pytest.approx(0.11)
    assert rungs.curve(bad)[0].tolist() == [1]
    assert rungs.rung("sh:1:3:0:1") == {good: pytest.approx(0.19), bad: pytest.approx(0.99)}


def test_a_rerun_of_a_trial_does_not_count_twice_at_a_rung(store):
    _publish(store)
    first = _add(store, 0.5)
    assert run_trial(store, first, owner="w1") == "done"
    rungs = RedisRungs(store.client, store.exp_key)
    before = rungs.rung("sh:1:3:0:1")
    rungs.record(first, 1, 0.0, ["sh:1:3:0:1"])  # what a retried attempt's report does
    assert rungs.rung("sh:1:3:0:1") == before


def test_a_worker_ctrl_judges_each_report_and_writes_its_curve():
    from hqueue.worker.ctrl import RedisCtrl

    store = TrialStore(fakeredis.FakeRedis(), "demo")
    store.create([generate_trial(0, {"x": 1.0})])
    ctrl = RedisCtrl(store, store.claim(0, owner="w1", lease_s=30).doc, owner="w1")
    assert not ctrl.should_prune()  # before any report
    ctrl.report(float("nan"), step=1)  # diverged: ASHA prunes it
    assert ctrl.should_prune()
    assert store.get(0)["result"]["intermediate"][0]["step"] == 1
    assert RedisRungs(store.client, "demo").curve(0)[0].tolist() == [1]


class _Counting(fakeredis.FakeRedis):
    """A client counting the commands it sends (each one a round trip outside a pipeline)."""

    sent = 0

    def execute_command(self, *args, **options):
        type(self).sent += 1
        return super().execute_command(*args, **options)


def test_a_worker_report_and_should_prune_cost_one_round_trip():
    from hqueue.worker.ctrl import RedisCtrl

    client = _Counting()
    store = TrialStore(client, "demo")
    store.create([generate_trial(0, {"x": 1.0})])
    ctrl = RedisCtrl(store, store.claim(0, owner="w1", lease_s=30).doc, owner="w1")
    ctrl.report(0.9, step=1)  # the first call also loads the script (NOSCRIPT, then LOAD)
    _Counting.sent = 0
    for step in range(2, 12):
        ctrl.report(0.5, step=step)
        ctrl.should_prune()
    assert _Counting.sent == 10
    # and both writes happened: the partial result (seen by the driver) and the curve point
    assert [p["step"] for p in store.get(0)["result"]["intermediate"]] == list(range(1, 12))
    assert RedisRungs(client, "demo").curve(0)[0].tolist() == list(range(1, 12))


def test_a_report_of_a_trial_this_worker_lost_writes_nothing_and_asks_to_stop():
    from hqueue.worker.ctrl import RedisCtrl

    store = TrialStore(fakeredis.FakeRedis(), "demo")
    store.create([generate_trial(0, {"x": 1.0})])
    ctrl = RedisCtrl(store, store.claim(0, owner="w1", lease_s=30).doc, owner="w1")
    ctrl.report(0.5, step=1)
    store.client.hset(store.keys.trial(0), "owner", "w2")  # the lease went to another worker
    ctrl.report(float("nan"), step=3)  # would reach rung 3 and be pruned
    assert ctrl.should_stop() and not ctrl.should_prune()
    rungs = RedisRungs(store.client, "demo")
    assert rungs.curve(0)[0].tolist() == [1]
    assert rungs.rung("sh:1:3:0:3") == {}
    assert [p["step"] for p in store.get(0)["result"]["intermediate"]] == [1]
