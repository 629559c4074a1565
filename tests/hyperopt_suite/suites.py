"""The upstream suites run against hqueue: hyperopt 0.3.0's own tests and hyperopt-sklearn's.

Each suite knows which release to fetch, which files to copy out of it, what to rename, which
tests it leaves out before running (needs MongoDB, Spark, lightgbm, ... : never run here) and
where its table of expected non-passing tests lives (``tests/compat/README.md``).

Example:
    >>> from tests.hyperopt_suite.suites import HYPEROPT
    >>> HYPEROPT.requirement
    'hyperopt==0.3.0'
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .runner import (
    REPO,
    SuiteResult,
    copy_rewritten,
    extract,
    fetch,
    make_venv,
    run_pytest,
    run_scripts,
    write_alias_shim,
)

README = REPO / "tests" / "compat" / "README.md"


@dataclass(frozen=True)
class Suite:
    """How to run one upstream project's tests against hqueue."""

    name: str
    requirement: str
    sdist: bool
    # (path inside the release, path in the run directory)
    copies: tuple[tuple[str, str], ...]
    renames: dict[str, str]
    targets: tuple[str, ...]
    # pytest arguments that leave tests out, with the reason in a comment at the definition
    leave_out: tuple[str, ...] = ()
    packages: tuple[str, ...] = field(default=())
    section: str = ""
    # when set, the tests run in a cached virtual environment with these installed (and
    # hqueue's run-time dependencies, not hyperopt), not in this interpreter
    install: tuple[str, ...] = ()

    def run(self, workdir: Path | None = None, timeout: float = 600,
            env: Mapping[str, str] | None = None) -> SuiteResult:
        """Fetch, copy, rewrite and run (in ``env``, default this process's environment);
        returns the outcomes (see :func:`run_pytest`)."""
        archive = fetch(self.requirement, sdist=self.sdist)
        python = make_venv(self.name, self.install) if self.install else sys.executable
        with tempfile.TemporaryDirectory(prefix=f"hq-{self.name}-") as tmp:
            top = extract(archive, Path(tmp) / "release")
            root = Path(workdir) if workdir else Path(tmp) / "run"
            for src, dst in self.copies:
                copy_rewritten(top / src, root / dst, self.renames)
            for pkg in self.packages:
                (root / pkg).mkdir(parents=True, exist_ok=True)
                (root / pkg / "__init__.py").touch()
            return run_pytest(root, list(self.targets), extra_args=list(self.leave_out),
                              timeout=timeout, python=python, env=env)


HYPEROPT = Suite(
    name="hyperopt",
    requirement="hyperopt==0.3.0",
    sdist=False,  # the 0.3.0 wheel ships hyperopt/tests and hyperopt/pyll/tests
    copies=(("hyperopt/tests", "upstream/tests"), ("hyperopt/pyll/tests", "upstream/pyll/tests")),
    renames={"hyperopt.tests": "upstream.tests", "hyperopt.pyll.tests": "upstream.pyll.tests"},
    packages=("upstream", "upstream/pyll"),
    targets=("upstream",),
    leave_out=(
        # MongoDB (mongod, pymongo, bson) and Spark (pyspark): external services
        "--ignore=upstream/tests/integration/test_mongoexp.py",
        "--ignore=upstream/tests/integration/test_spark.py",
    ),
    section="Expected exceptions: hyperopt 0.3.0's own tests",
)


