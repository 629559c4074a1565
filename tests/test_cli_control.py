"""The commands that change an experiment (cancel, requeue, enqueue, purge), against a real
Redis: state changes through the store's scripts, tasks sent to the experiment's Celery
queue, and one run with a real worker that evaluates what requeue and enqueue sent."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import redis
from click.testing import CliRunner
from test_overview import finish, make_experiment

from hqueue.backends.redis.keys import EXPERIMENTS
from hqueue.backends.redis.store import TrialStore
from hqueue.cli import main
from hqueue.fmin import generate_trial
from hqueue.states import (
    JOB_STATE_CANCEL,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
)

SECRET = "cli-control-secret-0123456789abcdef"


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def exp1(client) -> TrialStore:
    """tid 0 done (loss 2), 1 done (loss 0.5), 2 error, 3 running (partial loss), 4-5 queued;
    the experiment's queue is "hqueue" and it has a (fake) published domain."""
    store = make_experiment(client, "exp1")
    client.hset(store.keys.meta, "domain", "ab" * 32)
    return store


def run(url: str, *args: str, input: str | None = None):
    return CliRunner().invoke(main, [*args, "--url", url], input=input,
                              catch_exceptions=False)


def sent_tasks(client, queue: str = "hqueue") -> list[tuple[str, int]]:
    """(exp_key, tid) of the Celery task messages waiting in ``queue``, oldest first."""
    found = []
    for raw in reversed(client.lrange(queue, 0, -1)):  # kombu LPUSHes, workers BRPOP
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        found.append((args[0], int(args[1])))
    return found


def state_of(store: TrialStore, tid: int) -> int:
    return store.get(tid)["state"]


# -- cancel ----------------------------------------------------------------------------------
def test_cancel_one_queued_trial(redis_url, exp1):
    result = run(redis_url, "cancel", "--tid", "4")
    assert result.output.strip() == "trial 4 cancelled (it was queued)"
    assert state_of(exp1, 4) == JOB_STATE_CANCEL and 4 not in exp1.queued_tids()
    assert run(redis_url, "cancel", "--tid", "0").output.strip() == \
        "trial 0 had already finished: nothing to cancel"


def test_cancel_a_running_trial_asks_its_worker_to_stop(redis_url, exp1, client):
    result = run(redis_url, "cancel", "--tid", "3")
    assert "running: its worker was told to stop" in result.output
    assert exp1.heartbeat(3, "box:2:bbbb", lease_s=30).cancel_requested
    assert state_of(exp1, 3) == JOB_STATE_RUNNING  # until the worker finishes it


def test_cancel_an_experiment_asks_then_cancels_queued_and_stops_running(redis_url, exp1):
    result = run(redis_url, "cancel", input="n\n")
    assert result.exit_code == 1 and "Cancel 2 queued and 1 running trials of 'exp1'?" in \
        result.output
    assert state_of(exp1, 4) == JOB_STATE_NEW  # declined: nothing changed
    result = run(redis_url, "cancel", "--yes")
    assert result.exit_code == 0
    assert "2 queued trials cancelled, 1 running trials told to stop" in result.output
    assert [state_of(exp1, t) for t in (4, 5)] == [JOB_STATE_CANCEL, JOB_STATE_CANCEL]
    assert exp1.heartbeat(3, "box:2:bbbb", lease_s=30).cancel_requested


def test_cancel_warns_that_a_running_driver_keeps_queueing(redis_url, exp1, client):
    client.set(exp1.keys.driver, "drv1", px=30_000)
    assert "a driver (fmin) is running this experiment" in run(redis_url, "cancel", "-y").output


def test_cancel_of_an_unknown_tid_is_one_line(redis_url, exp1):
    result = run(redis_url, "cancel", "--tid", "42")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: experiment 'exp1' has no trial 42"


# -- requeue ---------------------------------------------------------------------------------
def test_requeue_puts_errored_trials_back_and_sends_their_tasks(redis_url, exp1, client):
    result = run(redis_url, "requeue")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1 errored trials requeued on queue 'hqueue': 2"
    doc = exp1.get(2)
    assert doc["state"] == JOB_STATE_NEW and doc["owner"] is None
    assert doc["result"] == {"status": "new"} and "error" not in doc["misc"]
    assert doc["misc"]["attempts"] == 0 and doc["book_time"] is None
    assert 2 in exp1.queued_tids()
    assert sent_tasks(client) == [("exp1", 2)]


