"""``python -m benchmarks <name> [options]``: run one benchmark and write its report.

Names: ``suggest_latency``, ``serial_overhead``, ``quality``, ``dispatch``, ``driver_capacity``,
``parallel_quality``, ``memory``, ``scaling``, ``real_quality``, ``pruning``,
``pruning_real``, ``source_ab`` (two hqueue source trees, interleaved). Common options:
``--quick`` (tiny sizes, output under ``benchmarks/results/quick/``), ``--out DIR``, ``--variant
NAME='{json}'`` (an hqueue TPE with those keyword arguments; repeatable) and ``--hqueue-module
MODULE`` (run the hqueue adapter on another module, e.g. ``hyperopt``, to test the harness;
reports say so).

Example:
    python -m benchmarks quality --quick --variant g15='{"gamma": 0.15}'
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from benchmarks import peers

BENCHMARKS = (
    "suggest_latency",
    "serial_overhead",
    "quality",
    "dispatch",
    "driver_capacity",
    "parallel_quality",
    "memory",
    "scaling",
    "real_quality",
    "pruning",
    "pruning_real",
    "source_ab",
)


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quick", action="store_true", help="tiny smoke run into results/quick/")
    common.add_argument("--out", default=None, help="output folder (default benchmarks/results)")
    common.add_argument(
        "--variant",
        action="append",
        type=peers.parse_variant,
        default=[],
        metavar="NAME='{json}'",
        help="extra algorithm partial(hqueue.tpe.suggest, **json); repeatable",
    )
    common.add_argument(
        "--hqueue-module",
        default=None,
        metavar="MODULE",
        help="module standing in for hqueue (harness testing only)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The CLI: one sub-command per benchmark, each with its own options."""
    from benchmarks import (
        dispatch,
        driver_capacity,
        memory,
        parallel_quality,
        pruning,
        pruning_real,
        quality,
        real_quality,
        scaling,
        serial_overhead,
        source_ab,
        suggest_latency,
    )

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(
        dest="name", required=True, metavar="{" + ",".join(BENCHMARKS) + "}"
    )
    for name, module in (
        ("suggest_latency", suggest_latency),
        ("serial_overhead", serial_overhead),
        ("quality", quality),
        ("dispatch", dispatch),
        ("driver_capacity", driver_capacity),
        ("parallel_quality", parallel_quality),
        ("memory", memory),
        ("scaling", scaling),
        ("real_quality", real_quality),
        ("pruning", pruning),
        ("pruning_real", pruning_real),
        ("source_ab", source_ab),
    ):
        p = sub.add_parser(name, parents=[_common()], help=(module.__doc__ or "").split("\n")[0])
        module.add_arguments(p)
        p.set_defaults(main=module.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run the chosen benchmark."""
    argv = list(sys.argv[1:] if argv is None else argv)
    hq_module = _pre_scan_module(argv)
    if hq_module:  # set before any library import, and inherited by pool workers
        os.environ[peers.HQUEUE_MODULE_ENV] = hq_module
    args = build_parser().parse_args(argv)
    return int(args.main(args, argv) or 0)


def _pre_scan_module(argv: Sequence[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--hqueue-module" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--hqueue-module="):
            return arg.split("=", 1)[1]
    return None


if __name__ == "__main__":
    sys.exit(main())
