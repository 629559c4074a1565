"""Shared set-up for the hyperopt drop-in compatibility suite.

Every test here must also pass with hyperopt 0.3.0 standing in for hqueue (see README.md).
Tests marked ``hqueue_only`` check behaviour hqueue promises beyond hyperopt 0.3.0; they are
skipped when the shim built by ``make_hyperopt_shim.py`` is the ``hqueue`` on the path.
"""

from __future__ import annotations

import pytest


def _running_under_hyperopt_shim() -> bool:
    try:
        import hqueue
    except Exception:  # the library may not import yet: tests will then fail on their own
        return False
    return bool(getattr(hqueue, "__hqueue_shim__", False))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "hqueue_only: behaviour hqueue promises beyond hyperopt 0.3.0 (skipped under the shim)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _running_under_hyperopt_shim():
        return
    skip = pytest.mark.skip(reason="hqueue-only behaviour; not present in hyperopt 0.3.0")
    for item in items:
        if item.get_closest_marker("hqueue_only") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_fmin_seed_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """HYPEROPT_FMIN_SEED from the caller's shell must not leak into these tests."""
    monkeypatch.delenv("HYPEROPT_FMIN_SEED", raising=False)