def test_requeue_cancelled_trials_and_one_trial(redis_url, exp1, client):
    exp1.cancel(4)
    exp1.cancel(5)
    result = run(redis_url, "requeue", "--cancelled", "--tid", "5")
    assert "1 cancelled trials requeued" in result.output
    assert [state_of(exp1, t) for t in (4, 5)] == [JOB_STATE_CANCEL, JOB_STATE_NEW]
    assert sent_tasks(client) == [("exp1", 5)]


def test_requeue_refuses_a_trial_that_did_not_fail(redis_url, exp1):
    result = run(redis_url, "requeue", "--tid", "1")
    assert result.exit_code == 1
    assert "trial 1 is not errored (it is done)" in result.output
    assert state_of(exp1, 1) == JOB_STATE_DONE


def test_requeue_goes_to_the_experiments_own_queue(redis_url, exp1, client):
    client.hset(exp1.keys.meta, "queue", "gpu")
    run(redis_url, "requeue")
    assert sent_tasks(client, "gpu") == [("exp1", 2)] and sent_tasks(client, "hqueue") == []


def test_requeue_stale_recovers_expired_leases_and_resends_waiting_tasks(redis_url, exp1,
                                                                          client):
    client.zadd(exp1.keys.running, {"3": 1})  # the lease of running trial 3 ran out long ago
    client.zadd(exp1.keys.queued, {"4": 1})  # trial 4's task was sent long ago
    result = run(redis_url, "requeue", "--stale", "--older-than", "60")
    assert result.output.strip() == ("1 running trials whose lease expired requeued, 1 queued "
                                     "trials re-sent (queue 'hqueue')")
    assert state_of(exp1, 3) == JOB_STATE_NEW
    assert sorted(sent_tasks(client)) == [("exp1", 3), ("exp1", 4)]
    assert exp1.stale_queued(60) == []  # both just sent


def test_requeue_stale_finds_a_running_trial_missing_from_the_running_set(redis_url, exp1,
                                                                          client):
    client.zrem(exp1.keys.running, "3")  # trial 3 is RUNNING but the reaper cannot see it
    result = run(redis_url, "requeue", "--stale", "--older-than", "600")
    assert result.output.startswith("1 running trials whose lease expired requeued")
    assert state_of(exp1, 3) == JOB_STATE_NEW


def test_requeue_stale_takes_the_whole_experiment(redis_url, exp1):
    result = run(redis_url, "requeue", "--stale", "--tid", "3")
    assert result.exit_code == 1 and "leave out --tid" in result.output


def test_the_requeue_script_is_atomic_about_states(client):
    store = TrialStore(client, "atomic")
    store.create([generate_trial(0, {"x": 1.0})])
    assert not store.requeue(0)  # NEW: nothing to do
    finish(store, 0, None, state=JOB_STATE_ERROR)
    assert not store.requeue(0, states=(JOB_STATE_CANCEL,))
    assert store.requeue(0) and state_of(store, 0) == JOB_STATE_NEW
    assert not store.requeue(99)
    with pytest.raises(ValueError, match="ERROR or CANCEL"):
        store.requeue(0, states=(JOB_STATE_DONE,))


# -- enqueue ---------------------------------------------------------------------------------
def test_enqueue_inserts_a_trial_with_those_vals_and_sends_its_task(redis_url, exp1, client):
    result = run(redis_url, "enqueue", '{"opt": 1, "x": 0.25}')
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "trial 6 queued on 'hqueue': opt=1 x=0.25"
    doc = exp1.get(6)
    assert doc["state"] == JOB_STATE_NEW and doc["exp_key"] == "exp1"
    assert doc["misc"]["vals"] == {"opt": [1], "x": [0.25], "lr": []}
    assert doc["misc"]["idxs"] == {"opt": [6], "x": [6], "lr": []}
    assert sent_tasks(client) == [("exp1", 6)]


