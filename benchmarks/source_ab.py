"""``source_ab``: two hqueue source trees timed on the same workloads, interleaved.

A regression check between commits, not a comparison with peers. Each measurement runs in a
fresh subprocess whose ``PYTHONPATH`` puts one source tree first (``--old DIR`` / ``--new DIR``,
e.g. a ``git worktree`` of the older commit); the two trees alternate within each round, and
which one goes first alternates between rounds, so a load that changes during the run falls
on both. Two workloads:

* ``serial``: ``fmin`` over ``x, y ~ uniform(-5, 5)``, ``c ~ choice([0, 1, 2])`` with
  ``rand.suggest``, in-memory ``Trials``, no progress bar (``serial_overhead``'s hqueue run):
  seconds for ``--trials`` trials.
* ``tpe``: one ``tpe.suggest`` call on a ``Trials`` holding ``--tpe-size`` finished random
  trials of the ``mixed10`` space (``suggest_latency``'s hqueue cell): the median of
  ``--tpe-reps`` warm calls, in ms.

Both wall-clock and process CPU time are recorded (CPU time is less disturbed by other
processes on a shared machine); the report gives the median over ``--rounds`` rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks import report

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKLOADS = ("serial", "tpe")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m benchmarks source_ab``."""
    parser.add_argument("--old", required=True, help="the older source tree (a checkout)")
    parser.add_argument("--new", default=str(REPO_ROOT), help="default: this checkout")
    parser.add_argument("--rounds", type=int, default=None, help="default 7 (quick: 2)")
    parser.add_argument("--trials", type=int, default=None, help="serial: default 10000")
    parser.add_argument("--tpe-size", type=int, default=1000)
    parser.add_argument("--tpe-reps", type=int, default=30)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))


def serial_seconds(n: int) -> dict[str, float]:
    """Wall and CPU seconds of one serial ``fmin`` of ``n`` random-search trials."""
    import time

    import numpy as np

    from hqueue import Trials, fmin, hp, rand

    space = {"x": hp.uniform("x", -5.0, 5.0), "y": hp.uniform("y", -5.0, 5.0),
             "c": hp.choice("c", [0.0, 1.0, 2.0])}
    wall, cpu = time.perf_counter(), time.process_time()
    fmin(lambda d: d["x"] ** 2 + d["y"] ** 2 + d["c"], space, algo=rand.suggest,
         max_evals=n, trials=Trials(), rstate=np.random.default_rng(0),
         show_progressbar=False)
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


def tpe_ms(size: int, reps: int) -> dict[str, float]:
    """Median wall and CPU ms of a warm ``tpe.suggest`` on ``size`` finished trials."""
    import copy
    import gc
    import time

    import hqueue
    from benchmarks.problems import MIXED10

    space = MIXED10.space(hqueue.hp)
    domain = hqueue.Domain(MIXED10.objective, space)
    scratch = hqueue.Trials()
    docs = hqueue.rand.suggest(scratch.new_trial_ids(size), domain, scratch, 0)
    for doc in docs:
        point = {k: v[0] for k, v in doc["misc"]["vals"].items() if len(v)}
        doc["state"] = hqueue.JOB_STATE_DONE
        doc["result"] = {"loss": float(MIXED10.objective(hqueue.space_eval(space, point))),
                         "status": hqueue.STATUS_OK}
    trials = hqueue.Trials()
    trials.new_trial_ids(size)
    trials.insert_trial_docs(copy.deepcopy(docs))
    trials.refresh()
    hqueue.tpe.suggest(trials.new_trial_ids(1), domain, trials, 999)  # the cold call
    walls, cpus = [], []
    for rep in range(reps):
        new_ids = trials.new_trial_ids(1)
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        hqueue.tpe.suggest(new_ids, domain, trials, 1000 + rep)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {"wall": 1e3 * statistics.median(walls), "cpu": 1e3 * statistics.median(cpus)}


def _child(argv: Sequence[str]) -> None:
    """``python -m benchmarks.source_ab WORKLOAD ARGS...`` in a subprocess: print JSON."""
    import hqueue

    workload, *numbers = argv
    values = [int(x) for x in numbers]
    out = serial_seconds(*values) if workload == "serial" else tpe_ms(*values)
    print(json.dumps({**out, "source": str(Path(hqueue.__file__).resolve().parent)}))


def import_root(source: str, parent: Path) -> Path:
    """A folder under ``parent`` where ``hqueue`` is ``source``'s and ``benchmarks`` this
    checkout's (links), so both trees run the same harness."""
    root = parent / f"src{abs(hash(str(Path(source).resolve())))}"
    if not root.exists():
        root.mkdir()
        (root / "hqueue").symlink_to(Path(source).resolve() / "hqueue")
        (root / "benchmarks").symlink_to(REPO_ROOT / "benchmarks")
    return root


