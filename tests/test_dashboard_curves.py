"""The dashboard's learning-curve view: ``/api/experiments/<exp>/trials/<tid>/curve`` (from the
trial's curve key, else its result's ``intermediate``), and the page that draws it as SVG."""

from __future__ import annotations

import pytest
import redis

pytest.importorskip("flask")

from dashboard_data import EXP, populate  # noqa: E402

from hqueue.backends.redis.rungs import RedisRungs  # noqa: E402


def test_the_curve_of_a_finished_trial_comes_from_its_curve_key(redis_url, web):
    tids = populate(redis_url)
    conn = redis.Redis.from_url(redis_url)
    rungs = RedisRungs(conn, EXP)
    for step, value in [(1, 0.8), (2, float("nan")), (3, 0.25)]:
        rungs.record(tids["done"], step, value, [])
    conn.close()
    data = web.get(f"/api/experiments/{EXP}/trials/{tids['done']}/curve").get_json()
    assert data == {"tid": tids["done"], "state": "done", "status": "ok",
                    "points": [[1, 0.8], [2, None], [3, 0.25]]}  # NaN as null


def test_a_running_trial_without_a_curve_key_shows_its_reports_so_far(redis_url, web):
    tids = populate(redis_url)
    data = web.get(f"/api/experiments/{EXP}/trials/{tids['running']}/curve").get_json()
    assert data["state"] == "running" and data["points"] == [[1, 1.2], [3, 0.9]]
    assert web.get(f"/api/experiments/{EXP}/trials/{tids['new']}/curve").get_json()[
        "points"] == []


def test_an_unknown_trial_is_400_with_the_reason(redis_url, web):
    populate(redis_url)
    response = web.get(f"/api/experiments/{EXP}/trials/999/curve")
    assert response.status_code == 400
    assert "has no trial 999" in response.get_json()["error"]


def test_the_experiment_page_has_the_curve_panel_and_its_local_script(redis_url, web):
    populate(redis_url)
    html = web.get(f"/experiments/{EXP}").get_data(as_text=True)
    assert 'id="curve-panel"' in html and "/static/curve.js" in html
    script = web.get("/static/curve.js").get_data(as_text=True)
    assert "CurveChart" in script and "createElementNS" in script  # SVG, no library
