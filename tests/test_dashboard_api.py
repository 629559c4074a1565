"""The dashboard's JSON API and pages through Flask's test client, against a real Redis.

Trials are written through the trial store the way workers write them (claim, checkpoint,
finish), so the API sees what a live search produces.
"""

from __future__ import annotations

import time

import pytest
import redis

pytest.importorskip("flask")

from dashboard_data import EXP, populate  # noqa: E402

from hqueue.backends.redis.overview import ExperimentMirror, SummaryTracker, summarize  # noqa: E402
from hqueue.backends.redis.presence import WorkerPresence, WorkerRegistry  # noqa: E402
from hqueue.backends.redis.store import TrialStore  # noqa: E402
from hqueue.dashboard.model import CHANGE_LOG_LEN, Dashboard  # noqa: E402
from hqueue.fmin import generate_trial  # noqa: E402
from hqueue.states import JOB_STATE_DONE, JOB_STATE_ERROR  # noqa: E402


def test_experiments_list_counts_each_state_and_the_best_loss(redis_url, web):
    populate(redis_url)
    data = web.get("/api/experiments").get_json()
    [exp] = data["experiments"]
    assert exp["exp_key"] == EXP
    assert exp["counts"] == {"new": 1, "running": 1, "done": 1, "error": 1, "cancel": 0}
    assert exp["best_loss"] == 0.25 and exp["best_tid"] == 0
    assert exp["best_params"] == {"x": 0.5, "k": 1}
    assert exp["queue_depth"] == 1 and exp["live_workers"] == 1
    assert exp["trials_per_min"] == pytest.approx(2.0)  # 2 finished just now: 2 in a minute
    assert data["workers"] == {"alive": 1, "known": 1}


def test_experiment_shows_running_trials_with_their_partial_results(redis_url, web):
    tids = populate(redis_url)
    data = web.get(f"/api/experiments/{EXP}").get_json()
    [running] = data["running"]
    assert running["tid"] == tids["running"] and running["worker"] == "box:12:bbbb"
    assert running["partial"] == {"loss": 0.9, "epoch": 3}
    assert running["n_reports"] == 2 and running["reports"][-1] == {"value": 0.9, "step": 3}
    assert running["params"] == {"x": 1.5, "k": 1}
    assert [w["worker_id"] for w in data["workers"]] == ["box:12:bbbb"]
    assert data["workers"][0]["alive"] and data["workers"][0]["trials"] == [[EXP, 2]]
    assert data["full"] and data["points"] == [[tids["done"], 0.25]]


def test_loss_points_are_sent_again_only_when_they_change(redis_url, web):
    tids = populate(redis_url)
    first = web.get(f"/api/experiments/{EXP}").get_json()
    again = web.get(f"/api/experiments/{EXP}?since={first['cursor']}").get_json()
    assert again["cursor"] == first["cursor"] and not again["full"] and again["points"] == []
    store = TrialStore.from_url(redis_url, EXP)
    store.finish(tids["running"], "box:12:bbbb", JOB_STATE_DONE, {"status": "ok", "loss": 0.1})
    later = web.get(f"/api/experiments/{EXP}?since={first['cursor']}").get_json()
    assert not later["full"] and later["points"] == [[tids["running"], 0.1]]
    assert later["summary"]["best_loss"] == 0.1 and later["running"] == []


def test_trials_page_lists_params_loss_state_duration_and_worker(redis_url, web):
    tids = populate(redis_url)
    data = web.get(f"/api/experiments/{EXP}/trials?sort=tid").get_json()
    assert data["total"] == 4 and [r["tid"] for r in data["rows"]] == [0, 1, 2, 3]
    assert {"tid", "state", "loss", "duration_s", "worker", "x", "k"} <= set(data["columns"])
    done = data["rows"][tids["done"]]
    assert (done["state"], done["loss"], done["x"], done["k"]) == ("done", 0.25, 0.5, 1)
    assert done["worker"] == "box:11:aaaa" and done["duration_s"] >= 0
    error = data["rows"][tids["error"]]
    assert error["state"] == "error" and "x out of range" in error["error"]
    assert data["rows"][tids["running"]]["loss"] == 0.9  # the partial loss


def test_trials_sort_by_loss_puts_empty_cells_last_in_both_orders(redis_url, web):
    populate(redis_url)
    asc = web.get(f"/api/experiments/{EXP}/trials?sort=loss&order=asc").get_json()
    desc = web.get(f"/api/experiments/{EXP}/trials?sort=loss&order=desc").get_json()
    assert [r["loss"] for r in asc["rows"]] == [0.25, 0.9, None, None]
    assert [r["loss"] for r in desc["rows"]] == [0.9, 0.25, None, None]


def test_trials_filter_by_state_and_page(redis_url, web):
    populate(redis_url)
    done = web.get(f"/api/experiments/{EXP}/trials?state=done").get_json()
    assert done["total"] == 1 and done["rows"][0]["state"] == "done"
    page = web.get(f"/api/experiments/{EXP}/trials?sort=tid&offset=1&limit=2").get_json()
    assert page["total"] == 4 and [r["tid"] for r in page["rows"]] == [1, 2]


def test_trials_answers_unchanged_when_nothing_changed(redis_url, web):
    populate(redis_url)
    first = web.get(f"/api/experiments/{EXP}/trials").get_json()
    again = web.get(f"/api/experiments/{EXP}/trials?if_version={first['cursor']}").get_json()
    assert again == {"unchanged": True, "cursor": first["cursor"]}


