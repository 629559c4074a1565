"""A cancel and ``trial_timeout`` reach a running objective within about a second, whatever the
lease length (issue 13, item 3): the cancel is pushed to the worker, not left for its next
heartbeat. Every test runs real workers with ``lease_s=30`` (a heartbeat every 10 s), so the
heartbeat path alone cannot pass them. The assertions are on the trial's own timestamps (a
state of the trial, not a benchmark)."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner
from e2e_helpers import LoggedObjective, wait_until

from hqueue import Domain, hp
from hqueue.backends.redis.trials import RedisTrials
from hqueue.cli import main
from hqueue.states import JOB_STATE_CANCEL, JOB_STATE_ERROR, JOB_STATE_RUNNING
from hqueue.trial_doc import generate_trial

LEASE_S = 30.0  # heartbeats every 10 s: the old delivery path needs up to 10 s
TRIAL_S = 4.0  # how long the stop-aware objective runs when nobody stops it

pytestmark = pytest.mark.usefixtures("e2e_secret")


class StopAware:
    """Runs ``TRIAL_S`` seconds checking ``ctrl.should_stop()``; says whether it saw a stop."""

    fmin_pass_expr_memo_ctrl = True

    def __call__(self, expr, memo, ctrl):
        deadline = time.monotonic() + TRIAL_S
        while time.monotonic() < deadline:
            if ctrl.should_stop():
                return {"loss": 0.0, "status": "ok", "saw_stop": True}
            time.sleep(0.02)
        return {"loss": 1.0, "status": "ok", "saw_stop": False}


class FirstWins:
    """Trial 0 returns loss 0 after 1 s (the driver then stops early); the others are
    :class:`StopAware`."""

    fmin_pass_expr_memo_ctrl = True

    def __call__(self, expr, memo, ctrl):
        if ctrl.current_trial["tid"] == 0:
            time.sleep(1.0)
            return {"loss": 0.0, "status": "ok"}
        return StopAware()(expr, memo, ctrl)


def _start_trials(url: str, exp_key: str, objective, n: int, **options) -> RedisTrials:
    """Publish ``objective``'s domain and queue ``n`` trials, as a driver does."""
    trials = RedisTrials(url, exp_key, lease_s=LEASE_S, **options)
    trials.backend.publish(Domain(objective, hp.uniform("x", 0, 1)))
    trials.insert_trial_docs([generate_trial(t, {"x": 0.5}, exp_key)
                              for t in trials.new_trial_ids(n)])
    return trials


def _wait_running(trials: RedisTrials, tids: list[int]) -> None:
    wait_until(lambda: all((trials.store.get(t) or {}).get("state") == JOB_STATE_RUNNING
                           for t in tids), 120, f"trials {tids} running")


def _wait_final(trials: RedisTrials, tid: int) -> dict:
    def final():
        doc = trials.store.get(tid)
        return doc if doc and doc["state"] not in (0, JOB_STATE_RUNNING) else None
    return wait_until(final, 120, f"trial {tid} finished")


def _ran_for(doc: dict) -> float:
    return (doc["refresh_time"] - doc["book_time"]).total_seconds()


