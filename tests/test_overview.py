"""The read model shared by the CLI and the dashboard, on fakeredis and on a real redis-server."""

from __future__ import annotations

import datetime
import time

import fakeredis
import pytest
import redis

from hqueue.backends.redis.overview import (
    ExperimentMirror,
    UnknownExperiment,
    list_experiments,
    require_experiment,
    summarize,
    trial_rows,
)
from hqueue.backends.redis.presence import WorkerPresence, WorkerRegistry
from hqueue.backends.redis.store import TrialStore
from hqueue.fmin import generate_trial
from hqueue.states import JOB_STATE_DONE, JOB_STATE_ERROR


@pytest.fixture(params=["fakeredis", "redis-server"])
def client(request):
    if request.param == "fakeredis":
        yield fakeredis.FakeRedis()
        return
    url = request.getfixturevalue("redis_url")
    c = redis.Redis.from_url(url)
    yield c
    c.close()


def finish(store: TrialStore, tid: int, loss: float | None, state: int = JOB_STATE_DONE,
           owner: str = "box:1:aaaa") -> None:
    assert store.claim(tid, owner=owner, lease_s=30) is not None
    result = {"status": "ok", "loss": loss} if state == JOB_STATE_DONE else \
        {"status": "fail", "traceback": "Traceback ...\nValueError: boom"}
    assert store.finish(tid, owner, state, result,
                        error=("ValueError", "boom") if state == JOB_STATE_ERROR else None)


def make_experiment(client, exp_key: str = "exp1") -> TrialStore:
    """tid 0 done (loss 2), 1 done (loss 0.5, the best), 2 error, 3 running with a partial
    loss, 4 and 5 queued; a conditional space (lr only in some trials)."""
    store = TrialStore(client, exp_key)
    points = [{"opt": 0, "lr": 0.1, "x": 1.0}, {"opt": 1, "x": -0.5}, {"opt": 0, "lr": 0.2,
                                                                          "x": 0.0},
              {"opt": 1, "x": 2.0}, {"opt": 1, "x": 3.0}, {"opt": 0, "lr": 0.3, "x": 4.0}]
    tids = store.new_tids(len(points))
    docs = [generate_trial(t, p) for t, p in zip(tids, points)]
    for doc in docs:
        doc["exp_key"] = exp_key
    store.create(docs)
    client.hset(store.keys.meta, mapping={"queue": "hqueue", "created": 1_700_000_000.0})
    finish(store, 0, 2.0)
    finish(store, 1, 0.5)
    finish(store, 2, None, state=JOB_STATE_ERROR)
    assert store.claim(3, owner="box:2:bbbb", lease_s=30) is not None
    assert store.checkpoint(3, "box:2:bbbb", {"status": "ok", "loss": 1.25, "epoch": 3})
    return store


def test_list_experiments_is_sorted_and_require_experiment_names_the_known_ones(client):
    make_experiment(client, "zeta")
    make_experiment(client, "alpha")
    assert list_experiments(client) == ["alpha", "zeta"]
    assert require_experiment(client, "zeta") == "zeta"
    with pytest.raises(UnknownExperiment, match="no experiment 'typo'.*alpha, zeta") as info:
        require_experiment(client, "typo")
    assert "\n" not in str(info.value)


def test_require_experiment_on_an_empty_redis_says_how_to_create_one(client):
    with pytest.raises(UnknownExperiment, match="none yet"):
        require_experiment(client, None)


def test_the_mirror_reads_only_what_changed_since_its_last_refresh(client):
    store = make_experiment(client)
    mirror = ExperimentMirror(client, "exp1")
    assert mirror.refresh() == 6
    assert mirror.refresh() == 0
    finish(store, 4, 0.1)
    assert mirror.refresh() == 1
    assert mirror.docs[4]["state"] == JOB_STATE_DONE
    assert mirror.docs[4]["result"]["loss"] == 0.1
    assert sorted(mirror.docs) == list(range(6))


def test_the_mirror_documents_keep_hyperopts_schema(client):
    make_experiment(client)
    mirror = ExperimentMirror(client, "exp1")
    mirror.refresh()
    doc = mirror.docs[1]
    assert {"tid", "spec", "result", "misc", "state", "owner", "book_time", "refresh_time",
            "exp_key"} <= set(doc)
    assert doc["misc"]["vals"] == {"opt": [1], "x": [-0.5]}


def test_the_best_trial_shown_is_from_the_current_segment(client):
    """After a search space change (``on_space_change="new_segment"``), status, best and the
    dashboard name the best trial of the current segment, not an older space's."""
    store = TrialStore(client, "seg")
    docs = [generate_trial(t, {"x": float(t)}) for t in store.new_tids(3)]
    for doc, segment in zip(docs, (0, 0, 1)):
        doc["exp_key"] = "seg"
        if segment:
            doc["misc"]["segment"] = segment
    store.create(docs)
    finish(store, 0, 0.1)  # segment 0: the lowest loss of all
    finish(store, 1, 0.7)
    finish(store, 2, 0.9)  # segment 1: its only trial
    mirror = ExperimentMirror(client, "seg")
    mirror.refresh()
    assert (summarize(mirror, workers=[]).best_loss, summarize(mirror, workers=[]).best_tid) \
        == (0.1, 0)  # no segment recorded: segment 0
    client.hset(store.keys.meta, "segment", 1)
    s = summarize(mirror, workers=[])
    assert (s.best_loss, s.best_tid) == (0.9, 2)


