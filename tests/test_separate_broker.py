"""A Celery broker apart from the trial store: ``RedisTrials(url, broker_url=...)``, ``hqueue
worker --broker-url`` / ``$HQUEUE_BROKER_URL``. End to end with two real redis-servers (trial
state on one, the broker on the other), and on RabbitMQ when ``rabbitmq-server`` is here."""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from hqueue import fmin, hp, rand
from hqueue.backends.redis.trials import RedisTrials
from hqueue.tasks import BROKER_URL_ENV, broker_config, resolve_broker


def test_the_broker_is_the_argument_then_the_env_var_then_the_store(monkeypatch):
    monkeypatch.delenv(BROKER_URL_ENV, raising=False)
    assert resolve_broker("redis://state/0") == "redis://state/0"
    monkeypatch.setenv(BROKER_URL_ENV, "redis://env/1")
    assert resolve_broker("redis://state/0") == "redis://env/1"
    assert resolve_broker("redis://state/0", "amqp://mq//") == "amqp://mq//"


def test_a_rabbitmq_broker_gets_no_redis_transport_options():
    assert broker_config("amqp://guest:guest@mq:5672//")["broker_transport_options"] == {}
    assert "visibility_timeout" in broker_config("redis://h/0")["broker_transport_options"]


def test_redis_trials_keeps_its_broker_across_pickling(redis_url):
    trials = RedisTrials(redis_url, "e1", broker_url="amqp://mq//")
    assert pickle.loads(pickle.dumps(trials)).broker_url == "amqp://mq//"
    assert trials.view("e2", refresh=False).broker_url == "amqp://mq//"


def test_hqueue_worker_hands_the_broker_url_to_its_workers(monkeypatch):
    from hqueue.cli import main
    from hqueue.worker import launch

    seen = {}

    def run_workers(url, **kwargs):
        seen.update(kwargs, url=url)
        return 0

    monkeypatch.setattr(launch, "run_workers", run_workers)
    result = CliRunner().invoke(main, ["worker", "--url", "redis://state:6379/0",
                                       "--broker-url", "redis://broker:6379/0"])
    assert result.exit_code == 0, result.output
    assert seen["url"] == "redis://state:6379/0"
    assert seen["broker_url"] == "redis://broker:6379/0"


def test_launched_workers_get_the_broker_in_their_environment(monkeypatch):
    from hqueue.worker import launch

    envs = []

    class Proc:
        returncode = 0
        pid = 2 ** 22 + 1  # no such process: nothing of its to hand back

        def poll(self):
            return 0

    def popen(cmd, env, preexec_fn):
        envs.append(env)
        return Proc()

    monkeypatch.setattr(launch, "check_redis", lambda url: None)
    launch.run_workers("redis://state/0", popen=popen, broker_url="redis://broker/0")
    assert envs[0]["HQUEUE_URL"] == "redis://state/0"
    assert envs[0][BROKER_URL_ENV] == "redis://broker/0"


def square(x: float) -> float:
    return x * x


def _search(state_url: str, broker_url: str, pool, n: int) -> str:
    exp = f"broker-{os.getpid()}-{time.monotonic_ns()}"
    pool.start(env={BROKER_URL_ENV: broker_url})
    fmin(square, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=n, max_queue_len=4,
         trials=RedisTrials(state_url, exp, broker_url=broker_url), show_progressbar=False,
         timeout=120)  # tasks sent where no worker listens would wait forever
    return exp


@pytest.fixture
def broker_redis(tmp_path):
    from hqueue.backends.redis.server import RedisServer

    with RedisServer(dir=tmp_path / "broker") as server:
        yield server


