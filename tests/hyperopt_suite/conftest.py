"""``examples/`` holds scripts run inside other libraries' environments (Ray Tune, fugue
tune), not tests.

Tests marked ``upstream_suite(SUITE)`` read one long upstream run: it starts in the
background when collection ends (see ``early.py``) and those tests run last, so the rest of
the session runs beside it instead of before it.
"""

from __future__ import annotations

import pytest

from . import early

collect_ignore = ["examples"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "upstream_suite(suite): reads that upstream suite's run, started early")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Move the tests that wait on an upstream run to the end of the session."""
    waiting = [item for item in items if item.get_closest_marker("upstream_suite")]
    if waiting:
        ids = {id(item) for item in waiting}
        items[:] = [item for item in items if id(item) not in ids] + waiting


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start every upstream suite that a selected test reads."""
    if session.config.option.collectonly:
        return
    for item in session.items:
        marker = item.get_closest_marker("upstream_suite")
        if marker is not None:
            early.start(marker.args[0], timeout=early.TIMEOUT_S)


def pytest_sessionfinish(session: pytest.Session) -> None:
    early.stop()