def test_bad_queries_get_400_with_the_reason(redis_url, web):
    populate(redis_url)
    response = web.get(f"/api/experiments/{EXP}/trials?sort=nope")
    assert response.status_code == 400 and "cannot sort by 'nope'" in response.get_json()["error"]
    response = web.get(f"/api/experiments/{EXP}/trials?state=finished")
    assert response.status_code == 400 and "unknown trial state" in response.get_json()["error"]
    response = web.get(f"/api/experiments/{EXP}/trials?offset=-1")
    assert response.status_code == 400 and "offset" in response.get_json()["error"]


def test_unknown_experiment_is_404_naming_the_known_ones(redis_url, web):
    populate(redis_url)
    response = web.get("/api/experiments/typo")
    assert response.status_code == 404
    assert EXP in response.get_json()["error"]
    assert web.get("/experiments/typo").status_code == 404


def test_pages_render_and_load_only_local_assets(redis_url, web):
    populate(redis_url)
    for path in ("/", f"/experiments/{EXP}"):
        response = web.get(path)
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "http://" not in html and "https://" not in html  # nothing fetched from elsewhere
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    for asset in ("dashboard.js", "chart.js", "dashboard.css"):
        assert web.get(f"/static/{asset}").status_code == 200


def test_workers_lists_liveness_and_what_each_runs(redis_url, web):
    populate(redis_url)
    conn = redis.Redis.from_url(redis_url)
    now = time.time()
    WorkerRegistry(conn).announce(WorkerPresence("old:1:cccc", "old", 1, ("gpu",),
                                                 started=now - 600, seen=now - 120))
    workers = web.get("/api/workers").get_json()["workers"]
    by_id = {w["worker_id"]: w for w in workers}
    assert by_id["box:12:bbbb"]["alive"] and by_id["box:12:bbbb"]["trials"] == [[EXP, 2]]
    assert not by_id["old:1:cccc"]["alive"] and by_id["old:1:cccc"]["age_s"] >= 120
    conn.close()


def test_dashboard_never_writes_to_redis(redis_url, web):
    populate(redis_url)
    conn = redis.Redis.from_url(redis_url)
    WorkerRegistry(conn).announce(WorkerPresence("ancient:1:dddd", "x", 1, ("hqueue",),
                                                 started=0.0, seen=1.0))  # would be forgotten
    before = {k: conn.dump(k) for k in conn.keys("*")}
    for path in ("/api/experiments", f"/api/experiments/{EXP}", "/api/workers",
                 f"/api/experiments/{EXP}/trials?sort=loss"):
        assert web.get(path).status_code == 200
    assert {k: conn.dump(k) for k in conn.keys("*")} == before
    conn.close()


def test_points_since_a_forgotten_version_resend_everything(redis_url):
    conn = redis.Redis.from_url(redis_url)
    store = TrialStore(conn, "many")
    board = Dashboard(conn)
    store.create([generate_trial(0, {"x": 0.0})])
    store.claim(0, "w", 30)
    store.finish(0, "w", JOB_STATE_DONE, {"status": "ok", "loss": 1.0})
    first = board.experiment("many")
    for tid in range(1, CHANGE_LOG_LEN + 2):  # more refreshes than the change log keeps
        store.create([generate_trial(tid, {"x": float(tid)})])
        board.experiment("many", since=first["cursor"])
    old = board.experiment("many", since=first["cursor"])
    assert old["full"] and old["points"] == [[0, 1.0]]
    conn.close()


def test_summary_tracker_matches_summarize_after_every_refresh(redis_url):
    import random

    conn = redis.Redis.from_url(redis_url)
    store, rng = TrialStore(conn, "track"), random.Random(0)
    mirror = ExperimentMirror(conn, "track")
    tracker = SummaryTracker(mirror)
    for _ in range(25):
        tids = store.new_tids(3)
        store.create([generate_trial(t, {"x": rng.random()}) for t in tids])
        for tid, doc in list(mirror.docs.items()):
            if doc["state"] == 0 and rng.random() < 0.5:
                store.claim(tid, "w", 30)
            elif doc["state"] == 1 and rng.random() < 0.5:
                state = rng.choice([JOB_STATE_DONE, JOB_STATE_DONE, JOB_STATE_ERROR])
                loss = rng.choice([0.5, rng.random()])  # ties on 0.5: the lowest tid is best
                store.finish(tid, "w", state, {"status": "ok", "loss": loss})
        mirror.refresh()
        tracker.update(mirror.changed)
        now = time.time()
        assert tracker.summary([], now) == summarize(mirror, [], now)
    assert tracker.counts["done"] > 0 and tracker.counts["error"] > 0
    conn.close()


def test_an_experiment_purged_and_created_again_is_shown_afresh(redis_url):
    conn = redis.Redis.from_url(redis_url)
    board = Dashboard(conn)
    store = TrialStore(conn, "again")
    store.create([generate_trial(t, {"x": float(t)}) for t in store.new_tids(5)])
    cursor = board.experiment("again")["cursor"]
    assert board.trials("again")["total"] == 5
    conn.delete(*conn.keys("hq:{again}:*"))  # what a purge leaves: no trial keys
    # fewer changes than before the purge: the change counter went back (that is what is
    # detected), and the old cursor (5) must not be taken for a recent one of the new counter
    store.create([generate_trial(t, {"x": 9.0}) for t in store.new_tids(2)])
    data = board.experiment("again", since=cursor)
    assert data["full"] and data["summary"]["total"] == 2
    assert [r["x"] for r in board.trials("again")["rows"]] == [9.0, 9.0]
    store.create([generate_trial(t, {"x": 8.0}) for t in store.new_tids(5)])
    assert board.experiment("again", since=cursor)["full"]  # 5 is a seq of the new counter
    conn.close()
