"""End to end: pruning across real Celery worker processes on a real redis-server."""

from __future__ import annotations

import numpy as np
import pytest
import redis
from e2e_helpers import SECRET, WorkerPool

from hqueue import STATUS_OK, STATUS_PRUNED, fmin, fmin_pass_expr_memo_ctrl, hp, rand
from hqueue.backends.redis.rungs import RedisRungs
from hqueue.backends.redis.trials import RedisTrials
from hqueue.pyll import rec_eval
from hqueue.states import JOB_STATE_DONE


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("HQUEUE_SECRET", SECRET)


@pytest.fixture
def workers(redis_url, tmp_path):
    pool = WorkerPool(redis_url, tmp_path)
    yield pool
    pool.stop_all()


def test_workers_prune_with_shared_rungs_and_keep_every_curve(redis_url, workers):
    workers.start()
    workers.start()

    @fmin_pass_expr_memo_ctrl
    def objective(expr, memo, ctrl):
        x = rec_eval(expr, memo=memo)
        for epoch in ctrl.epochs(9):
            ctrl.report(x + 1.0 / (epoch + 1), step=epoch + 1)
        return x

    trials = RedisTrials(redis_url, exp_key="prune-e2e", lease_s=10)
    fmin(objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=24, trials=trials,
         max_queue_len=4, rstate=np.random.default_rng(0), show_progressbar=False)
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
