"""``parallel_quality``: search quality when W trials run at once, on a simulated clock.

Each run is a discrete-event simulation of an asynchronous search with ``W`` workers: every
worker takes the next suggestion as soon as it is free, each evaluation lasts a random time
(lognormal with mean 1 and ``--sigma``, drawn in dispatch order from a stream seeded by the
seed, so every algorithm meets the same durations), and the clock jumps from one completion
to the next (nothing sleeps). The optimiser sees what an asynchronous driver would show it:

* hqueue / hyperopt: an in-memory ``Trials``; suggested documents are inserted and marked
  RUNNING, a completion writes ``result`` and state DONE into the document in place (what
  ``RedisTrials`` does to its mirror) and the next ``algo(new_ids, domain, trials, seed)``
  call sees the other W - 1 trials as pending. At the start one call asks for W ids (what
  ``AsyncLoop.top_up`` does); hyperopt's TPE answers one document per call, so the driver
  calls again until the W slots are full.
* Optuna: ``study.ask()`` when a worker is free, ``study.tell()`` when its trial finishes, with
  ``TPESampler(seed=seed, constant_liar=True)``.

Runs are cached per (algorithm, problem, W, seed) under ``<out>/raw/parallel/`` with a
fingerprint (library versions, hqueue's source hash, this harness's code, sigma), so an
interrupted benchmark resumes. ``--real`` adds a run on real ``hqueue worker`` processes
(:mod:`benchmarks.parallel_quality_real`). Statistics and plots:
:mod:`benchmarks.parallel_quality_report`.

The simulation itself is :mod:`benchmarks.parallel_quality_sim`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import peers, report
from benchmarks.parallel_quality_sim import ALGOS, DEFAULT_SIGMA, algo_library, simulate
from benchmarks.peers import PeerUnavailable
from benchmarks.problems import PROBLEMS, get_problem

DEFAULT_ALGOS = (
    "hqueue_liar", "hqueue_ignore", "hqueue_hyperopt_ignore", "hyperopt_tpe", "optuna_tpe_cl"
)
DEFAULT_WORKERS = (1, 4, 8, 16)
DEFAULT_BUDGETS = (100, 200)
DEFAULT_SEEDS = 10
QUICK_PROBLEMS = ("branin", "conditional")
_HARNESS_FILES = ("problems.py", "functions.py", "peers.py", "parallel_quality_sim.py")

# ------------------------------------------------------------------------------ cells and cache


@dataclass(frozen=True)
class Cell:
    """One simulated run to do."""

    algo: str
    problem: str
    workers: int
    seed: int
    budget: int
    sigma: float
    fingerprint: str
    path: str


def _sha(paths: Sequence[Path]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def fingerprint(library: str, sigma: float) -> str:
    """Everything that, if changed, makes a cached run of this library stale."""
    from benchmarks.quality import library_fingerprint

    here = Path(__file__).resolve().parent
    return json.dumps(
        {
            "lib": library_fingerprint(library),
            "sigma": sigma,
            "harness": _sha([here / f for f in _HARNESS_FILES]),
        },
        sort_keys=True,
    )


def load_cached(cell: Cell) -> dict[str, Any] | None:
    """The cached record for ``cell`` if complete and current, else None."""
    try:
        record = json.loads(Path(cell.path).read_text())
    except (OSError, ValueError):
        return None
    if record.get("fingerprint") != cell.fingerprint or len(record["losses"]) < cell.budget:
        return None
    return record


def run_cell(cell: Cell) -> dict[str, Any]:
    """Simulate one cell (in a pool worker) and write its JSON record atomically."""
    try:
        run = simulate(
            cell.algo, get_problem(cell.problem), cell.workers, cell.budget, cell.seed, cell.sigma
        )
    except Exception as exc:  # noqa: BLE001 - reported in the summary, other cells go on
        return {"error": f"{type(exc).__name__}: {exc}", "algo": cell.algo,
                "problem": cell.problem, "workers": cell.workers, "seed": cell.seed}
    record = {
        "algo": cell.algo, "problem": cell.problem, "workers": cell.workers,
        "seed": cell.seed, "budget": cell.budget, "sigma": cell.sigma,
        "fingerprint": cell.fingerprint, "losses": run.losses.tolist(),
        "clean": run.clean.tolist(), "finish_times": run.finish_times.tolist(),
        "pending_seen": run.pending_seen.tolist(), "seconds": run.seconds,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    path = Path(cell.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)
    return record


def plan(args: argparse.Namespace, raw: Path, notes: list[str]) -> list[Cell]:
    """Every cell to consider; algorithms whose library does not import are dropped."""
    fps: dict[str, str] = {}
    cells = []
    for algo in args.algos:
        lib = algo_library(algo)
        try:
            fps.setdefault(lib, fingerprint(lib, args.sigma))
        except PeerUnavailable as exc:
            notes.append(f"skipped {algo}: {exc}")
            continue
        for problem in args.problems:
            for w in args.workers:
                for seed in range(args.seeds):
                    path = raw / algo / problem / f"w{w}" / f"seed{seed}.json"
                    cells.append(Cell(algo, problem, w, seed, max(args.budgets), args.sigma,
                                      fps[lib], str(path)))
    return cells


def execute(cells: Sequence[Cell], jobs: int) -> list[dict[str, Any]]:
    """Run cells inline (one job) or in a spawn pool, with a progress bar."""
    from tqdm import tqdm

    if not cells:
        return []
    # seed by seed, so a run cut short still has every (algorithm, problem, W) at fewer seeds
    order = sorted(cells, key=lambda c: (c.seed, ALGOS[c.algo][0] != "hyperopt", -c.workers))
    if jobs <= 1:
        return [run_cell(c) for c in tqdm(order, desc="runs")]
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    with mp.get_context("spawn").Pool(jobs) as pool:
        return list(tqdm(pool.imap_unordered(run_cell, order), total=len(order), desc="runs"))


# ------------------------------------------------------------------------------------- the CLI


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m benchmarks parallel_quality``."""
    ints = lambda t: sorted(int(x) for x in _csv(t))  # noqa: E731
    parser.add_argument("--algos", type=_csv, default=list(DEFAULT_ALGOS),
                        help=f"from {','.join(ALGOS)}")
    parser.add_argument("--problems", type=_csv, default=None, help="default: the whole suite")
    parser.add_argument("--workers", type=ints, default=None, help="default 1,4,8,16")
    parser.add_argument("--seeds", type=int, default=None, help=f"default {DEFAULT_SEEDS}")
    parser.add_argument("--budgets", type=ints, default=None, help="default 100,200 (quick: 30)")
    parser.add_argument("--sigma", type=float, default=DEFAULT_SIGMA,
                        help="sd of log duration (mean duration is 1)")
    parser.add_argument("--jobs", type=int, default=1, help="processes (default 1)")
    parser.add_argument("--rerun", action="store_true", help="ignore cached runs")
    parser.add_argument("--real", action="store_true",
                        help="also run on real hqueue workers (see parallel_quality_real)")
    parser.add_argument("--real-only", action="store_true",
                        help="report from cached simulations, run only the real part")
    from benchmarks import parallel_quality_real

    parallel_quality_real.add_arguments(parser)


