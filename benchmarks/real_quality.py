"""``real_quality``: regret on real hyperparameter-optimisation problems (tabulated training).

The problems are :mod:`benchmarks.real_problems` (HPOBench-MLP, HPOLib-FCNet, NAS-Bench-201
and two scikit-learn tables): every parameter a grid, every evaluation one random training
seed of the chosen configuration, regret the configuration's mean loss minus the table's best
mean. Runs, caching and statistics are those of :mod:`benchmarks.quality` (cached under
``<out>/raw/real/``); the summary lines compare against Optuna's default TPE. Optuna's
``GPSampler`` (``optuna_gp``, when torch imports) is slow, so it runs on ``--gp-seeds`` seeds
and is reported in its own section, against hqueue's default and Optuna's TPE on the same
seeds.

Example:
    python -m benchmarks real_quality --quick
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from benchmarks import peers, quality, quality_report, report
from benchmarks.real_problems import get_real_problem, real_problems

DEFAULT_ALGOS = ("hqueue_tpe", "hyperopt_tpe", "hyperopt_anneal", "optuna_tpe", "optuna_gp",
                 "hyperopt_rand")
DEFAULT_BUDGETS = (25, 50, 100)
QUICK_PROBLEMS = ("hpobench_car", "svc_digits")
REFERENCE = "optuna_tpe"
GP = "optuna_gp"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m benchmarks real_quality``."""
    csv = lambda t: [x.strip() for x in t.split(",") if x.strip()]  # noqa: E731
    parser.add_argument("--algos", type=csv, default=list(DEFAULT_ALGOS))
    parser.add_argument("--problems", type=csv, default=None, help="default: every problem")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default 20)")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="seeds FIRST..FIRST+N-1 (default 0; e.g. 20 to check an ablation "
                             "on seeds it was not chosen on)")
    parser.add_argument("--gp-seeds", type=int, default=5,
                        help="seeds for optuna_gp (slow; default 5)")
    parser.add_argument("--gp-problems", type=csv, default=None,
                        help="problems for optuna_gp (default: all of --problems)")
    parser.add_argument("--budgets", type=lambda t: sorted(int(x) for x in csv(t)),
                        default=None, help="default 25,50,100 (quick: 10,20)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--rerun", action="store_true", help="ignore cached runs")
    parser.add_argument("--report-name", default="real_quality",
                        help="name of the report and its plots (e.g. for an ablation that "
                             "shares the run cache; default real_quality)")


def main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Plan, run what is not cached, analyse, print and write ``real_quality.md``."""
    budgets = args.budgets or ([10, 20] if args.quick else list(DEFAULT_BUDGETS))
    seeds = args.seeds or (2 if args.quick else 20)
    problems = args.problems or (list(QUICK_PROBLEMS) if args.quick else list(real_problems()))
    for name in problems:
        get_real_problem(name)
    gp_problems = set(args.gp_problems or problems)
    specs = [peers.parse_algo(a) for a in args.algos] + list(args.variant)
    out = report.output_dir(args.quick, args.out)
    notes: list[str] = []
    cells = quality.plan(specs, problems, seeds, max(budgets), out / "raw" / "real", notes,
                         suite="real", seeds_of={GP: min(args.gp_seeds, seeds)},
                         first_seed=args.first_seed)
    cells = [c for c in cells if c.spec.name != GP or c.problem in gp_problems]
    cached = {} if args.rerun else {c: quality.load_cached(c) for c in cells}
    todo = [c for c in cells if cached.get(c) is None]
    print(f"{len(cells)} runs: {len(cells) - len(todo)} cached, {len(todo)} to do "
          f"with {args.jobs} jobs", flush=True)
    records = [r for r in cached.values() if r is not None] + quality.execute(todo, args.jobs)
    errors = [r for r in records if "error" in r]
    notes += [f"FAILED {r['algo']} on {r['problem']} seed {r['seed']}: {r['error']}"
              for r in errors]
    ok = [r for r in records if "error" not in r]
    planned = [s for s in specs if any(c.spec == s for c in cells)]
    main_specs = [s for s in planned if s.name != GP]
    analysis = quality_report.analyse([r for r in ok if r["algo"] != GP], main_specs, problems,
                                      budgets, lookup=get_real_problem, reference=REFERENCE)
    body = quality_report.render(analysis)
    pngs = quality_report.plot(analysis, out, prefix=args.report_name)
    if any(s.name == GP for s in planned):
        body += "\n" + _gp_section(ok, planned, problems, gp_problems, budgets, args.gp_seeds)
    else:
        notes.append(f"{GP} not run (not in --algos, or torch does not import)")
    print(body)
    env = report.environment(argv)
    text = report.header_markdown("optimisation quality on real HPO problems", env, notes)
    md = report.write_text(out / f"{args.report_name}.md", text + "\n" + body)
    print(f"wrote {md} and {', '.join(map(str, pngs))}")
    return 1 if errors else 0


def _gp_section(records: list[dict], specs: Sequence[peers.AlgoSpec], problems: Sequence[str],
                gp_problems: set[str], budgets: Sequence[int], gp_seeds: int) -> str:
    """Optuna's GPSampler next to hqueue's TPE and Optuna's TPE, on GP's seeds and problems."""
    names = {"hqueue_tpe", REFERENCE, GP}
    subset = [p for p in problems if p in gp_problems]
    first = min((r["seed"] for r in records), default=0)
    kept = [r for r in records if r["algo"] in names and r["seed"] < first + gp_seeds
            and r["problem"] in subset]
    gp_specs = [s for s in specs if s.name in names]
    analysis = quality_report.analyse(kept, gp_specs, subset, budgets,
                                      lookup=get_real_problem, reference=GP)
    text = quality_report.render(analysis).split("\n## ", 1)  # drop the problem table
    sections = "## " + text[1] if len(text) > 1 else ""
    sections = sections.replace("\n## Budget", "\n### GP: budget").replace(
        "## Budget", "### GP: budget", 1)
    return (f"## Optuna GPSampler (separate column: {gp_seeds} seeds, {len(subset)} "
            "problems)\n\nOptuna's `GPSampler` (default settings) is slow (seconds per "
            "suggestion), so it runs on fewer seeds; this section compares it with hqueue's "
            "default TPE and Optuna's default TPE on the same seeds and problems only.\n\n"
            + sections)
