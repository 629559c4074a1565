"""``hqueue worker``: one process per GPU, signal forwarding, clear errors, a real run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from hqueue import fmin, hp, rand
from hqueue.backends.redis.trials import RedisTrials
from hqueue.cli import main
from hqueue.exceptions import HqueueError
from hqueue.worker import launch


class FakeProc:
    def __init__(self, cmd, env):
        self.cmd, self.env, self.returncode, self.signals = cmd, env, None, []
        self.pid = 4_000_000  # no such process

    def poll(self):
        return self.returncode

    def send_signal(self, sig):
        self.signals.append(sig)
        self.returncode = 0


def test_one_worker_process_per_gpu_with_cuda_visible_devices(redis_url, monkeypatch):
    started = []

    def popen(cmd, env, **options):
        proc = FakeProc(cmd, env)
        proc.returncode = 0  # exits at once
        started.append(proc)
        return proc

    assert launch.run_workers(redis_url, gpus=["0", "1"], queues=["gpu"], popen=popen) == 0
    assert [p.env["CUDA_VISIBLE_DEVICES"] for p in started] == ["0", "1"]
    assert all(p.env["HQUEUE_URL"] == redis_url for p in started)
    assert all("--queues=gpu" in p.cmd and "hqueue.worker" in p.cmd for p in started)


def test_gpus_are_validated():
    assert launch.parse_gpus("0, 1") == ["0", "1"] and launch.parse_gpus("") is None
    with pytest.raises(HqueueError, match="GPU indices"):
        launch.parse_gpus("zero")


def test_unreachable_redis_is_one_line_with_the_fix():
    result = CliRunner().invoke(main, ["worker", "--url", "redis://127.0.0.1:1/0"])
    assert result.exit_code == 1
    assert "cannot reach Redis" in result.output and "hqueue serve" in result.output
    assert "Traceback" not in result.output


def test_wrong_password_names_the_fix_and_hides_the_password(tmp_path):
    from hqueue.backends.redis.server import RedisServer

    with RedisServer(dir=tmp_path, password="rightpw") as server:
        url = server.url.replace("rightpw", "wrongpw")
        with pytest.raises(launch.RedisUnreachable, match="credentials") as info:
            launch.check_redis(url)
        launch.check_redis(server.url)
    assert "wrongpw" not in str(info.value)


def test_worker_help_shows_an_example():
    result = CliRunner().invoke(main, ["worker", "--help"])
    assert result.exit_code == 0 and "--gpus 0,1" in result.output


def test_hqueue_worker_evaluates_trials_and_stops_on_sigterm(redis_url, monkeypatch):
    monkeypatch.setenv("HQUEUE_SECRET", "cli-secret-0123456789abcdef")
    proc = subprocess.Popen([sys.executable, "-m", "hqueue.cli", "worker", "--url", redis_url,
                             "--pool", "solo", "--loglevel", "WARNING"],
                            env=dict(os.environ), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        trials = RedisTrials(redis_url, exp_key="cli")
        fmin(lambda x: x ** 2, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=5,
             trials=trials, rstate=np.random.default_rng(0), show_progressbar=False)
        assert len(trials) == 5
    finally:
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]


def test_an_experiment_routed_to_a_named_queue_reaches_only_that_queues_workers(
        redis_url, monkeypatch):
    monkeypatch.setenv("HQUEUE_SECRET", "cli-secret-0123456789abcdef")
    gpu = subprocess.Popen([sys.executable, "-m", "hqueue.cli", "worker", "--url", redis_url,
                            "--pool", "solo", "--queues", "gpu", "--loglevel", "WARNING"],
                           env=dict(os.environ), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        trials = RedisTrials(redis_url, exp_key="routed", queue="gpu")
        fmin(lambda x: x ** 2, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=3,
             trials=trials, rstate=np.random.default_rng(0), show_progressbar=False)
        assert len(trials) == 3
        import redis

        client = redis.Redis.from_url(redis_url)
        assert client.llen("hqueue") == 0  # nothing went to the default queue
    finally:
        gpu.send_signal(signal.SIGTERM)
        gpu.wait(timeout=30)
