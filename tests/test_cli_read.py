"""The read-only commands (status, trials, show, best, export, plot) and the errors every
command shares (no URL, wrong URL, wrong password, unknown experiment), against a real Redis
with trials written through the TrialStore."""

from __future__ import annotations

import csv
import io
import json
import re
import time

import pytest
import redis
from click.testing import CliRunner
from test_overview import finish, make_experiment

from hqueue.backends.redis.presence import WorkerPresence, WorkerRegistry
from hqueue.backends.redis.store import TrialStore
from hqueue.cli import main
from hqueue.commands import COMMANDS

ONE_EXPERIMENT_COMMANDS = [["trials"], ["show", "1"], ["best"], ["export"], ["plot"],
                           ["cancel", "--yes"], ["requeue"], ["enqueue", '{"x": 1.0}']]


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def exp1(client) -> TrialStore:
    """tid 0 done (loss 2), 1 done (loss 0.5), 2 error, 3 running (partial loss), 4-5 queued."""
    return make_experiment(client, "exp1")


def run(*args: str, input: str | None = None, env: dict | None = None):
    return CliRunner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)


def run_url(url: str, *args: str, **kw):
    return run(*args, "--url", url, **kw)


# -- status ----------------------------------------------------------------------------------
def test_status_shows_each_experiments_counts_best_queue_and_workers(redis_url, client, exp1):
    make_experiment(client, "exp2")
    now = time.time()
    WorkerRegistry(client).announce(WorkerPresence(
        "gpubox:77:abcd1234", "gpubox", 77, ("hqueue",), started=now - 60, seen=now - 2,
        trials=(("exp1", 3),), gpus="0"))
    result = run_url(redis_url, "status")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["EXPERIMENT", "NEW", "RUNNING"]
    exp1_row = next(line for line in lines if line.startswith("exp1 "))
    # new running done error cancel, best loss, best tid, trials/min, queued, workers, driver
    assert exp1_row.split() == ["exp1", "2", "1", "2", "1", "0", "0.5", "1", "3", "2", "1",
                                "-"]
    assert any(line.startswith("exp2 ") for line in lines)
    worker_row = next(line for line in lines if line.startswith("gpubox:77:abcd1234"))
    cells = worker_row.split()
    # host, PID (no launcher recorded: its own), TRIAL PID, queues, GPUs
    assert cells[1:6] == ["gpubox", "77", "77", "hqueue", "0"] and cells[-3:] == ["ago", "alive",
                                                                                   "exp1:3"]
    assert re.fullmatch(r"\d+s", cells[6])  # heartbeat age


def test_status_of_one_experiment_and_an_empty_redis(redis_url, exp1, client):
    make_experiment(client, "other")
    result = run_url(redis_url, "status", "--exp-key", "exp1")
    assert "exp1" in result.output and "other" not in result.output
    client.flushall()
    result = run_url(redis_url, "status")
    assert result.exit_code == 0
    assert "no experiments yet" in result.output and "no workers" in result.output


def test_status_watch_redraws_with_what_changed_until_ctrl_c(redis_url, exp1, monkeypatch):
    import importlib

    status_module = importlib.import_module("hqueue.commands.status")

    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 1:
            finish(exp1, 4, 0.125)  # a trial finishes between two redraws
        else:
            raise KeyboardInterrupt

    monkeypatch.setattr(status_module, "_pause", sleep)
    result = run_url(redis_url, "status", "--watch", "--interval", "0.5")
    assert result.exit_code == 0
    assert sleeps == [0.5, 0.5]
    rows = [line.split() for line in result.output.splitlines() if line.startswith("exp1 ")]
    # new, done, best loss, best tid, queued: before and after the trial finished
    assert [[r[1], r[3], r[6], r[7], r[9]] for r in rows] == [["2", "2", "0.5", "1", "2"],
                                                            ["1", "3", "0.125", "4", "1"]]


# -- trials ----------------------------------------------------------------------------------
def _table(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines() if line and not line.startswith("(")]