def test_summary_counts_best_queue_depth_and_created(client):
    make_experiment(client)
    mirror = ExperimentMirror(client, "exp1")
    mirror.refresh()
    s = summarize(mirror, workers=[])
    assert s.counts == {"new": 2, "running": 1, "done": 2, "error": 1, "cancel": 0}
    assert s.total == 6
    assert (s.best_loss, s.best_tid, s.best_params) == (0.5, 1, {"opt": 1, "x": -0.5})
    assert s.queue_depth == 2
    assert s.driver_alive is False
    assert s.created == datetime.datetime(2023, 11, 14, 22, 13, 20,
                                          tzinfo=datetime.timezone.utc)


def test_trials_per_minute_counts_trials_finished_in_the_last_ten_minutes(client):
    make_experiment(client)  # 3 trials finished (2 done, 1 error) just now
    mirror = ExperimentMirror(client, "exp1")
    mirror.refresh()
    # over the time since the oldest of them, at least a minute (not spread over 10 minutes)
    assert summarize(mirror, []).trials_per_min == pytest.approx(3.0)
    five_minutes_later = time.time() + 300
    assert summarize(mirror, [], now=five_minutes_later).trials_per_min == pytest.approx(
        0.6, rel=0.01)
    eleven_minutes_later = time.time() + 660
    assert summarize(mirror, [], now=eleven_minutes_later).trials_per_min == 0.0


def test_a_driver_holding_the_experiment_shows_as_alive(client):
    store = make_experiment(client)
    client.set(store.keys.driver, "abc", px=10_000)
    mirror = ExperimentMirror(client, "exp1")
    assert summarize(mirror, []).driver_alive is True


def test_a_killed_driver_on_this_machine_shows_as_dead_while_its_lease_runs(client):
    import socket
    import subprocess
    import sys

    from hqueue.backends.redis.records import pid_namespace

    store = make_experiment(client)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    client.set(store.keys.driver, f"{socket.gethostname()}:{pid_namespace()}:"
                                  f"{int(gone.stdout)}:deadbeef", px=30_000)
    assert summarize(ExperimentMirror(client, "exp1"), []).driver_alive is False


def test_live_workers_are_those_serving_the_queue_or_running_the_experiment(client):
    make_experiment(client)
    now = time.time()

    def worker(wid, queues, seen, trials=()):
        return WorkerPresence(wid, "box", 1, tuple(queues), started=now - 100, seen=seen,
                              trials=tuple(trials))

    registry = WorkerRegistry(client)
    for w in [worker("serves", ["hqueue"], now),
              worker("runs-it", ["gpu"], now, [("exp1", 3)]),
              worker("other-queue", ["gpu"], now),
              worker("dead", ["hqueue"], now - 120)]:
        registry.announce(w)
    mirror = ExperimentMirror(client, "exp1")
    mirror.refresh()
    assert summarize(mirror, registry.list(now=now), now=now).live_workers == 2


def test_trial_rows_are_flat_with_one_column_per_label(client):
    make_experiment(client)
    mirror = ExperimentMirror(client, "exp1")
    mirror.refresh()
    rows = trial_rows(mirror)
    assert [r["tid"] for r in rows] == list(range(6))
    done = rows[1]
    assert (done["state"], done["loss"], done["status"], done["worker"], done["attempts"]) \
        == ("done", 0.5, "ok", "box:1:aaaa", 1)
    assert (done["opt"], done["x"], done["lr"]) == (1, -0.5, None)  # lr inactive
    assert done["duration_s"] >= 0.0
    datetime.datetime.fromisoformat(done["book_time"])
    assert rows[2]["error"] == "ValueError: boom" and rows[2]["loss"] is None
    assert rows[3]["state"] == "running" and rows[3]["loss"] == 1.25  # partial result
    assert rows[3]["duration_s"] is None
    assert rows[4]["state"] == "new" and rows[4]["worker"] is None


def test_trial_rows_filter_by_state_name_or_number(client):
    make_experiment(client)
    mirror = ExperimentMirror(client, "exp1")
    mirror.refresh()
    assert [r["tid"] for r in trial_rows(mirror, state="done")] == [0, 1]
    assert [r["tid"] for r in trial_rows(mirror, state=JOB_STATE_ERROR)] == [2]
    with pytest.raises(Exception, match="unknown trial state 'finished'"):
        trial_rows(mirror, state="finished")


def test_a_label_named_like_a_fixed_column_gets_a_prefix(client):
    store = TrialStore(client, "clash")
    store.create([generate_trial(0, {"loss": 3.0, "x": 1.0})])
    mirror = ExperimentMirror(client, "clash")
    mirror.refresh()
    [row] = trial_rows(mirror)
    assert row["param.loss"] == 3.0 and row["loss"] is None


def test_a_running_trial_shows_its_last_reported_value_as_its_loss(client):
    store = TrialStore(client, "report")
    store.create([generate_trial(0, {"x": 1.0}), generate_trial(1, {"x": 2.0})])
    for tid in (0, 1):
        assert store.claim(tid, owner="w", lease_s=30) is not None
        assert store.checkpoint(tid, "w", {"status": "new", "intermediate": [
            {"step": 1, "value": 0.9}, {"step": 2, "value": 0.7}]})
    assert store.finish(1, "w", JOB_STATE_ERROR, {"status": "fail", "intermediate": [
        {"step": 1, "value": 0.9}]}, error=("ValueError", "boom"))
    mirror = ExperimentMirror(client, "report")
    mirror.refresh()
    rows = trial_rows(mirror)
    assert rows[0]["loss"] == 0.7  # running: the last report
    assert rows[1]["loss"] is None  # finished without a loss: none
