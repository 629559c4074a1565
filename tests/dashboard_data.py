"""The experiment the dashboard's tests look at, written through the trial store the way a
driver and its workers write it (claim, checkpoint, finish), so the dashboard sees what a live
search produces.

Example:
    tids = populate(redis_url)
    assert web.get(f"/api/experiments/{EXP}/trials/{tids['done']}/curve").status_code == 200
"""

from __future__ import annotations

import time

from hqueue.backends.redis.presence import WorkerPresence, WorkerRegistry
from hqueue.backends.redis.store import TrialStore
from hqueue.backends.redis.trials import RedisTrials
from hqueue.fmin import generate_trial
from hqueue.states import JOB_STATE_DONE, JOB_STATE_ERROR

EXP = "dash-exp"


def populate(url: str, exp_key: str = EXP) -> dict[str, int]:
    """tid 0 done (loss 0.25), tid 1 errored, tid 2 running with a partial result, tid 3
    queued; one live worker running tid 2. Returns the tids by what they are."""
    RedisTrials(url, exp_key=exp_key)  # the experiment as a driver opens it
    store = TrialStore.from_url(url, exp_key)
    points = [{"x": 0.5, "k": 1}, {"x": -2.0, "k": 0}, {"x": 1.5, "k": 1}, {"x": 0.0, "k": 0}]
    tids = store.new_tids(len(points))
    store.create([generate_trial(t, p) for t, p in zip(tids, points)])
    store.claim(tids[0], owner="box:11:aaaa", lease_s=30)
    store.finish(tids[0], "box:11:aaaa", JOB_STATE_DONE, {"status": "ok", "loss": 0.25})
    store.claim(tids[1], owner="box:11:aaaa", lease_s=30)
    store.finish(tids[1], "box:11:aaaa", JOB_STATE_ERROR, {"status": "fail"},
                 error=["ValueError", "x out of range"])
    store.claim(tids[2], owner="box:12:bbbb", lease_s=30)
    store.checkpoint(tids[2], "box:12:bbbb", {"status": "ok", "loss": 0.9, "epoch": 3,
                                             "intermediate": [{"value": 1.2, "step": 1},
                                                              {"value": 0.9, "step": 3}]})
    now = time.time()
    WorkerRegistry(store.client).announce(WorkerPresence(
        "box:12:bbbb", "box", 12, ("hqueue",), started=now - 60, seen=now,
        trials=((exp_key, tids[2]),), gpus="0"))
    store.client.close()
    return {"done": tids[0], "error": tids[1], "running": tids[2], "new": tids[3]}