def _cli(url: str, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--url", url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("kind", ["solo", "threads", "prefork"])
def test_hqueue_cancel_tid_reaches_a_running_4_s_trial_within_a_second(redis_url, pool, kind):
    pool.start(pool=kind, concurrency=1)
    trials = _start_trials(redis_url, f"cancel-{kind}", StopAware(), 1)
    _wait_running(trials, [0])
    out = _cli(redis_url, "cancel", "--exp-key", f"cancel-{kind}", "--tid", "0")
    assert "told to stop" in out
    doc = _wait_final(trials, 0)
    assert doc["state"] == JOB_STATE_CANCEL and doc["result"]["saw_stop"] is True
    assert _ran_for(doc) < TRIAL_S - 1.0, doc  # stopped well before its natural end
    print(f"\ncancel --tid, {kind} pool: the trial ran {_ran_for(doc):.2f} s of {TRIAL_S:g} s")


def test_cancelling_the_whole_experiment_stops_every_running_trial_at_once(redis_url, pool):
    pool.start(pool="threads", concurrency=2)
    trials = _start_trials(redis_url, "cancel-all", StopAware(), 3)
    _wait_running(trials, [0, 1])
    out = _cli(redis_url, "cancel", "--exp-key", "cancel-all", "--yes")
    assert "1 queued trials cancelled, 2 running trials told to stop" in out
    docs = [_wait_final(trials, t) for t in (0, 1, 2)]
    assert [d["state"] for d in docs] == [JOB_STATE_CANCEL] * 3
    for doc in docs[:2]:
        assert doc["result"]["saw_stop"] is True and _ran_for(doc) < TRIAL_S - 1.0, doc


def test_a_driver_stopping_early_reaches_its_running_trial_at_once(redis_url, pool):
    """The driver's stop (loss_threshold here; Ctrl-C, timeout and early_stop_fn take the same
    AsyncRunner.stop) cancels through the same script: the running trial hears it at once."""
    from hqueue import fmin, rand

    pool.start(pool="threads", concurrency=2)
    trials = RedisTrials(redis_url, "early", lease_s=LEASE_S)
    fmin(FirstWins(), hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=10,
         max_queue_len=2, loss_threshold=0.5, trials=trials, show_progressbar=False)
    doc = _wait_final(trials, 1)
    assert doc["state"] == JOB_STATE_CANCEL and doc["result"]["saw_stop"] is True
    assert _ran_for(doc) < TRIAL_S - 1.0, doc


def test_trial_timeout_ends_a_hanging_objective_about_a_second_after_its_limit(
        redis_url, pool, tmp_path):
    pool.start()
    objective = LoggedObjective(tmp_path / "evals.jsonl", behaviours={0: "hang_py"})
    trials = _start_trials(redis_url, "timeout", objective, 1, trial_timeout=1.0)
    doc = _wait_final(trials, 0)
    assert doc["state"] == JOB_STATE_ERROR and "TrialTimeout" in doc["misc"]["error"][0]
    assert doc["result"]["partial"] == "hang_py"  # its checkpoint is kept
    # the limit (1 s) plus the short grace after a timeout, not plus the 5 s cancel grace
    assert _ran_for(doc) < 4.0, doc
    print(f"\ntrial_timeout=1 on a hanging objective: ERROR after {_ran_for(doc):.2f} s")


def test_cancelling_a_running_trial_publishes_its_stop_and_a_queued_one_publishes_nothing(
        redis_url):
    from hqueue.backends.redis.keys import STOP_CHANNEL
    from hqueue.backends.redis.store import TrialStore

    store = TrialStore.from_url(redis_url, "push")
    store.create([generate_trial(t, {"x": 0.5}, "push") for t in store.new_tids(2)])
    store.claim(0, owner="w1", lease_s=LEASE_S)
    pubsub = store.client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(STOP_CHANNEL)
    wait_until(lambda: pubsub.get_message(timeout=0.1) is None and pubsub.subscribed, 10,
               "the subscription")
    assert store.cancel(1) == "cancelled" and store.cancel(0) == "stopping"
    message = wait_until(lambda: pubsub.get_message(timeout=0.1), 10, "the stop message")
    assert message["data"] == b"0:push"
    assert pubsub.get_message(timeout=0.2) is None  # one message: the queued trial sent none
    assert store.heartbeat(0, "w1", LEASE_S).cancel_requested  # the flag is still the truth
    pubsub.close()


def test_a_stop_listener_lives_while_a_trial_holds_it_and_stops_when_idle(monkeypatch):
    import threading

    import fakeredis

    from hqueue.worker import stops

    monkeypatch.setattr(stops, "IDLE_S", 0.3)
    client, heard = fakeredis.FakeRedis(), []
    name = f"hqueue-stop-listener-{id(client)}"

    def alive():
        return any(t.name == name for t in threading.enumerate())

    listening = stops.listen(client, lambda exp_key, tid: heard.append((exp_key, tid)))
    assert listening.subscribed
    time.sleep(1.5)  # well past IDLE_S: a held listener stays
    assert alive()
    client.publish(stops.STOP_CHANNEL, "7:e")
    wait_until(lambda: heard == [("e", 7)], 10, "the stop heard")
    listening.release()
    wait_until(lambda: not alive(), 10, "the idle listener to stop")
    again = stops.listen(client, lambda exp_key, tid: heard.append((exp_key, tid)))
    assert again.subscribed and alive()  # the next trial starts a new one
    again.release()


class StopWithin5s:
    """Returns at once when it sees ``ctrl.should_stop()``, else after 5 s (half the first
    heartbeat of a 30 s lease)."""

    fmin_pass_expr_memo_ctrl = True

    def __call__(self, expr, memo, ctrl):
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if ctrl.should_stop():
                return {"loss": 0.0, "status": "ok", "saw_stop": True}
            time.sleep(0.02)
        return {"loss": 1.0, "status": "ok", "saw_stop": False}


def test_a_stop_pushed_between_the_claim_and_the_supervision_is_not_lost():
    import fakeredis

    from hqueue.backends.redis.keys import STOP_CHANNEL
    from hqueue.backends.redis.store import TrialStore
    from hqueue.security import dumps_domain
    from hqueue.worker import stops
    from hqueue.worker.runner import run_trial

    store = TrialStore(fakeredis.FakeRedis(), "early-push")
    digest, blob = dumps_domain(Domain(StopWithin5s(), hp.uniform("x", 0, 1)), "early-push",
                                b"k")
    store.client.set(store.keys.domain(digest), blob)
    store.client.hset(store.keys.meta, mapping={"domain": digest, "lease_s": LEASE_S})
    store.create([generate_trial(0, {"x": 0.5}, "early-push")])
    holding = stops.listen(store.client, lambda exp_key, tid: None)  # the listener is up
    try:
        # trial 0 is cancelled while no runner supervises it yet (as if between its claim and
        # its supervision): the flag is set and the stop is pushed
        store.client.hset(store.keys.trial(0), "cancel", 1)
        store.client.publish(STOP_CHANNEL, "0:early-push")
        time.sleep(0.5)  # the listener hands it over
        assert run_trial(store, 0, owner="w1", secret=b"k") == "cancelled"
    finally:
        holding.release()
    assert store.get(0)["result"]["saw_stop"] is True
