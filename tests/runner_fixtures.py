"""Fixtures for tests that run the worker's runner in this process (no Celery): a fresh
process state per test and a store on fakeredis and on the session's real redis-server.

Example (in a test module):
    from runner_fixtures import fresh_runner_state, store_fixture

    SECRET = b"..."
    _fresh = fresh_runner_state(SECRET)
    store = store_fixture("exp")
"""

from __future__ import annotations

from collections.abc import Callable

import fakeredis
import pytest
import redis

from hqueue.backends.redis.store import TrialStore
from hqueue.cache import clear_process_cache
from hqueue.worker.runner import accept_trials


def fresh_runner_state(secret: bytes) -> Callable:
    """An autouse fixture: ``HQUEUE_SECRET`` set, the process caches cleared, trials
    accepted (as after a worker's start)."""

    @pytest.fixture(autouse=True)
    def _fresh_runner_state(monkeypatch):
        monkeypatch.setenv("HQUEUE_SECRET", secret.decode())
        clear_process_cache()
        accept_trials()

    return _fresh_runner_state


def store_fixture(exp_key: str) -> Callable:
    """A ``store`` fixture: a TrialStore of ``exp_key`` on fakeredis, then on a real Redis."""

    @pytest.fixture(params=["fakeredis", "real"])
    def store(request):
        if request.param == "fakeredis":
            return TrialStore(fakeredis.FakeRedis(), exp_key)
        return TrialStore(redis.Redis.from_url(request.getfixturevalue("redis_url")), exp_key)

    return store
