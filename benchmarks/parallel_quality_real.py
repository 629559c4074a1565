"""The real-workers check of ``parallel_quality``: the same search on a real Redis and real
``hqueue worker`` processes, to show that the simulation's numbers hold in a real
asynchronous run.

A local ``redis-server`` (hqueue's ``RedisServer``) and ``--real-workers`` ``hqueue worker
--pool solo`` processes; for each (algorithm, problem, seed) one ``fmin(...,
trials=RedisTrials(url, exp_key=<fresh>), max_queue_len=W, rstate=default_rng(seed))``. The
objective sleeps a lognormal time (mean ``--real-unit`` seconds, log-sd ``--sigma``, drawn
from a hash of the configuration) then returns the problem's value. Regret is read in the
order results came back (``refresh_time``) and compared with the simulated runs of the same
algorithm, problem and W. Runs are cached under ``<out>/raw/parallel_real/``.

Example:
    >>> from benchmarks.problems import get_problem
    >>> f = SleepyObjective("branin", unit_s=0.0, sigma=0.5, seed=0)
    >>> abs(f(get_problem("branin").argmin) - get_problem("branin").optimum) < 1e-9
    True
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import secrets
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import report
from benchmarks.problems import get_problem
from benchmarks.quality_report import incumbent_regret, mann_whitney

DEFAULT_PROBLEMS = ("branin", "hartmann6")
DEFAULT_ALGOS = ("hqueue_liar", "hqueue_ignore")


class SleepyObjective:
    """A problem's noise-free objective that first sleeps a random, configuration-seeded time.

    Picklable by reference: the workers import it from ``benchmarks`` (PYTHONPATH).
    """

    def __init__(self, problem: str, unit_s: float, sigma: float, seed: int) -> None:
        self.problem, self.unit_s, self.sigma, self.seed = problem, unit_s, sigma, seed

    def duration(self, config: Any) -> float:
        """Seconds this configuration's evaluation lasts (lognormal, mean ``unit_s``)."""
        text = json.dumps(config, sort_keys=True, default=float) + f"/{self.seed}"
        entropy = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        rng = np.random.default_rng(entropy)
        return self.unit_s * float(rng.lognormal(-0.5 * self.sigma**2, self.sigma))

    def __call__(self, config: Any) -> float:
        time.sleep(self.duration(config))
        return float(get_problem(self.problem).objective(config))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the real-workers part (used with ``--real``)."""
    csv = lambda t: [x.strip() for x in t.split(",") if x.strip()]  # noqa: E731
    parser.add_argument("--real-problems", type=csv, default=list(DEFAULT_PROBLEMS))
    parser.add_argument("--real-algos", type=csv, default=list(DEFAULT_ALGOS),
                        help="hqueue algorithms only")
    parser.add_argument("--real-workers", type=int, default=4, help="worker processes (W)")
    parser.add_argument("--real-seeds", type=int, default=None, help="default 5 (quick: 1)")
    parser.add_argument("--real-budget", type=int, default=None, help="default 100 (quick: 20)")
    parser.add_argument("--real-unit", type=float, default=0.2,
                        help="mean evaluation time in seconds")


@dataclass
class RealResults:
    """Real runs per (algo, problem): regret traces (seeds x evals) and run facts."""

    workers: int
    budget: int
    unit_s: float
    traces: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    seconds: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    max_pending: dict[tuple[str, str], int] = field(default_factory=dict)


def _suggest(algo: str) -> Any:
    import functools

    from hqueue import tpe

    if algo == "hqueue_liar":
        return tpe.suggest
    if algo == "hqueue_ignore":
        return functools.partial(tpe.suggest, pending="ignore")
    if algo == "hqueue_hyperopt_ignore":
        return functools.partial(tpe.suggest, pending="ignore", **tpe.HYPEROPT_SETTINGS)
    raise SystemExit(f"--real-algos takes hqueue algorithms only, got {algo!r}")


def run_one(url: str, algo: str, problem: str, workers: int, budget: int, seed: int,
            unit_s: float, sigma: float) -> dict[str, Any]:
    """One real search; the record holds losses in completion order."""
    from hqueue import fmin, hp
    from hqueue.backends.redis.trials import RedisTrials
    from hqueue.states import JOB_STATE_DONE

    trials = RedisTrials(url, exp_key=f"pq-{algo}-{problem}-{seed}-{uuid.uuid4().hex[:8]}")
    start = time.perf_counter()
    fmin(SleepyObjective(problem, unit_s, sigma, seed), get_problem(problem).space(hp),
         algo=_suggest(algo), max_evals=budget, trials=trials, max_queue_len=workers,
         rstate=np.random.default_rng(seed), show_progressbar=False,
         timeout=60 + 20 * budget * unit_s)
    seconds = time.perf_counter() - start
    docs = sorted((t for t in trials.trials if t["state"] == JOB_STATE_DONE),
                  key=lambda t: t["refresh_time"])
    if len(docs) != budget:
        raise RuntimeError(f"{len(docs)} of {budget} trials finished")
    booked = sorted(d["book_time"] for d in docs)
    ends = sorted(d["refresh_time"] for d in docs)
    concurrent = max(sum(1 for b in booked if b <= e) - i for i, e in enumerate(ends))
    losses = [float(d["result"]["loss"]) for d in docs]
    trials.delete_all()
    return {"algo": algo, "problem": problem, "seed": seed, "losses": losses,
            "seconds": seconds, "max_running": concurrent}


def _fingerprint(args: argparse.Namespace) -> str:
    from benchmarks.quality import library_fingerprint

    here = Path(__file__).resolve().parent
    digest = hashlib.sha256((here / "parallel_quality_real.py").read_bytes()).hexdigest()[:12]
    return json.dumps({"lib": library_fingerprint("hqueue"), "code": digest,
                       "unit": args.real_unit, "sigma": args.sigma}, sort_keys=True)


def run_all(args: argparse.Namespace, out: Path, notes: list[str]) -> RealResults:
    """Run (or load from the cache) every real search and collect their traces."""
    from benchmarks.dispatch import REPO_ROOT, Processes
    from hqueue.backends.redis.server import RedisServer

    seeds = args.real_seeds or (1 if args.quick else 5)
    budget = args.real_budget or (20 if args.quick else 100)
    w = args.real_workers
    res = RealResults(w, budget, args.real_unit)
    fp = _fingerprint(args)
    cells = [(a, p, s) for a in args.real_algos for p in args.real_problems
             for s in range(seeds)]
    raw = out / "raw" / "parallel_real"
    path = lambda a, p, s: raw / a / p / f"w{w}" / f"seed{s}.json"  # noqa: E731
    records: dict[tuple[str, str, int], dict] = {}
    for cell in cells:
        try:
            rec = json.loads(path(*cell).read_text())
            if rec.get("fingerprint") == fp and len(rec["losses"]) >= budget:
                records[cell] = rec
        except (OSError, ValueError):
            pass
    todo = [c for c in cells if c not in records]
    print(f"real runs: {len(cells) - len(todo)} cached, {len(todo)} to do", flush=True)
    if todo:
        _run_cells(todo, args, budget, fp, records, path, notes, REPO_ROOT, Processes,
                   RedisServer)
    for (a, p, _seed), rec in sorted(records.items()):
        clean = np.asarray(rec["losses"][:budget])
        trace = incumbent_regret(clean, clean, get_problem(p).optimum)
        res.traces[a, p] = np.vstack([res.traces[a, p], trace]) if (a, p) in res.traces \
            else trace[None, :]
        res.seconds.setdefault((a, p), []).append(rec["seconds"])
        res.max_pending[a, p] = max(res.max_pending.get((a, p), 0), rec["max_running"])
    notes.append(f"real runs: {w} `hqueue worker --pool solo` processes, max_queue_len {w}, "
                 f"{budget} evaluations, mean evaluation {args.real_unit:g} s, {seeds} seeds")
    return res


def _run_cells(todo: list, args: argparse.Namespace, budget: int, fp: str, records: dict,
               path: Any, notes: list[str], repo_root: Path, processes: Any,
               redis_server: Any) -> None:
    secret_was = os.environ.get("HQUEUE_SECRET")
    os.environ.setdefault("HQUEUE_SECRET", secrets.token_hex(32))
    logdir = Path(tempfile.mkdtemp(prefix="hqueue-pq-real-"))
    try:
        with redis_server() as server:
            env = dict(os.environ, HQUEUE_URL=server.url)
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(repo_root), os.environ.get("PYTHONPATH", "")) if p)
            with processes(logdir, env) as procs:
                for i in range(args.real_workers):
                    procs.start(f"worker{i}", [sys.executable, "-m", "hqueue.cli", "worker",
                                               "--url", server.url, "--pool", "solo",
                                               "--loglevel", "WARNING"])
                for a, p, s in todo:
                    procs.check_alive()
                    print(f"  real {a} {p} seed {s} ...", flush=True)
                    try:
                        rec = run_one(server.url, a, p, args.real_workers, budget, s,
                                      args.real_unit, args.sigma)
                    except Exception as exc:  # noqa: BLE001 - reported, the others go on
                        notes.append(f"FAILED real {a} {p} seed {s}: {exc!r}"[:400])
                        continue
                    rec["fingerprint"] = fp
                    target = path(a, p, s)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(json.dumps(rec))
                    records[a, p, s] = rec
    finally:
        if secret_was is None:
            os.environ.pop("HQUEUE_SECRET", None)
    print(f"real-run worker logs in {logdir}", flush=True)


def render(real: RealResults, an: Any) -> str:
    """The comparison table: real vs simulated regret at the same W and budget."""
    rows = []
    for (a, p), tr in sorted(real.traces.items()):
        r = tr[:, real.budget - 1]
        row: list[Any] = [p, a, f"{r.mean():.3g} ± {_se(r):.2g} (n={len(r)})"]
        key = (a, p, real.workers)
        if key in an.traces and an.traces[key].shape[1] >= real.budget:
            sim = an.traces[key][:, real.budget - 1]
            pval, _ = mann_whitney(r, sim)
            row += [f"{sim.mean():.3g} ± {_se(sim):.2g} (n={len(sim)})", f"{pval:.2g}"]
        else:
            row += ["-", "-"]
        row += [f"{np.mean(real.seconds[a, p]):.1f}", real.max_pending[a, p]]
        rows.append(row)
    table = report.markdown_table(
        ["problem", "algorithm", "real: mean regret ± se", "simulated: mean regret ± se",
         "Mann-Whitney p", "real s/run", "most trials running at once"], rows, left=2)
    return (f"## Real workers (W={real.workers}, {real.budget} evaluations, mean evaluation "
            f"{real.unit_s:g} s)\n\nRegret after {real.budget} results on a real Redis with "
            f"{real.workers} `hqueue worker` processes, next to the simulation's at the same "
            f"W (p: two-sided Mann-Whitney U between the two samples; a large p means no "
            f"detectable difference, which with few seeds is weak evidence):\n\n{table}\n")


def _se(v: np.ndarray) -> float:
    return float(np.std(v, ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan
