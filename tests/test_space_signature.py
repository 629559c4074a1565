"""A driver refuses to continue an experiment over another search space, and space_eval
refuses a point that lacks an active label (issue 13, item 4)."""

from __future__ import annotations

import numpy as np
import pytest

from hqueue import STATUS_OK, fmin, hp, rand, space_eval, tpe
from hqueue.backends.redis.trials import RedisTrials
from hqueue.exceptions import BadArgument
from hqueue.space.signature import SpaceChanged, space_differences, space_signature

SPACE = {"lr": hp.loguniform("lr", -5, 0), "layers": hp.choice("layers", [1, 2, 3])}


def test_a_signature_names_each_distribution_and_when_it_is_active():
    sig = space_signature(hp.choice("m", [{"c": hp.quniform("c", 0, 10, 2)}, {"d": 1}]))
    assert sig == {"m": "randint(2 options, p=[0.5, 0.5], offset=0)",
                   "c": "quniform(0, 10, 2) when m=0"}


def test_the_same_space_written_again_has_the_same_signature():
    again = {"layers": hp.choice("layers", [1, 2, 3]), "lr": hp.loguniform("lr", -5, 0)}
    assert space_signature(SPACE) == space_signature(again)
    assert space_differences(space_signature(SPACE), space_signature(again)) == []


def test_space_eval_refuses_a_point_missing_an_active_label():
    with pytest.raises(BadArgument, match="no value for the active label.*'lr'"):
        space_eval(SPACE, {"layers": 0})
    assert space_eval(SPACE, {"layers": 0, "lr": 0.1}) == {"layers": 1, "lr": 0.1}
    nested = hp.choice("m", [{"c": hp.uniform("c", 0, 1)}, {"d": hp.uniform("d", 0, 1)}])
    assert space_eval(nested, {"m": 0, "c": 0.5}) == {"c": 0.5}  # d is inactive: not needed


def objective(cfg):
    return {"loss": float(np.log(cfg["lr"])) ** 2, "status": STATUS_OK}


def test_a_changed_space_on_an_existing_experiment_is_refused(redis_url, one_worker):
    fmin(objective, SPACE, algo=rand.suggest, max_evals=3, show_progressbar=False,
         trials=RedisTrials(redis_url, exp_key="spaces"), rstate=np.random.default_rng(0))
    changed = dict(SPACE, lr=hp.loguniform("lr", -8, 0))
    with pytest.raises(SpaceChanged, match=r"lr \(loguniform\(-5, 0\) -> loguniform\(-8, 0\)\)"
                                           r".*new exp_key.*hqueue purge --exp-key spaces"):
        fmin(objective, changed, algo=rand.suggest, max_evals=6, show_progressbar=False,
             trials=RedisTrials(redis_url, exp_key="spaces"), rstate=np.random.default_rng(1))
    trials = RedisTrials(redis_url, exp_key="spaces")
    assert len(trials) == 3  # nothing was added from the other space
    # the same space continues the experiment
    fmin(objective, SPACE, algo=rand.suggest, max_evals=5, show_progressbar=False,
         trials=trials, rstate=np.random.default_rng(2))
    assert len(RedisTrials(redis_url, exp_key="spaces")) == 5


OLD_SPACE = {"x": hp.uniform("x", -5, -1)}
NEW_SPACE = {"x": hp.uniform("x", 1, 5), "k": hp.choice("k", [0, 1])}


def near_minus_one(cfg):
    """Best near x = -1: the old space holds better points than the new one."""
    return {"loss": abs(cfg["x"] + 1.0), "status": STATUS_OK}


def test_the_changed_space_refusal_names_the_new_segment_opt_in(redis_url, one_worker):
    fmin(near_minus_one, OLD_SPACE, algo=rand.suggest, max_evals=2, show_progressbar=False,
         trials=RedisTrials(redis_url, exp_key="optin"), rstate=np.random.default_rng(0))
    with pytest.raises(SpaceChanged, match="on_space_change='new_segment'"):
        fmin(near_minus_one, NEW_SPACE, algo=rand.suggest, max_evals=2, show_progressbar=False,
             trials=RedisTrials(redis_url, exp_key="optin"), rstate=np.random.default_rng(1))