def test_trials_lists_every_trial_with_params_and_losses(redis_url, exp1):
    result = run_url(redis_url, "trials", "--exp-key", "exp1")
    assert result.exit_code == 0, result.output
    rows = _table(result.output)
    assert rows[0] == ["TID", "STATE", "LOSS", "STEP", "SECONDS", "WORKER", "lr", "opt", "x"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2", "3", "4", "5"]
    assert rows[2][:3] == ["1", "done", "0.5"] and rows[2][-3:] == ["-", "1", "-0.5"]
    assert rows[4][:3] == ["3", "running", "1.25"]  # the running trial's partial loss


def test_trials_filter_by_state_sort_by_loss_and_limit(redis_url, exp1):
    result = run_url(redis_url, "trials", "--state", "done", "--sort", "loss", "--limit", "1")
    rows = _table(result.output)
    assert [r[:3] for r in rows[1:]] == [["1", "done", "0.5"]]
    assert "(1 of 2 trials" in result.output
    rows = _table(run_url(redis_url, "trials", "--sort", "loss", "--reverse").output)
    assert [r[0] for r in rows[1:]][-3:] == ["0", "3", "1"]  # worst first, best last
    by_loss = [r[0] for r in _table(run_url(redis_url, "trials", "--sort", "loss").output)[1:]]
    assert by_loss[:3] == ["1", "3", "0"]  # 0.5, 1.25 (partial), 2.0; no loss last
    assert run_url(redis_url, "trials", "--state", "cancel").output.strip() == \
        "experiment 'exp1' has no cancel trials"


# -- show / best -----------------------------------------------------------------------------
def test_show_prints_params_result_attachments_and_error_with_traceback(redis_url, exp1, client):
    client.set(exp1.keys.trial_attachment(2, "stderr.txt"), b"x" * 42)
    result = run_url(redis_url, "show", "2")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("trial 2 of experiment 'exp1': error")
    assert "params (choices as indices)" in out and "lr           0.2" in out
    assert "stderr.txt   42 bytes" in out
    assert "ValueError: boom" in out and "Traceback ..." in out


def test_show_sizes_a_chunked_attachment_by_its_bytes_not_its_manifest(redis_url, exp1,
                                                                      client):
    from hqueue.backends.redis.attachments import RedisAttachments

    att = RedisAttachments(client, lambda n: exp1.keys.trial_attachment(2, n), "trial 2",
                           max_bytes=2**30, chunk_bytes=1024)
    att["weights"] = b"w" * 5000  # five chunks
    result = run_url(redis_url, "show", "2")
    assert result.exit_code == 0, result.output
    assert "weights      5000 bytes" in result.output


def test_export_into_a_closed_pipe_exits_quietly(redis_url, exp1):
    import subprocess
    import sys

    proc = subprocess.run(
        f"{sys.executable} -m hqueue.cli export --url {redis_url} --format csv | true",
        shell=True, capture_output=True, text=True, timeout=60)
    assert "Error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_show_of_a_running_trial_shows_its_partial_result(redis_url, exp1):
    out = run_url(redis_url, "show", "3").output
    assert "partial result" in out and "epoch        3" in out


def test_show_of_an_unknown_tid_is_one_line(redis_url, exp1):
    result = run_url(redis_url, "show", "99")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: experiment 'exp1' has no trial 99 (tids 0-5)"


def test_best_prints_the_best_trial_and_json(redis_url, exp1):
    out = run_url(redis_url, "best").output
    assert out.splitlines()[0] == "best loss 0.5 (trial 1 of 2 done in 'exp1')"
    data = json.loads(run_url(redis_url, "best", "--json").output)
    assert data == {"exp_key": "exp1", "tid": 1, "loss": 0.5, "params": {"opt": 1, "x": -0.5}}


def test_best_without_a_finished_trial_says_so(redis_url, client):
    store = TrialStore(client, "fresh")
    from hqueue.fmin import generate_trial

    store.create([generate_trial(0, {"x": 1.0})])
    result = run_url(redis_url, "best")
    assert result.exit_code == 1 and "has no trial with a loss yet" in result.output


# -- export ----------------------------------------------------------------------------------
def test_export_csv_has_every_param_as_a_column(redis_url, exp1):
    out = run_url(redis_url, "export").output
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["tid"] for r in rows] == ["0", "1", "2", "3", "4", "5"]
    assert {"lr", "opt", "x", "loss", "state", "worker", "duration_s"} <= set(rows[0])
    assert (rows[1]["loss"], rows[1]["opt"], rows[1]["lr"]) == ("0.5", "1", "")


