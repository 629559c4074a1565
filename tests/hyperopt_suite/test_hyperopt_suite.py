"""Upstream test suites run against hqueue with ``hyperopt`` replaced (see ``runner.py``).

Each release is fetched from the package registry (skipped, with the reason, when that fails)
and its tests run in a subprocess. Every test must pass except those listed, with their reason,
in ``tests/compat/README.md``: a listed test that starts passing, or an unlisted one that fails,
fails here. Ray Tune (a ~400 MB install that starts a Ray cluster) and fugue's tune (an
install of fugue, pandas and pyarrow) run only with ``HQUEUE_COMPAT_HEAVY=1``.
"""

from __future__ import annotations

import os

import pytest

from . import early
from .runner import RegistryUnreachable, SuiteResult, expected_exceptions, summarize
from .suites import FUGUE_TUNE, HPSKLEARN_CI, HYPEROPT, RAY_TUNE, README


def _run(suite, timeout: float = early.TIMEOUT_S) -> SuiteResult:
    """The suite's run (started early when its tests were collected; see early.py)."""
    try:
        return early.result(suite, timeout)
    except RegistryUnreachable as e:
        pytest.skip(f"{suite.requirement} not available here: {e}")


def _assert_only_listed_fail(result: SuiteResult, section: str, targets=("",)) -> None:
    listed = {k: v for k, v in expected_exceptions(README, section).items()
              if k.startswith(tuple(targets))}
    observed = result.not_passing()
    report = summarize(result, listed)
    assert observed - listed.keys() == set(), "unlisted failures:\n" + report
    assert listed.keys() - observed == set(), "listed tests now pass; unlist them:\n" + report


@pytest.fixture(scope="module")
def hyperopt_result() -> SuiteResult:
    return _run(HYPEROPT)


@pytest.mark.upstream_suite(HYPEROPT)
def test_hyperopt_suite_runs_most_tests(hyperopt_result: SuiteResult) -> None:
    assert len(hyperopt_result.by_outcome("passed")) >= 170, hyperopt_result.output_tail


@pytest.mark.upstream_suite(HYPEROPT)
def test_hyperopt_suite_fails_only_the_listed_tests(hyperopt_result: SuiteResult) -> None:
    _assert_only_listed_fail(hyperopt_result, HYPEROPT.section)


@pytest.mark.upstream_suite(HPSKLEARN_CI)
def test_hyperopt_sklearn_estimator_tests_pass_on_hqueue() -> None:
    result = _run(HPSKLEARN_CI)
    assert len(result.by_outcome("passed")) >= 15, result.output_tail
    _assert_only_listed_fail(result, HPSKLEARN_CI.section, HPSKLEARN_CI.targets)


heavy = pytest.mark.skipif(os.environ.get("HQUEUE_COMPAT_HEAVY") != "1",
                           reason="installs a large library in its own environment: set "
                                  "HQUEUE_COMPAT_HEAVY=1 (or run scripts/hyperopt-suite)")


@heavy
def test_ray_tune_hyperoptsearch_examples_run_on_hqueue() -> None:
    result = _run(RAY_TUNE)
    assert len(result.by_outcome("passed")) == 2, result.output_tail
    _assert_only_listed_fail(result, RAY_TUNE.section)


@heavy
def test_fugue_tune_hyperopt_optimizer_tests_pass_on_hqueue() -> None:
    result = _run(FUGUE_TUNE)
    assert len(result.by_outcome("passed")) == 6, result.output_tail
    _assert_only_listed_fail(result, FUGUE_TUNE.section)
