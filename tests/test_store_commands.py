"""What each step of a trial's life costs in Redis commands, counted by a real server
(``INFO commandstats``: commands run inside Lua scripts included). The key-type checks of
damaged-key containment cost no command while the keys are sound (``hq_do`` in
``scripts/_prelude.lua``), and a top-up's trials are created by one script call."""

from __future__ import annotations

import pytest
import redis

from hqueue.backends.redis.store import TrialStore
from hqueue.states import JOB_STATE_DONE
from hqueue.trial_doc import generate_trial


@pytest.fixture
def store(redis_url):
    return TrialStore(redis.Redis.from_url(redis_url), "cmds")


def commands(store, step):
    """The commands ``step()`` made the server run, by name."""
    store.client.config_resetstat()
    step()
    stats = store.client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()
            if name != "cmdstat_config|resetstat"}


def warm(store):
    """Load every script once (the first call of a script loads it: one SCRIPT LOAD more)."""
    [tid] = store.new_tids(1)
    store.create([generate_trial(tid, {"x": 0.0}, store.exp_key)])
    store.claim(tid, "w0", 30)
    store.heartbeat(tid, "w0", 30)
    store.finish(tid, "w0", JOB_STATE_DONE, {"loss": 0.0, "status": "ok"})


def test_creating_a_top_up_costs_one_script_call_and_one_hset_per_trial(store):
    warm(store)
    docs = [generate_trial(t, {"x": 0.5}, store.exp_key) for t in store.new_tids(8)]
    assert commands(store, lambda: store.create(docs)) == {
        "evalsha": 1, "exists": 1, "incrby": 1, "zadd": 3, "hset": 8,
        "sadd": 1}  # sadd: the experiments set, once per batch


def test_claim_heartbeat_and_finish_run_no_type_check_on_sound_keys(store):
    warm(store)
    [tid] = store.new_tids(1)
    store.create([generate_trial(tid, {"x": 0.5}, store.exp_key)])
    assert commands(store, lambda: store.claim(tid, "w1", 30)) == {
        "evalsha": 1, "hgetall": 1, "incr": 1, "zadd": 2, "zrem": 1, "hset": 1}
    assert commands(store, lambda: store.heartbeat(tid, "w1", 30)) == {
        "evalsha": 1, "hmget": 1, "zadd": 1}
    finish = commands(store, lambda: store.finish(
        tid, "w1", JOB_STATE_DONE, {"loss": 0.5, "status": "ok"}))
    assert finish == {"evalsha": 1, "hmget": 1, "incr": 1, "zadd": 1, "xadd": 1, "zrem": 1,
                      "hset": 1}
