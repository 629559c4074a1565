"""``python -m tests.hyperopt_suite [--suite NAME] [--keep DIR]``: run one upstream suite
against hqueue and print its report (see ``tests/compat/README.md``).

Exit status: 0 when the not-passing tests are exactly the listed ones, 1 otherwise, 2 when
the release cannot be downloaded.
"""

from __future__ import annotations

import argparse
import sys
import time

from .runner import RegistryUnreachable, expected_exceptions, summarize
from .suites import README, SUITES


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the suite, print the report; returns the exit status."""
    parser = argparse.ArgumentParser(prog="scripts/hyperopt-suite", description=__doc__)
    parser.add_argument("--suite", choices=sorted(SUITES), default="hyperopt")
    parser.add_argument("--keep", metavar="DIR", help="run in DIR and keep the files")
    args = parser.parse_args(argv)
    suite = SUITES[args.suite]
    start = time.monotonic()
    try:
        result = suite.run(workdir=args.keep, timeout=3600)
    except RegistryUnreachable as e:
        print(f"skipped: {e}", file=sys.stderr)
        return 2
    expected = expected_exceptions(README, suite.section)
    print(f"{suite.requirement} against hqueue ({time.monotonic() - start:.0f} s): "
          + summarize(result, expected))
    observed = result.not_passing()
    for nodeid in sorted(expected.keys() - observed):
        print(f"  listed but passing now: {nodeid}")
    return 0 if observed == expected.keys() else 1


if __name__ == "__main__":
    sys.exit(main())
