"""``quality``: regret of each optimiser on the problem suite, many seeds, cached and resumable.

One run of ``max(budgets)`` evaluations per (algorithm, problem, seed) gives the regret at every
smaller budget too. Runs execute in a process pool (``--jobs``); each finished run is written as
JSON under ``<out>/raw/<algo>/<problem>/seed<k>.json`` so an interrupted benchmark resumes where
it stopped. A cached run is reused only if its *fingerprint* still matches: library version (for
hqueue: a hash of its source files, so editing hqueue re-runs hqueue cells only), variant
kwargs, and a hash of the problem suite and runner code. The analysis lives in
:mod:`benchmarks.quality_report`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks import peers, quality_report, report
from benchmarks.peers import AlgoSpec, PeerUnavailable
from benchmarks.problems import PROBLEMS, get_problem

DEFAULT_ALGOS = ("hqueue_tpe", "hyperopt_tpe", "hyperopt_anneal", "optuna_tpe", "hyperopt_rand")
DEFAULT_BUDGETS = (100, 200)
QUICK_PROBLEMS = ("branin", "conditional")
_HARNESS_FILES = {
    "synthetic": ("problems.py", "functions.py", "peers.py"),
    "real": ("real_problems.py", "peers.py"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m benchmarks quality``."""
    csv = lambda t: [x.strip() for x in t.split(",") if x.strip()]  # noqa: E731
    parser.add_argument("--algos", type=csv, default=list(DEFAULT_ALGOS))
    parser.add_argument("--problems", type=csv, default=None, help="default: the whole suite")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 20)")
    parser.add_argument(
        "--budgets",
        type=lambda t: sorted(int(x) for x in csv(t)),
        default=None,
        help="default 100,200 (quick: 15,30)",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rerun", action="store_true", help="ignore cached runs")


@dataclass(frozen=True)
class Cell:
    """One run to do: an algorithm on a problem with a seed, for ``budget`` evaluations."""

    spec: AlgoSpec
    problem: str
    seed: int
    budget: int
    fingerprint: str
    path: str
    suite: str = "synthetic"  # "synthetic" (problems.py) or "real" (real_problems.py)


def _sha(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def library_fingerprint(library: str) -> str:
    """Version for peers; version plus a hash of the package's sources for hqueue."""
    mod = peers.load_library(library)
    version = f"{mod.__name__} {getattr(mod, '__version__', '?')}"
    return f"{version} src:{peers.source_hash(mod)}" if library == "hqueue" else version


def fingerprint(spec: AlgoSpec, libs: dict[str, str], suite: str = "synthetic") -> str:
    """Everything that, if changed, makes a cached run stale."""
    here = Path(__file__).resolve().parent
    return json.dumps(
        {
            "lib": libs[spec.library],
            "kwargs": spec.kwargs_json,
            "suite": _sha([here / f for f in _HARNESS_FILES[suite] if (here / f).exists()]),
        },
        sort_keys=True,
    )


def cache_name(spec: AlgoSpec) -> str:
    """Folder name of an algorithm's runs; stand-in hqueue runs never mix with real ones."""
    return (
        f"{spec.name}@{peers.hqueue_module_name()}"
        if (spec.library == "hqueue" and peers.is_stand_in())
        else spec.name
    )


def load_cached(cell: Cell) -> dict[str, Any] | None:
    """The cached record for ``cell`` if it is complete and current, else None."""
    try:
        record = json.loads(Path(cell.path).read_text())
    except (OSError, ValueError):
        return None
    if record.get("fingerprint") != cell.fingerprint or len(record["losses"]) < cell.budget:
        return None
    return record


def find_problem(suite: str, name: str) -> Any:
    """A problem of the synthetic suite (:mod:`.problems`) or of the real one
    (:mod:`.real_problems`) by name."""
    if suite == "real":
        from benchmarks.real_problems import get_real_problem

        return get_real_problem(name)
    return get_problem(name)


def run_cell(cell: Cell) -> dict[str, Any]:
    """Run one cell (in a worker process) and write its JSON record atomically."""
    try:
        result = peers.run(cell.spec, find_problem(cell.suite, cell.problem), cell.budget,
                           cell.seed)
    except Exception as exc:  # noqa: BLE001 - reported in the summary, the other cells go on
        return {
            "error": f"{type(exc).__name__}: {exc}",
            "algo": cell.spec.name,
            "problem": cell.problem,
            "seed": cell.seed,
        }
    record = {
        "algo": cell.spec.name,
        "spec": asdict(cell.spec),
        "problem": cell.problem,
        "seed": cell.seed,
        "budget": cell.budget,
        "fingerprint": cell.fingerprint,
        "losses": result.losses.tolist(),
        "clean": result.clean.tolist(),
        "seconds": result.seconds,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    path = Path(cell.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)
    return record


def execute(cells: Sequence[Cell], jobs: int) -> list[dict[str, Any]]:
    """Run cells in a spawn-based pool (or inline with one job), with a progress bar."""
    from tqdm import tqdm

    if not cells:
        return []
    if jobs <= 1:
        return [run_cell(c) for c in tqdm(cells, desc="runs")]
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")  # one core per worker process
    with mp.get_context("spawn").Pool(jobs) as pool:
        return list(tqdm(pool.imap_unordered(run_cell, cells), total=len(cells), desc="runs"))


def plan(
    specs: Sequence[AlgoSpec],
    problems: Sequence[str],
    seeds: int,
    budget: int,
    raw: Path,
    notes: list[str],
    suite: str = "synthetic",
    seeds_of: dict[str, int] | None = None,
    first_seed: int = 0,
) -> list[Cell]:
    """Every cell to consider; algorithms whose library does not import are dropped.
    ``seeds_of`` gives some algorithms fewer seeds (slow peers); seeds start at
    ``first_seed`` (a later range holds out seeds an ablation was not chosen on)."""
    libs: dict[str, str] = {}
    cells = []
    for spec in specs:
        try:
            libs.setdefault(spec.library, library_fingerprint(spec.library))
            peers.check_available(spec)
        except PeerUnavailable as exc:
            notes.append(f"skipped {spec.name}: {exc}")
            print(f"skipping {spec.name}: {exc}", flush=True)
            continue
        fp = fingerprint(spec, libs, suite)
        for problem in problems:
            n_seeds = (seeds_of or {}).get(spec.name, seeds)
            for seed in range(first_seed, first_seed + n_seeds):
                path = raw / cache_name(spec) / problem / f"seed{seed}.json"
                cells.append(Cell(spec, problem, seed, budget, fp, str(path), suite))
    return cells


def main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Entry point: plan, run what is not cached, analyse, print and write the report."""
    budgets = args.budgets or ([15, 30] if args.quick else list(DEFAULT_BUDGETS))
    seeds = args.seeds or (2 if args.quick else 20)
    problems = args.problems or (list(QUICK_PROBLEMS) if args.quick else list(PROBLEMS))
    for name in problems:
        get_problem(name)
    specs = [peers.parse_algo(a) for a in args.algos] + list(args.variant)
    out = report.output_dir(args.quick, args.out)
    notes: list[str] = []
    cells = plan(specs, problems, seeds, max(budgets), out / "raw", notes)
    cached = {} if args.rerun else {c: load_cached(c) for c in cells}
    todo = [c for c in cells if cached.get(c) is None]
    print(
        f"{len(cells)} runs: {len(cells) - len(todo)} cached, {len(todo)} to do "
        f"with {args.jobs} jobs",
        flush=True,
    )
    records = [r for r in cached.values() if r is not None] + execute(todo, args.jobs)
    errors = [r for r in records if "error" in r]
    notes += [
        f"FAILED {r['algo']} on {r['problem']} seed {r['seed']}: {r['error']}" for r in errors
    ]
    env = report.environment(argv)
    planned = [s for s in specs if any(c.spec == s for c in cells)]
    analysis = quality_report.analyse(
        [r for r in records if "error" not in r], planned, problems, budgets
    )
    body = quality_report.render(analysis)
    print(body)
    text = report.header_markdown("optimisation quality", env, notes) + "\n" + body
    md = report.write_text(out / "quality.md", text)
    pngs = quality_report.plot(analysis, out)
    print(f"wrote {md} and {', '.join(map(str, pngs))}")
    return 1 if errors else 0
