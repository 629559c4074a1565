"""Learning curves in the CLI: ``hqueue show TID`` draws a trial's curve (sparkline and a
summary line, read from its Redis curve key, else its result's ``intermediate``), and
``hqueue export --curves`` adds a ``curve`` column; against a real Redis."""

from __future__ import annotations

import csv
import io
import json

import pytest
import redis
from click.testing import CliRunner
from test_overview import make_experiment

from hqueue.backends.redis.rungs import RedisRungs
from hqueue.cli import main

CURVE = [(1, 0.9), (2, 0.6), (3, 0.45), (5, 0.5)]


@pytest.fixture
def exp1(redis_url):
    client = redis.Redis.from_url(redis_url)
    store = make_experiment(client, "exp1")
    rungs = RedisRungs(client, "exp1")
    for step, value in CURVE:  # trial 1 reported a curve (as ctrl.report does on a worker)
        rungs.record(1, step, value, [])
    # trial 3 (running) has only its result's intermediate list
    assert store.checkpoint(3, "box:2:bbbb", {"status": "ok", "loss": 1.25, "intermediate": [
        {"step": 1, "value": 2.0}, {"step": 2, "value": 1.25}]})
    yield store
    client.close()


def run(redis_url, *args):
    result = CliRunner().invoke(main, [*args, "--url", redis_url, "--exp-key", "exp1"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_show_draws_the_learning_curve_of_a_finished_trial(redis_url, exp1):
    lines = run(redis_url, "show", "1").splitlines()
    at = lines.index("learning curve (ctrl.report)")
    assert lines[at + 1] == "  █▃▁▂"
    assert lines[at + 2] == "  4 points, steps 1-5: first 0.9, best 0.45 (step 3), last 0.5"


def test_show_falls_back_to_the_results_intermediate_and_omits_the_raw_list(redis_url, exp1):
    output = run(redis_url, "show", "3")
    assert "  2 points, steps 1-2: first 2, best 1.25 (step 2), last 1.25" in output
    assert "intermediate" not in output  # drawn, not dumped as JSON


def test_show_of_a_trial_without_reports_has_no_curve_section(redis_url, exp1):
    assert "learning curve" not in run(redis_url, "show", "0")


def test_export_curves_adds_a_json_curve_column_to_csv(redis_url, exp1):
    rows = list(csv.DictReader(io.StringIO(run(redis_url, "export", "--curves"))))
    by_tid = {int(r["tid"]): r for r in rows}
    assert json.loads(by_tid[1]["curve"]) == [list(p) for p in CURVE]
    assert json.loads(by_tid[3]["curve"]) == [[1, 2.0], [2, 1.25]]
    assert json.loads(by_tid[0]["curve"]) == []
    assert "curve" not in run(redis_url, "export").splitlines()[0]  # only when asked


def test_export_curves_in_json_lines_is_a_list(redis_url, exp1):
    rows = [json.loads(line) for line in
            run(redis_url, "export", "--curves", "--format", "jsonl").splitlines()]
    assert next(r for r in rows if r["tid"] == 1)["curve"] == [list(p) for p in CURVE]
