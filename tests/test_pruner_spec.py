"""The chosen pruner reaches Redis workers as data: specs round-trip every pruner, bad specs
are one-line errors, ``RedisTrials(pruner=...)`` / ``fmin(pruner=...)`` write the spec into the
experiment's options, and a worker judges reports with the pruner the spec names."""

from __future__ import annotations

import fakeredis
import pytest
from runner_fixtures import fresh_runner_state, store_fixture

from hqueue import STATUS_OK, STATUS_PRUNED, Domain, fmin, hp, rand
from hqueue.backends.redis.records import ExperimentRecords, parse_options
from hqueue.backends.redis.trials import RedisTrials
from hqueue.exceptions import BadArgument
from hqueue.fmin import generate_trial
from hqueue.pruners import (
    Hyperband,
    Median,
    NoPruner,
    Patience,
    Percentile,
    Pruner,
    SuccessiveHalving,
    Threshold,
    UnknownPruner,
    dumps_spec,
    loads_spec,
)
from hqueue.pyll import rec_eval
from hqueue.security import dumps_domain
from hqueue.worker.runner import run_trial

SECRET = b"pruner-spec-secret-0123456789abcdef!!"
_fresh_process_state = fresh_runner_state(SECRET)
store = store_fixture("specexp")

EVERY_PRUNER = [
    NoPruner(), SuccessiveHalving(), SuccessiveHalving(2, 2, 1, max_resource=40),
    Hyperband(1, 27, 3), Median(n_startup_trials=2, n_warmup_steps=1, interval_steps=2),
    Percentile(10.0, 3), Threshold(lower=-1.0, upper=2.0, n_warmup_steps=3),
    Patience(4, Median(), min_delta=0.01), Patience(2),
]


@pytest.mark.parametrize("pruner", EVERY_PRUNER, ids=repr)
def test_every_pruner_survives_a_spec_round_trip(pruner):
    rebuilt = loads_spec(dumps_spec(pruner))
    assert type(rebuilt) is type(pruner) and repr(rebuilt) == repr(pruner)


@pytest.mark.parametrize("text, message", [
    ('{"kind": "bogus", "params": {}}', "unknown pruner kind 'bogus'; known kinds: none, asha"),
    ('{"kind": "median", "params": {"percentile": 3}}', "takes parameters"),
    ("not json", "not JSON"),
    ('["median"]', "a pruner spec is"),
])
def test_a_bad_spec_is_a_one_line_error(text, message):
    with pytest.raises(UnknownPruner, match=message):
        loads_spec(text)


def test_a_bad_value_in_a_spec_is_refused_by_the_pruner():
    with pytest.raises(BadArgument, match="reduction_factor"):
        loads_spec('{"kind": "asha", "params": {"reduction_factor": 1}}')


class MyPruner(Pruner):
    pass


def test_a_pruner_of_your_own_cannot_go_to_workers():
    client = fakeredis.FakeRedis()
    with pytest.raises(BadArgument, match="only hqueue.pruners' pruners can be sent"):
        RedisTrials(client=client, exp_key="e", pruner=MyPruner())
    trials = RedisTrials(client=client, exp_key="e", send_task=lambda *a: None)
    with pytest.raises(BadArgument, match="only hqueue.pruners' pruners can be sent"):
        fmin(lambda x: x, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=1,
             trials=trials, pruner=MyPruner(), show_progressbar=False)


def test_redis_trials_writes_its_pruner_and_fmin_overrides_it(monkeypatch):
    monkeypatch.setenv("HQUEUE_SECRET", SECRET.decode())
    client = fakeredis.FakeRedis()
    trials = RedisTrials(client=client, exp_key="e", pruner=Median(n_startup_trials=2),
                         send_task=lambda *a: None)
    domain = Domain(lambda x: x, hp.uniform("x", 0, 1))
    trials.backend.publish(domain)
    options = ExperimentRecords(client, "e").options()
    assert loads_spec(options.pruner).n_startup_trials == 2
    trials.backend.run_pruner = Threshold(upper=1.0)  # what fmin(pruner=...) sets per run
    trials.backend.publish(domain)
    assert isinstance(loads_spec(ExperimentRecords(client, "e").options().pruner), Threshold)
    assert parse_options({}).pruner == ""  # nothing chosen: workers use the default ASHA


def test_a_pickled_redis_trials_keeps_its_pruner():
    import pickle

    trials = RedisTrials(client=fakeredis.FakeRedis(), exp_key="e", pruner=Threshold(upper=3.0))
    state = trials.__getstate__()
    assert loads_spec(state["pruner"]).upper == 3.0
    assert pickle.loads(pickle.dumps(Threshold(upper=3.0))).upper == 3.0


# -- a worker builds the pruner the spec names ---------------------------------------------
def _constant_curve(expr, memo, ctrl):
    x = rec_eval(expr, memo=memo)["x"]
    for epoch in ctrl.epochs(9):
        ctrl.report(x, step=epoch + 1)
    return x


def _publish(store, pruner_spec):
    domain = Domain(_constant_curve, {"x": hp.uniform("x", 0, 1)}, pass_expr_memo_ctrl=True)
    digest, blob = dumps_domain(domain, store.exp_key, SECRET)
    store.client.set(store.keys.domain(digest), blob)
    store.client.hset(store.keys.meta, mapping={"domain": digest, "pruner": pruner_spec})


def _run(store, x, outcome="done"):
    [tid] = store.new_tids(1)
    doc = generate_trial(tid, {"x": x})
    doc["exp_key"] = store.exp_key
    store.create([doc])
    assert run_trial(store, tid, owner="w") == outcome
    return store.get(tid)


def test_a_worker_prunes_with_the_median_rule_the_spec_names(store):
    # ASHA (the default) would prune the second trial (not the best of 2 at rung 1); the
    # median with 2 startup trials only judges from the third trial on
    _publish(store, dumps_spec(Median(n_startup_trials=2)))
    first, second, third = (_run(store, x)["result"] for x in (0.3, 0.5, 0.8))
    assert first["status"] == second["status"] == STATUS_OK
    assert third["status"] == STATUS_PRUNED  # 0.8 > median(0.3, 0.5) at step 1
    assert [p["step"] for p in third["intermediate"]] == [1]


def test_an_unknown_pruner_kind_fails_the_trial_saying_so(store):
    _publish(store, '{"kind": "bogus", "params": {}}')
    doc = _run(store, 0.3, outcome="error")
    assert "unknown pruner kind 'bogus'; known kinds: none, asha" in str(doc["misc"]["error"])