def test_export_json_lines_to_a_file_by_suffix_and_state(redis_url, exp1, tmp_path):
    path = tmp_path / "done.jsonl"
    result = run_url(redis_url, "export", "--state", "done", "--output", str(path))
    assert result.exit_code == 0
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["tid"], r["loss"], r["x"]) for r in rows] == [(0, 2.0, 1.0), (1, 0.5, -0.5)]
    assert run_url(redis_url, "export", "--format", "jsonl").output.count("\n") == 6


# -- plot ------------------------------------------------------------------------------------
def test_plot_writes_a_png(redis_url, exp1, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "exp1.png"
    result = run_url(redis_url, "plot", "--output", str(path))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{path}: 2 trials, best loss 0.5"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_is_one_line_with_the_fix(redis_url, exp1, tmp_path,
                                                           monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    result = run_url(redis_url, "plot", "--output", str(tmp_path / "x.png"))
    assert result.exit_code == 1
    assert result.output.strip() == \
        "Error: hqueue plot needs matplotlib: pip install 'hqueue[plot]'"


# -- errors every command shares -------------------------------------------------------------
@pytest.mark.parametrize("args", [["status"]] + ONE_EXPERIMENT_COMMANDS + [["purge", "-e", "x"]],
                         ids=lambda a: a[0])
def test_unreachable_redis_is_one_line_with_the_fix(args):
    result = run(*args, "--url", "redis://127.0.0.1:1/0")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in result.output
    assert "hqueue serve" in result.output


@pytest.mark.parametrize("args", [["status"]] + ONE_EXPERIMENT_COMMANDS, ids=lambda a: a[0])
def test_a_missing_url_says_how_to_give_one(args, monkeypatch):
    monkeypatch.delenv("HQUEUE_URL", raising=False)
    result = run(*args)
    assert result.exit_code == 1
    assert "no Redis URL: pass --url" in result.output and "HQUEUE_URL" in result.output


def test_a_malformed_url_is_one_line():
    result = run("status", "--url", "http://box:6379")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "redis://, rediss://, unix://" in result.output


def test_the_url_comes_from_hqueue_url(redis_url, exp1):
    result = run("best", env={"HQUEUE_URL": redis_url})
    assert result.exit_code == 0 and "best loss 0.5" in result.output


@pytest.mark.parametrize("args", ONE_EXPERIMENT_COMMANDS + [["purge", "--yes"]],
                         ids=lambda a: a[0])
def test_an_unknown_experiment_names_the_known_ones(redis_url, exp1, args):
    result = run_url(redis_url, *args, "--exp-key", "typo")
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: no experiment 'typo' in this Redis; known "
                                      "experiments: exp1 (pass one with --exp-key)")


def test_without_exp_key_several_experiments_must_be_told_apart(redis_url, exp1, client):
    make_experiment(client, "exp2")
    result = run_url(redis_url, "trials")
    assert result.exit_code == 1
    assert "2 experiments (exp1, exp2): pick one with --exp-key" in result.output
    assert run("trials", "--url", redis_url, env={"HQUEUE_EXP_KEY": "exp2"}).exit_code == 0


def test_wrong_password_is_one_line_and_never_shows_the_password(tmp_path):
    from hqueue.backends.redis.server import RedisServer

    with RedisServer(dir=tmp_path, password="rightpw") as server:
        make_experiment(server.client(), "exp1")
        wrong = server.url.replace("rightpw", "wrongpw")
        for args in (["status"], ["trials"], ["best"]):
            result = run(*args, "--url", wrong)
            assert result.exit_code == 1 and result.output.count("\n") == 1
            assert "refused the credentials" in result.output
            assert "redis://user:pass@host:port/0" in result.output
            assert "wrongpw" not in result.output
        no_password = server.url.replace(":rightpw@", "")
        result = run("status", "--url", no_password)
        assert result.exit_code == 1 and "refused the credentials" in result.output
        assert run("best", "--url", server.url).exit_code == 0


def test_a_redis_failure_mid_command_is_one_line(redis_url, exp1, monkeypatch):
    from hqueue.backends.redis import overview

    def broken(self):
        raise redis.ConnectionError("Connection reset by peer")

    monkeypatch.setattr(overview.ExperimentMirror, "refresh", broken)
    result = run_url(redis_url, "trials")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "Redis failed: Connection reset by peer" in result.output


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_every_command_has_help_with_an_example(command):
    result = run(command.name, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output and f"hqueue {command.name}" in result.output
    if command.name != "demo":
        assert "--url" in result.output and "HQUEUE_URL" in result.output