def measure(source: str, workload: str, args: argparse.Namespace) -> dict[str, float]:
    """One measurement of ``workload`` in a subprocess importing ``source``'s hqueue."""
    numbers = [args.trials] if workload == "serial" else [args.tpe_size, args.tpe_reps]
    root = import_root(source, args.scratch)
    env = dict(os.environ, PYTHONPATH=str(root))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.source_ab", workload,
                           *map(str, numbers)], env=env, capture_output=True, text=True,
                          check=True, cwd=root)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if Path(result["source"]).resolve() != (Path(source) / "hqueue").resolve():
        raise RuntimeError(f"imported hqueue from {result['source']}, not {source}")
    return result


def run(args: argparse.Namespace) -> dict[tuple[str, str], list[dict[str, float]]]:
    """``{(workload, "old"|"new"): [measurement per round]}``, interleaved."""
    sources = {"old": args.old, "new": args.new}
    times: dict[tuple[str, str], list[dict[str, float]]] = {}
    for r in range(args.rounds):
        order = ("old", "new") if r % 2 == 0 else ("new", "old")
        for workload in args.workloads:
            for which in order:
                m = measure(sources[which], workload, args)
                times.setdefault((workload, which), []).append(m)
                print(f"round {r + 1} {workload} {which}: wall {m['wall']:.4g} "
                      f"cpu {m['cpu']:.4g}", flush=True)
    return times


def describe_tree(source: str) -> str:
    """``path (commit abc1234)``, with ``+ uncommitted changes`` when the tree is dirty."""
    def git(*cmd: str) -> str:
        proc = subprocess.run(["git", "-C", source, *cmd], capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "not a git checkout"
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--", "hqueue") else ""
    return f"`{source}` (commit {commit}{dirty})"


def render(times: dict[tuple[str, str], list[dict[str, float]]], args: argparse.Namespace
           ) -> str:
    """Medians per workload and source, and new / old."""
    rows = []
    for workload in args.workloads:
        unit = "s" if workload == "serial" else "ms"
        old, new = times[workload, "old"], times[workload, "new"]
        for clock in ("wall", "cpu"):
            a = statistics.median(m[clock] for m in old)
            b = statistics.median(m[clock] for m in new)
            rows.append([workload, f"{clock} {unit}", a, b, b / a])
    table = report.markdown_table(["workload", "median of", "old", "new", "new / old"], rows,
                                  left=2)
    return (f"- old: {describe_tree(args.old)}\n- new: {describe_tree(args.new)}\n"
            f"- load average (1 min) at start / end: {args.load[0]:.2f} / {args.load[1]:.2f}\n"
            f"- rounds: {args.rounds}; serial: "
            f"{args.trials} trials; tpe: N={args.tpe_size}, median of {args.tpe_reps} warm "
            f"calls\n\n{table}\n")


def plot(times: dict[tuple[str, str], list[dict[str, float]]], workloads: Sequence[str],
         path: Path) -> Path:
    """Each round's CPU time, old and new side by side, one panel per workload."""
    plt = report.pyplot()
    fig, axes = plt.subplots(1, len(workloads), figsize=(4 * len(workloads), 4), squeeze=False)
    for ax, workload in zip(axes[0], workloads):
        for x, which in enumerate(("old", "new")):
            ys = [m["cpu"] for m in times[workload, which]]
            ax.scatter([x] * len(ys), ys, alpha=0.6)
            ax.hlines(statistics.median(ys), x - 0.2, x + 0.2, color="k")
        ax.set(xticks=[0, 1], xticklabels=["old", "new"], xlim=(-0.5, 1.5),
               title=workload, ylabel="CPU " + ("s" if workload == "serial" else "ms"))
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Entry point: run interleaved, print, write ``source_ab.md`` and ``.png``."""
    args.rounds = args.rounds or (2 if args.quick else 7)
    args.trials = args.trials or (400 if args.quick else 10000)
    args.workloads = [w for w in args.workloads.split(",") if w]
    for w in args.workloads:
        if w not in WORKLOADS:
            raise SystemExit(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    with tempfile.TemporaryDirectory() as scratch:
        args.scratch = Path(scratch)
        start_load = os.getloadavg()[0]
        times = run(args)
    args.load = (start_load, os.getloadavg()[0])
    body = render(times, args)
    print(body)
    out = report.output_dir(args.quick, args.out)
    method = (__doc__ or "").split("\n\n", 1)[1].strip()
    text = (report.header_markdown("hqueue source A/B", report.environment(argv)) + "\n" + body
            + "\nHow it is measured:\n\n" + method + "\n")
    md = report.write_text(out / "source_ab.md", text)
    png = plot(times, args.workloads, out / "source_ab.png")
    print(f"wrote {md} and {png}")
    return 0


if __name__ == "__main__":  # a measurement subprocess (see measure)
    _child(sys.argv[1:])