HPSKLEARN = Suite(
    name="hyperopt-sklearn",
    requirement="hyperopt-sklearn==1.1.1",
    sdist=True,  # the sdist ships tests/; the wheel does not
    copies=(("hpsklearn", "hpsklearn"), ("tests", "tests")),
    renames={},
    targets=("tests",),
    leave_out=(
        # lightgbm and xgboost are optional estimators hqueue does not install; the lag
        # selectors need pandas, which hqueue[dev] does not install either
        "--ignore=tests/test_components/test_lightgbm.py",
        "--ignore=tests/test_components/test_xgboost.py",
        "--ignore=tests/test_components/test_lagselectors.py",
    ),
    section="Expected exceptions: hyperopt-sklearn 1.1.1's tests",
)
# What CI runs of hyperopt-sklearn (about 40 s; the whole suite takes 14 minutes on a busy
# 2-core machine): the estimator's own tests (fit, predict, refit, partial search, custom
# spaces, tpe/rand/anneal) and a few component spaces (choice, pchoice-free, int-valued).
HPSKLEARN_CI = replace(HPSKLEARN, targets=(
    "tests/test_estimator",
    "tests/test_components/test_dummy.py",
    "tests/test_components/test_discriminant_analysis.py",
    "tests/test_components/test_decomposition",
))


# fugue's ``tune`` (a tuning layer over Fugue): its ``tune_hyperopt`` package (the
# HyperoptLocalOptimizer, ``fmin`` with TPE and ``no_progress_loss``) and that package's tests,
# which run tune's shared optimizer test-suite (``tune_test``); tune and fugue are installed in
# their own environment (hyperopt is not), the three folders are copied and rewritten
FUGUE_TUNE = Suite(
    name="fugue-tune",
    requirement="tune==0.1.6",
    sdist=True,  # the sdist ships tests/ and tune_test/
    copies=(("tune_hyperopt", "tune_hyperopt"), ("tune_test", "tune_test"),
            ("tests/tune_hyperopt", "tests/tune_hyperopt")),
    renames={},
    packages=("tests",),
    targets=("tests/tune_hyperopt",),
    # tune 0.1.6 imports triad.FileSystem, which triad 1.0 (and the fugue needing it) dropped
    install=("tune==0.1.6", "fugue==0.9.1", "triad==0.9.8", "pytest"),
    section="Expected exceptions: fugue tune 0.1.6's hyperopt optimizer tests",
)


@dataclass(frozen=True)
class ExampleSuite:
    """Documented examples of an installed library, run with ``hyperopt`` aliased to hqueue.

    The library is installed in its own cached virtual environment (hyperopt is not); the
    examples are files of its wheel (``wheel_examples``) or of this directory (``own``).
    """

    name: str
    requirement: str
    install: tuple[str, ...]
    wheel_examples: tuple[str, ...]
    own: tuple[str, ...]
    args: tuple[str, ...] = ()
    section: str = ""

    def run(self, workdir: Path | None = None, timeout: float = 900) -> SuiteResult:
        """Fetch the wheel, build the environment, run every example; one outcome each."""
        archive = fetch(self.requirement)
        python = make_venv(self.name, self.install)
        with tempfile.TemporaryDirectory(prefix=f"hq-{self.name}-") as tmp:
            root = Path(workdir) if workdir else Path(tmp)
            top = extract(archive, root / "release")
            shim = write_alias_shim(root / "shim")
            scripts = {path: top / path for path in self.wheel_examples}
            here = Path(__file__).parent / "examples"
            scripts.update({f"tests/hyperopt_suite/examples/{f}": here / f for f in self.own})
            return run_scripts(python, scripts, cwd=root, pythonpath=[shim], args=self.args,
                               timeout=timeout)


RAY_TUNE = ExampleSuite(
    name="ray-tune",
    requirement="ray==2.60.0",
    install=("ray[tune]==2.60.0",),
    wheel_examples=("ray/tune/examples/hyperopt_conditional_search_space_example.py",),
    own=("ray_tune_hyperoptsearch_doc.py",),
    args=("--smoke-test",),
    section="Expected exceptions: Ray Tune 2.60.0's HyperOptSearch examples",
)

SUITES: dict[str, Suite | ExampleSuite] = {
    "hyperopt": HYPEROPT, "hyperopt-sklearn": HPSKLEARN, "ray-tune": RAY_TUNE,
    "fugue-tune": FUGUE_TUNE,
}
