"""Per-trial captured output (issue 13 item 6): what an objective prints is stored per trial
(size-capped), shown by ``hqueue show TID --output`` and the dashboard, and no longer lands
in the worker's log; fd-level in the solo/prefork pools, per thread in the threads pool."""

from __future__ import annotations

import os
import subprocess
import sys

import fakeredis
import numpy as np
import pytest
import redis
from click.testing import CliRunner
from e2e_helpers import SECRET, WorkerPool

from hqueue import fmin, hp, rand
from hqueue.backends.redis.output import TrialOutputs
from hqueue.backends.redis.records import ExperimentRecords
from hqueue.backends.redis.trials import RedisTrials
from hqueue.cli import main
from hqueue.dashboard.model import Dashboard
from hqueue.worker import capture

CAP = 4096


def noisy(x: float) -> float:
    """Writes through every path an objective may use, after a filler larger than CAP."""
    for i in range(400):
        print(f"filler {i:04d} " + "." * 20)
    print(f"print-marker x={x:.3f}")
    print("stderr-marker", file=sys.stderr)
    os.write(1, b"fd-marker\n")
    subprocess.run([sys.executable, "-c", "print('child-marker')"], check=True)
    return x ** 2


def _output(url: str, exp_key: str, tid: int) -> str:
    result = CliRunner().invoke(main, ["show", str(tid), "--output", "--url", url,
                                       "--exp-key", exp_key])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("pool", ["solo", "prefork", "threads"])
def test_an_objectives_output_is_kept_per_trial_and_shown(redis_url, tmp_path, monkeypatch,
                                                          pool):
    monkeypatch.setenv("HQUEUE_SECRET", SECRET)
    workers = WorkerPool(redis_url, tmp_path)
    proc = workers.start(pool=pool, concurrency=2, env={capture.OUTPUT_ENV: str(CAP)})
    try:
        trials = RedisTrials(redis_url, exp_key="out")
        fmin(noisy, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=2, trials=trials,
             rstate=np.random.default_rng(0), show_progressbar=False)
    finally:
        workers.stop_all()
    client = redis.Redis.from_url(redis_url)
    log = workers.log_text(proc)
    for doc in trials.trials:
        tid, x = doc["tid"], doc["misc"]["vals"]["x"][0]
        stored = TrialOutputs(client, "out").read(tid)
        assert stored is not None and len(stored) == CAP  # the last CAP bytes
        text = _output(redis_url, "out", tid)
        assert f"print-marker x={x:.3f}" in text and "stderr-marker" in text
        assert "filler 0000" not in text and "filler 0399" in text
        assert f"print-marker x={x:.3f}" not in log  # no longer in the worker's log
        if pool == "threads":  # per thread: Python-level writes of the objective's thread
            assert "fd-marker" not in text and "child-marker" not in text
        else:  # fd-level: C-level writes and child processes too
            assert "fd-marker" in text and "child-marker" in text
            assert text.index("print-marker") < text.index("fd-marker") < \
                text.index("child-marker")
        view = Dashboard(client).trial_output("out", tid)
        assert view["output"] == text and view["bytes"] == CAP


def test_a_trial_without_output_says_so(redis_url, tmp_path, monkeypatch):
    from hqueue.backends.redis.store import TrialStore
    from hqueue.fmin import generate_trial

    TrialStore(redis.Redis.from_url(redis_url), "quiet").create([generate_trial(0, {"x": 1})])
    result = CliRunner().invoke(main, ["show", "0", "--output", "--url", redis_url,
                                       "--exp-key", "quiet"])
    assert result.exit_code == 0
    assert "trial 0 has no captured output" in result.output


def test_the_output_key_is_deleted_with_the_experiment():
    client = fakeredis.FakeRedis()
    TrialOutputs(client, "gone").write(3, b"hello\n")
    client.sadd("hq:experiments", "gone")
    ExperimentRecords(client, "gone").delete()
    assert TrialOutputs(client, "gone").read(3) is None and client.keys("*") == []


def test_the_cap_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(capture.OUTPUT_ENV, "123")
    assert capture.output_cap() == 123
    monkeypatch.setenv(capture.OUTPUT_ENV, "0")
    client = fakeredis.FakeRedis()
    with capture.TrialCapture(TrialOutputs(client, "e"), 0, mode="thread") as off:
        off.attach()
        print("not captured")
    assert TrialOutputs(client, "e").read(0) is None
    monkeypatch.setenv(capture.OUTPUT_ENV, "lots")
    assert capture.output_cap() == capture.DEFAULT_OUTPUT_BYTES


def test_fd_capture_puts_the_descriptors_and_log_handlers_back(capfd):
    import logging

    client = fakeredis.FakeRedis()
    handler = logging.StreamHandler(sys.__stderr__)
    logging.getLogger("hqueue.test.capture").addHandler(handler)
    try:
        with capture.TrialCapture(TrialOutputs(client, "e"), 1, mode="fd", cap=1000):
            print("inside")
            os.write(2, b"inside-fd2\n")
            logging.getLogger("hqueue.test.capture").error("a worker log line")
            assert handler.stream is not sys.__stderr__
        assert handler.stream is sys.__stderr__
        print("outside")
    finally:
        logging.getLogger("hqueue.test.capture").removeHandler(handler)
    stored = TrialOutputs(client, "e").read(1)
    assert stored == b"inside\ninside-fd2\n"  # the log line went to the worker's log
    out, err = capfd.readouterr()
    assert "outside" in out and "inside" not in out


def test_thread_capture_keeps_concurrent_trials_apart():
    import threading

    client = fakeredis.FakeRedis()
    outputs = TrialOutputs(client, "e")
    both_started = threading.Barrier(2)

    def trial(tid: int) -> None:
        with capture.TrialCapture(outputs, tid, mode="thread", cap=1000) as cap:
            cap.attach()
            both_started.wait(timeout=10)
            for i in range(50):
                print(f"trial {tid} line {i}")

    threads = [threading.Thread(target=trial, args=(t,)) for t in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for tid in (1, 2):
        lines = outputs.read(tid).decode().splitlines()
        assert lines == [f"trial {tid} line {i}" for i in range(50)]