def test_tasks_travel_on_the_broker_redis_and_trials_stay_in_the_state_redis(
        redis_url, broker_redis, tmp_path, monkeypatch):
    import redis
    from e2e_helpers import SECRET, WorkerPool, check_exactly_once

    monkeypatch.setenv("HQUEUE_SECRET", SECRET)
    monkeypatch.delenv(BROKER_URL_ENV, raising=False)
    state, broker = redis.Redis.from_url(redis_url), redis.Redis.from_url(broker_redis.url)
    state.config_resetstat()
    broker.config_resetstat()
    pool = WorkerPool(redis_url, tmp_path)
    try:
        exp = _search(redis_url, broker_redis.url, pool, n=12)
    finally:
        pool.stop_all()
    check_exactly_once(redis_url, exp, 12)
    broker_calls = {k: v["calls"] for k, v in broker.info("commandstats").items()}
    state_calls = {k: v["calls"] for k, v in state.info("commandstats").items()}
    assert broker_calls.get("cmdstat_lpush", 0) >= 12  # the tasks were sent there
    assert broker_calls.get("cmdstat_brpop", 0) >= 12  # and taken from there
    assert "cmdstat_lpush" not in state_calls and "cmdstat_brpop" not in state_calls
    assert broker.keys("_kombu.binding.*")  # Celery's queue bindings live on the broker
    assert not state.keys("_kombu*") and not broker.keys("hq:*")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def rabbitmq():
    """A ``rabbitmq-server`` of its own (node, ports and data in a temporary folder that its
    ``rabbitmq`` user can write: Debian's script drops root)."""
    server = shutil.which("rabbitmq-server") or (
        "/usr/sbin/rabbitmq-server" if os.path.exists("/usr/sbin/rabbitmq-server") else None)
    if server is None:
        pytest.skip("rabbitmq-server is not installed")
    with tempfile.TemporaryDirectory(prefix="hqueue-rabbitmq-") as folder:
        os.chmod(folder, 0o777)
        yield from _run_rabbitmq(server, Path(folder))


def _run_rabbitmq(server: str, tmp_path: Path) -> Iterator[str]:
    port, dist = _free_port(), _free_port()
    node = f"hqtest{port}@localhost"
    env = dict(os.environ, RABBITMQ_NODE_PORT=str(port), RABBITMQ_NODENAME=node,
               RABBITMQ_DIST_PORT=str(dist), RABBITMQ_MNESIA_BASE=str(tmp_path / "mnesia"),
               RABBITMQ_LOG_BASE=str(tmp_path / "log"), RABBITMQ_ENABLED_PLUGINS="[]",
               RABBITMQ_ENABLED_PLUGINS_FILE=str(tmp_path / "plugins"),
               HOME=str(tmp_path))
    (tmp_path / "plugins").write_text("[].\n")
    os.chmod(tmp_path / "plugins", 0o666)
    proc = subprocess.Popen([server], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"amqp://guest:guest@127.0.0.1:{port}//"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"rabbitmq-server did not start (status {proc.poll()})")
                time.sleep(0.5)
        yield url
    finally:
        _signal(proc.pid, signal.SIGTERM, group=True)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            _signal(proc.pid, signal.SIGKILL, group=True)
            proc.wait()
        for pid in _node_pids(node):  # the Erlang VM can outlive its wrapper script
            _signal(pid, signal.SIGKILL)


def _node_pids(node: str) -> list[int]:
    """Processes started for the RabbitMQ node ``node`` (this test's only: its environment
    names it)."""
    marker, pids = f"RABBITMQ_NODENAME={node}\0".encode(), []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "environ").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _signal(pid: int, sig: int, group: bool = False) -> None:
    try:
        os.killpg(pid, sig) if group else os.kill(pid, sig)
    except ProcessLookupError:  # already gone
        pass


def test_a_search_runs_with_rabbitmq_as_the_broker(redis_url, rabbitmq, tmp_path, monkeypatch):
    import redis
    from e2e_helpers import SECRET, WorkerPool, check_exactly_once

    monkeypatch.setenv("HQUEUE_SECRET", SECRET)
    monkeypatch.delenv(BROKER_URL_ENV, raising=False)
    state = redis.Redis.from_url(redis_url)
    state.config_resetstat()
    pool = WorkerPool(redis_url, tmp_path)
    try:
        exp = _search(redis_url, rabbitmq, pool, n=8)
    finally:
        pool.stop_all()
    check_exactly_once(redis_url, exp, 8)
    state_calls = {k: v["calls"] for k, v in state.info("commandstats").items()}
    assert "cmdstat_lpush" not in state_calls and "cmdstat_brpop" not in state_calls