def test_enqueue_a_list_from_stdin(redis_url, exp1, client):
    result = run(redis_url, "enqueue", "-", input='[{"opt": 0, "lr": 0.1, "x": 0}, {"opt": 1, '
                                                  '"x": 2}]')
    assert result.exit_code == 0
    assert sent_tasks(client) == [("exp1", 6), ("exp1", 7)]


@pytest.mark.parametrize("config, message", [
    ('{"opt": 1, "y": 2}', "unknown label(s) 'y' for experiment 'exp1'; its labels: lr, opt, x"),
    ('{"opt": "adam"}', "'opt': \"adam\" is not a number"),
    ("{opt: 1}", "the configuration is not valid JSON"),
    ("[]", "give a JSON object {label: value, ...} or a list of them"),
])
def test_enqueue_refuses_bad_configurations_in_one_line(redis_url, exp1, client, config,
                                                        message):
    result = run(redis_url, "enqueue", config)
    assert result.exit_code == 1 and result.output.count("Error:") == 1
    assert message in result.output.splitlines()[-1]
    assert exp1.get(6) is None and sent_tasks(client) == []


@pytest.fixture
def published(client, monkeypatch):
    """Experiment "space" with a signed domain over a conditional space, as fmin publishes it."""
    from hqueue import Domain, hp
    from hqueue.backends.redis.driver import publish_domain
    from hqueue.backends.redis.trials import RedisTrials

    monkeypatch.setenv("HQUEUE_SECRET", SECRET)
    space = {"model": hp.choice("model", [
        {"kind": "linear", "l2": hp.loguniform("l2", -10, 0)},
        {"kind": "mlp", "layers": hp.quniform("layers", 1, 4, 1)}]),
        "lr": hp.uniform("lr", 0.0, 1.0)}
    trials = RedisTrials(client=client, exp_key="space")
    publish_domain(trials, Domain(lambda cfg: cfg["lr"], space))
    return trials.store


def test_enqueue_checks_a_configuration_against_the_search_space(redis_url, published,
                                                                client):
    result = run(redis_url, "enqueue", '{"model": 1, "layers": 3, "lr": 0.5}')
    assert result.exit_code == 0, result.output
    assert result.output == "trial 0 queued on 'hqueue': model=1 layers=3 lr=0.5\n"
    doc = published.get(0)
    assert doc["misc"]["vals"] == {"model": [1], "layers": [3], "lr": [0.5], "l2": []}
    assert sent_tasks(client) == [("space", 0)]


@pytest.mark.parametrize("config, problem", [
    ('{"model": 1, "lr": 0.5}', "'layers' is missing (it applies when model=1)"),
    ('{"model": 0, "l2": 0.1, "layers": 2, "lr": 0.5}',
     "'layers' does not apply to this configuration (it needs model=1)"),
    ('{"model": 2, "lr": 0.5}', "'model' is 2: it takes an integer from 0 to 1"),
    ('{"model": 0, "l2": 2.0, "lr": 0.5}', "'l2' is 2.0: it takes a number from 4.53999e-05 to 1"),
    ('{"model": 1, "layers": 3, "lr": 1.5}', "'lr' is 1.5: it takes a number from 0 to 1"),
    ('{"model": 1, "layers": 2.5, "lr": 0.5}', "'layers' is 2.5: it takes multiples of 1"),
    ('{"model": 1, "layers": 3, "lr": 0.5, "momentum": 0.9}',
     "'momentum' is not a parameter of the space (its labels: l2, layers, lr, model)"),
])
def test_enqueue_refuses_what_does_not_fit_the_search_space(redis_url, published, client,
                                                            config, problem):
    result = run(redis_url, "enqueue", config)
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith("Error: the configuration does not fit the search space "
                                    "of 'space': ")
    assert problem in result.output
    assert published.get(0) is None and sent_tasks(client) == []


def test_enqueue_without_the_drivers_secret_falls_back_to_the_labels(redis_url, published,
                                                                     monkeypatch):
    from hqueue.cache import clear_process_cache

    clear_process_cache()  # an earlier test in this process may have loaded the domain
    monkeypatch.setenv("HQUEUE_SECRET", "another-secret-0123456789abcdef")
    result = run(redis_url, "enqueue", '{"model": 1, "layers": 3, "lr": 0.5}')
    assert result.exit_code == 0
    assert result.output.startswith("note: not checked against the search space (")
    assert "HQUEUE_SECRET" in result.output.splitlines()[0]


