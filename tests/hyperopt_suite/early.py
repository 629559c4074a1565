"""Upstream suites started in the background as soon as pytest has collected their tests.

An upstream suite is one long subprocess (hyperopt 0.3.0's tests: minutes) that the pytest
process only waits on. Started when collection ends (``conftest.py``), it runs beside the rest
of the session, one suite at a time, in the environment the session started with; the tests
that read it run last and wait for its result. A suite whose tests were not selected is not
started; one that is still running when the session ends is killed.

Example:
    early.start(HYPEROPT, timeout=900)      # at the end of collection
    result = early.result(HYPEROPT, 900)    # in the test: waits, or runs it now if not started
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor

from .runner import SuiteResult, stop_running
from .suites import Suite

TIMEOUT_S = 900  # a safety net for one suite's run, never a performance assertion

_pool: ThreadPoolExecutor | None = None
_started: dict[str, Future] = {}


def start(suite: Suite, timeout: float) -> None:
    """Queue ``suite`` to run in the background (once per session; at most one at a time)."""
    global _pool
    if suite.name in _started:
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="upstream-suite")
    _started[suite.name] = _pool.submit(suite.run, timeout=timeout, env=dict(os.environ))


def result(suite: Suite, timeout: float) -> SuiteResult:
    """The outcome of ``suite``: the background run's (waiting for it), else a run now.
    Raises what the run raised (``RegistryUnreachable`` when the release cannot be fetched)."""
    future = _started.get(suite.name)
    if future is None:
        return suite.run(timeout=timeout)
    return future.result()


def stop() -> None:
    """Drop the suites not begun and kill the one running (the session is over)."""
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
    stop_running()
