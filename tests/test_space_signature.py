"""A driver refuses to continue an experiment over another search space, and space_eval
refuses a point that lacks an active label (issue 13, item 4)."""

from __future__ import annotations

import numpy as np
import pytest

from hqueue import STATUS_OK, fmin, hp, rand, space_eval
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