def test_a_new_segment_searches_the_new_space_apart_and_keeps_the_old_trials(redis_url,
                                                                             one_worker):
    from click.testing import CliRunner

    from hqueue.cli import main

    fmin(near_minus_one, OLD_SPACE, algo=tpe.suggest, max_evals=4, show_progressbar=False,
         trials=RedisTrials(redis_url, exp_key="seg"), rstate=np.random.default_rng(0))
    trials = RedisTrials(redis_url, exp_key="seg", on_space_change="new_segment")
    best = fmin(near_minus_one, NEW_SPACE, algo=tpe.suggest, max_evals=5,
                show_progressbar=False, trials=trials, rstate=np.random.default_rng(1))
    # max_evals counts the current segment: 5 new trials, all from the new space
    assert trials.segment == 1 and len(trials) == 5
    assert all(1 <= t["misc"]["vals"]["x"][0] <= 5 for t in trials.trials)
    assert len(trials.history().losses) == 5  # the algorithm saw only this segment
    assert set(best) == {"x", "k"} and 1 <= best["x"] <= 5  # valid in the new space
    assert space_eval(NEW_SPACE, best)["x"] == best["x"]
    # the old trials are kept, apart
    assert len(RedisTrials(redis_url, exp_key="seg").store.changes_since(0)[1]) == 9
    out = CliRunner().invoke(main, ["trials", "--exp-key", "seg", "--segment", "0",
                                    "--url", redis_url]).output
    assert out.count(" done ") == 4 and "0: 4 trials, 1: 5 trials (current)" in out
    # the same changed space again continues segment 1 (no third segment)
    again = RedisTrials(redis_url, exp_key="seg", on_space_change="new_segment")
    fmin(near_minus_one, NEW_SPACE, algo=tpe.suggest, max_evals=7, show_progressbar=False,
         trials=again, rstate=np.random.default_rng(2))
    assert again.segment == 1 and len(again) == 7


def test_an_unknown_on_space_change_is_one_line():
    with pytest.raises(BadArgument, match="on_space_change='merge': use 'refuse'"):
        RedisTrials("redis://127.0.0.1:1/0", on_space_change="merge")


def test_trials_an_objective_enqueues_or_injects_stay_in_its_segment():
    import fakeredis

    from hqueue.backends.redis.segments import segment_of
    from hqueue.backends.redis.store import TrialStore
    from hqueue.trial_doc import generate_trial
    from hqueue.worker.ctrl import RedisCtrl

    store = TrialStore(fakeredis.FakeRedis(), "e")
    doc = generate_trial(0, {"x": 2.0}, "e")
    doc["misc"]["segment"] = 2
    store.create([doc])
    ctrl = RedisCtrl(store, store.claim(0, owner="w1", lease_s=30).doc, owner="w1")
    [queued] = ctrl.enqueue([{"x": 3.0}])
    [injected] = ctrl.inject_results([None], [{"loss": 1.0, "status": STATUS_OK}],
                                     [{"idxs": {"x": [9]}, "vals": {"x": [4.0]}}],
                                     new_tids=[9])
    assert segment_of(store.get(queued)) == 2 and segment_of(store.get(injected)) == 2


def test_a_worker_never_runs_a_trial_of_an_older_segment():
    import fakeredis

    from hqueue import Domain
    from hqueue.backends.redis.store import TrialStore
    from hqueue.security import dumps_domain
    from hqueue.states import JOB_STATE_CANCEL
    from hqueue.trial_doc import generate_trial
    from hqueue.worker.runner import run_trial

    calls = []
    store = TrialStore(fakeredis.FakeRedis(), "e")
    digest, blob = dumps_domain(Domain(calls.append, hp.uniform("x", 1, 5)), "e", b"k")
    store.client.set(store.keys.domain(digest), blob)
    store.client.hset(store.keys.meta, mapping={"domain": digest, "segment": 1})
    store.create([generate_trial(0, {"x": -2.0}, "e")])  # segment 0: the old space
    assert run_trial(store, 0, owner="w1", secret=b"k") == "cancelled"
    doc = store.get(0)
    assert doc["state"] == JOB_STATE_CANCEL and "older segment" in doc["result"]["failure"]
    assert calls == []  # the new space's objective never saw the old point