def _defaults(args: argparse.Namespace) -> None:
    args.budgets = args.budgets or ([30] if args.quick else list(DEFAULT_BUDGETS))
    args.seeds = args.seeds or (2 if args.quick else DEFAULT_SEEDS)
    args.workers = args.workers or ([1, 4] if args.quick else list(DEFAULT_WORKERS))
    args.problems = args.problems or (list(QUICK_PROBLEMS) if args.quick else list(PROBLEMS))
    for name in args.problems:
        get_problem(name)
    for algo in args.algos:
        algo_library(algo)


def main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Entry point: simulate what is not cached, optionally the real run, then the report."""
    from benchmarks import parallel_quality_real, parallel_quality_report

    if peers.is_stand_in():
        raise SystemExit("parallel_quality compares hqueue's pending policies: no stand-in")
    _defaults(args)
    out = report.output_dir(args.quick, args.out)
    notes: list[str] = []
    cells = plan(args, out / "raw" / "parallel", notes)
    cached = {} if args.rerun else {c: load_cached(c) for c in cells}
    todo = [] if args.real_only else [c for c in cells if cached.get(c) is None]
    print(f"{len(cells)} simulated runs: {len(cells) - len(todo)} cached, {len(todo)} to do "
          f"with {args.jobs} jobs", flush=True)
    records = [r for r in cached.values() if r is not None] + execute(todo, args.jobs)
    errors = [r for r in records if "error" in r]
    notes += [f"FAILED {r['algo']} on {r['problem']} W={r['workers']} seed {r['seed']}: "
              f"{r['error']}" for r in errors]
    real = None
    if args.real or args.real_only:
        real = parallel_quality_real.run_all(args, out, notes)
    analysis = parallel_quality_report.analyse(
        [r for r in records if "error" not in r], args
    )
    body = parallel_quality_report.render(analysis, real)
    print(body)
    text = report.header_markdown("parallel search quality", report.environment(argv), notes)
    md = report.write_text(out / "parallel_quality.md", text + "\n" + body)
    pngs = parallel_quality_report.plot(analysis, out)
    print(f"wrote {md} and {', '.join(map(str, pngs))}")
    return 1 if errors else 0
