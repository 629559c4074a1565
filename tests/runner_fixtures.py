"""Fixtures and helpers for tests that run the worker's runner in this process (no Celery): a
fresh process state per test, a store on fakeredis and on the session's real redis-server
(conftest's ``store_client``), and what a driver would have written (a signed domain, trials).

Example (in a test module):
    from runner_fixtures import SECRET, add_trial, fresh_runner_state, publish_domain, ...

    _fresh = fresh_runner_state(SECRET)
    store = store_fixture("exp")

    def test_it_runs(store):
        publish_domain(store, Domain(square, SPACE))
        assert run_trial(store, add_trial(store), owner="w1") == "done"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hqueue import Domain, hp
from hqueue.backends.redis.store import TrialStore
from hqueue.cache import clear_process_cache
from hqueue.fmin import generate_trial
from hqueue.pyll import rec_eval
from hqueue.security import dumps_domain
from hqueue.worker.runner import accept_trials

SECRET = b"worker-test-secret-0123456789abcdef"
SPACE = {"x": hp.uniform("x", -1, 1)}


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

    @pytest.fixture
    def store(store_client):
        return TrialStore(store_client, exp_key)

    return store


def publish_domain(store: TrialStore, domain: Domain, secret: bytes = SECRET,
                   **options: Any) -> str:
    """What the driver does: the signed domain under its digest, the options in meta (lease
    30 s, 3 retries, a 1 KiB attachment cap unless ``options`` say otherwise). Returns the
    domain's digest."""
    digest, blob = dumps_domain(domain, store.exp_key, secret)
    store.client.set(store.keys.domain(digest), blob)
    meta = {"domain": digest, "queue": "hqueue", "lease_s": 30, "max_retries": 3,
            "trial_timeout": "", "max_attachment_bytes": 1024}
    meta.update({k: "" if v is None else v for k, v in options.items()})
    store.client.hset(store.keys.meta, mapping=meta)
    return digest


def add_trial(store: TrialStore, x: float = 0.5) -> int:
    """One NEW trial at ``{"x": x}``, created as a driver creates it; returns its tid."""
    [tid] = store.new_tids(1)
    doc = generate_trial(tid, {"x": x})
    doc["exp_key"] = store.exp_key
    assert store.create([doc]) == [tid]
    return tid


def with_ctrl(fn: Callable[[dict, Any], Any]) -> Domain:
    """A Domain over ``SPACE`` whose objective is ``fn(cfg, ctrl)``."""

    def objective(expr, memo, ctrl):
        return fn(rec_eval(expr, memo=memo), ctrl)

    return Domain(objective, SPACE, pass_expr_memo_ctrl=True)