def test_enqueue_needs_a_published_search_space(redis_url, client):
    TrialStore(client, "nodomain").create([generate_trial(0, {"x": 1.0})])
    result = run(redis_url, "enqueue", '{"x": 0.5}')
    assert result.exit_code == 1 and "has no search space published yet" in result.output


# -- purge -----------------------------------------------------------------------------------
def test_purge_asks_then_deletes_every_key_of_the_experiment(redis_url, exp1, client):
    other = make_experiment(client, "keep-me")
    client.set(exp1.keys.trial_attachment(0, "model.bin"), b"x")
    result = run(redis_url, "purge", "--exp-key", "exp1", input="n\n")
    assert result.exit_code == 1 and client.exists(exp1.keys.trial(0))
    result = run(redis_url, "purge", "--exp-key", "exp1", input="y\n")
    assert result.exit_code == 0
    assert "experiment 'exp1' deleted (6 trials" in result.output
    assert list(client.scan_iter(match="hq:{exp1}:*")) == []
    assert client.smembers(EXPERIMENTS) == {b"keep-me"}
    assert other.get(0) is not None


def test_purge_refuses_while_a_driver_holds_the_experiment_unless_forced(redis_url, exp1,
                                                                          client):
    client.set(exp1.keys.driver, "drv1", px=30_000)
    result = run(redis_url, "purge", "--exp-key", "exp1", "--yes")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "held by a running driver" in result.output and "--force" in result.output
    assert client.exists(exp1.keys.trial(0))
    assert run(redis_url, "purge", "--exp-key", "exp1", "--yes", "--force").exit_code == 0
    assert not client.exists(exp1.keys.trial(0))


def test_purge_never_guesses_the_experiment(redis_url, exp1):
    result = run(redis_url, "purge", "--yes")
    assert result.exit_code == 2 and "--exp-key" in result.output


# -- with a real worker ----------------------------------------------------------------------
def test_a_real_worker_runs_what_requeue_and_enqueue_sent(redis_url, tmp_path, monkeypatch):
    from hqueue import fmin, hp, rand
    from hqueue.backends.redis.trials import RedisTrials
    from hqueue.exceptions import AllTrialsFailed

    monkeypatch.setenv("HQUEUE_SECRET", SECRET)
    broken = tmp_path / "broken"
    broken.touch()
    flag = str(broken)

    def objective(x):  # fails while the flag file exists
        if os.path.exists(flag):
            raise RuntimeError("the data is not ready")
        return x ** 2

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "hqueue.worker", "worker", "--pool=solo",
         "--loglevel=WARNING", "-n", f"cli-{time.time()}@%h", "--without-gossip",
         "--without-mingle", "--without-heartbeat"],
        env=dict(os.environ, HQUEUE_URL=redis_url, HQUEUE_SECRET=SECRET),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        trials = RedisTrials(redis_url, exp_key="real")
        with pytest.raises(AllTrialsFailed):
            fmin(objective, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=2,
                 trials=trials, rstate=np.random.default_rng(0), show_progressbar=False)
        store = trials.store
        assert [state_of(store, t) for t in (0, 1)] == [JOB_STATE_ERROR] * 2
        broken.unlink()
        assert "2 errored trials requeued" in run(redis_url, "requeue").output
        assert "trial 2 queued" in run(redis_url, "enqueue", '{"x": 0.5}').output
        deadline = time.monotonic() + 60  # a safety net: a broken run fails, not hangs
        while any(state_of(store, t) != JOB_STATE_DONE for t in (0, 1, 2)):
            assert time.monotonic() < deadline, [store.get(t)["state"] for t in (0, 1, 2)]
            time.sleep(0.05)
        assert store.get(2)["result"]["loss"] == 0.25
        assert "best loss" in run(redis_url, "best").output
    finally:
        worker.terminate()
        worker.wait(timeout=30)
