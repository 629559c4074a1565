"""End to end: pruning across real Celery worker processes on a real redis-server."""

from __future__ import annotations

import numpy as np
import pytest
import redis

from hqueue import STATUS_OK, STATUS_PRUNED, fmin, fmin_pass_expr_memo_ctrl, hp, rand
from hqueue.backends.redis.rungs import RedisRungs
from hqueue.backends.redis.trials import RedisTrials
from hqueue.pyll import rec_eval
from hqueue.states import JOB_STATE_DONE

pytestmark = pytest.mark.usefixtures("e2e_secret")


def epochs_objective(curve):
    """An objective running 9 epochs that reports ``curve(x, epoch)`` at steps 1..9 and
    returns x."""

    @fmin_pass_expr_memo_ctrl
    def objective(expr, memo, ctrl):
        x = rec_eval(expr, memo=memo)
        for epoch in ctrl.epochs(9):
            ctrl.report(curve(x, epoch), step=epoch + 1)
        return x

    return objective


def _search(url, exp_key, objective, n, seed, **kwargs):
    """``n`` trials of ``objective`` over x ~ U(0, 1) on two worker processes."""
    trials = RedisTrials(url, exp_key=exp_key, lease_s=10)
    fmin(objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=n, trials=trials,
         max_queue_len=4, rstate=np.random.default_rng(seed), show_progressbar=False, **kwargs)
    return trials


def test_workers_prune_with_shared_rungs_and_keep_every_curve(redis_url, pool):
    pool.start()
    pool.start()
    objective = epochs_objective(lambda x, epoch: x + 1.0 / (epoch + 1))
    trials = _search(redis_url, "prune-e2e", objective, 24, seed=0)
    assert len(trials) == 24 and all(t["state"] == JOB_STATE_DONE for t in trials.trials)
    statuses = trials.statuses()
    assert STATUS_PRUNED in statuses and STATUS_OK in statuses
    assert set(statuses) == {STATUS_OK, STATUS_PRUNED}
    assert trials.best_trial["result"]["status"] == STATUS_OK
    rungs = RedisRungs(redis.Redis.from_url(redis_url), "prune-e2e")
    for t in trials.trials:  # every curve stays in its Redis key after the trial ended
        steps, values = rungs.curve(t["tid"])
        x = t["misc"]["vals"]["x"][0]
        assert values == pytest.approx(x + 1.0 / steps)
        if t["result"]["status"] == STATUS_OK:
            assert steps.tolist() == list(range(1, 10))
        else:  # a pruned trial also carries its curve in its result
            assert 1 <= len(steps) < 9
            assert [p["step"] for p in t["result"]["intermediate"]] == steps.tolist()
            assert t["result"]["loss"] == pytest.approx(values[-1])


def test_workers_prune_with_the_pruner_fmin_chose(redis_url, pool):
    from hqueue.pruners import Threshold

    pool.start()
    pool.start()
    # the threshold rule: a trial reporting above 0.5 stops after its first report, every
    # other trial runs to the end (the default ASHA would prune by rank instead)
    trials = _search(redis_url, "prune-threshold", epochs_objective(lambda x, epoch: x), 16,
                     seed=1, pruner=Threshold(upper=0.5))
    xs = [t["misc"]["vals"]["x"][0] for t in trials.trials]
    assert any(x > 0.5 for x in xs) and sum(x <= 0.5 for x in xs) >= 3
    rungs = RedisRungs(redis.Redis.from_url(redis_url), "prune-threshold")
    for t, x in zip(trials.trials, xs):
        steps = rungs.curve(t["tid"])[0].tolist()
        if x > 0.5:
            assert t["result"]["status"] == STATUS_PRUNED and steps == [1]
        else:
            assert t["result"]["status"] == STATUS_OK and steps == list(range(1, 10))
