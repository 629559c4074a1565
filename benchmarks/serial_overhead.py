"""``serial_overhead``: the whole serial ``fmin`` loop with a trivial objective.

Space: ``x, y ~ uniform(-5, 5)`` and ``c ~ choice([0, 1, 2])``; objective ``x**2 + y**2 + c``;
random search (``rand.suggest`` / Optuna ``RandomSampler``), so what is measured is the
framework's own per-trial cost: suggesting, bookkeeping, storing results.

The objective records a wall-clock timestamp each time it is entered. ``done(k)``, the time at
which k trials are finished, is the timestamp of trial k+1 (or the moment ``fmin`` /
``study.optimize`` returns, for the last one), ``done(0)`` the moment the call starts. The table
gives ms per trial over each window between checkpoints, ``(done(b) - done(a)) / (b - a)``, and
the plot the same over fine windows. hyperopt and hqueue run ``fmin(..., trials=Trials(),
rstate=np.random.default_rng(seed), show_progressbar=False)``; Optuna runs ``study.optimize``
on an in-memory study.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from benchmarks import peers, report
from benchmarks.peers import PeerUnavailable

DEFAULT_CHECKPOINTS = (1000, 2000, 5000, 10000)
LIBRARIES = ("hqueue", "hyperopt", "optuna")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m benchmarks serial_overhead``."""
    parser.add_argument("--max-trials", type=int, default=None, help="default 10000 (quick: 400)")
    parser.add_argument(
        "--libs",
        type=lambda t: [x for x in t.split(",") if x],
        default=list(LIBRARIES),
        help="hqueue,hyperopt,optuna",
    )
    parser.add_argument("--seed", type=int, default=0)


def _space(hp: ModuleType) -> dict[str, Any]:
    return {
        "x": hp.uniform("x", -5.0, 5.0),
        "y": hp.uniform("y", -5.0, 5.0),
        "c": hp.choice("c", [0.0, 1.0, 2.0]),
    }


def run_hyperopt_like(library: str, n: int, seed: int) -> np.ndarray:
    """``done(k)`` for k = 0..n, in seconds since the ``fmin`` call started."""
    mod = peers.load_library(library)
    stamps: list[float] = []

    def objective(d: dict[str, Any]) -> float:
        stamps.append(time.perf_counter())
        return d["x"] ** 2 + d["y"] ** 2 + d["c"]

    space = _space(mod.hp)
    start = time.perf_counter()
    mod.fmin(
        objective,
        space,
        algo=mod.rand.suggest,
        max_evals=n,
        trials=mod.Trials(),
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    return _done_times(start, stamps, time.perf_counter(), n)


def run_optuna(n: int, seed: int) -> np.ndarray:
    """``done(k)`` for k = 0..n, in seconds since ``study.optimize`` started."""
    optuna = peers.load_library("optuna")
    stamps: list[float] = []

    def objective(trial: Any) -> float:
        stamps.append(time.perf_counter())
        x = trial.suggest_float("x", -5.0, 5.0)
        y = trial.suggest_float("y", -5.0, 5.0)
        c = (0.0, 1.0, 2.0)[trial.suggest_categorical("c", [0, 1, 2])]
        return x**2 + y**2 + c

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    start = time.perf_counter()
    study.optimize(objective, n_trials=n)
    return _done_times(start, stamps, time.perf_counter(), n)


def _done_times(start: float, stamps: list[float], end: float, n: int) -> np.ndarray:
    if len(stamps) != n:
        raise RuntimeError(f"the objective ran {len(stamps)} times, expected {n}")
    return np.asarray([start, *stamps[1:], end]) - start


def checkpoints_for(max_trials: int) -> list[int]:
    """The default checkpoints up to ``max_trials``, which is always the last one."""
    marks = [c for c in DEFAULT_CHECKPOINTS if c < max_trials]
    if not marks:
        marks = [max_trials // 4, max_trials // 2]
    return [*marks, max_trials]


def render(done: dict[str, np.ndarray], marks: Sequence[int]) -> str:
    """Table: total seconds and ms/trial per window between checkpoints."""
    windows = list(zip([0, *marks[:-1]], marks))
    headers = ["library", "total s", *[f"ms/trial {a}-{b}" for a, b in windows], "ms/trial all"]
    rows = []
    for lib, t in done.items():
        per = [1e3 * (t[b] - t[a]) / (b - a) for a, b in windows]
        rows.append([lib, float(t[-1]), *per, 1e3 * float(t[-1]) / marks[-1]])
    table = report.markdown_table(headers, rows, left=1)
    lines = [table, ""]
    if "hqueue" in done:
        for lib in done:
            if lib != "hqueue":
                ratio = done[lib][-1] / done["hqueue"][-1]
                lines.append(f"- {lib} total / hqueue total: {ratio:.2f}x")
    return "\n".join(lines) + "\n"


def plot(done: dict[str, np.ndarray], path: Path) -> Path:
    """ms per trial over ~40 windows, against trials done."""
    plt = report.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for lib, t in done.items():
        n = len(t) - 1
        step = max(1, n // 40)
        ks = np.arange(step, n + 1, step)
        ax.plot(ks, 1e3 * (t[ks] - t[ks - step]) / step, marker=".", label=lib)
    ax.set(
        xlabel="trials done",
        ylabel="ms per trial (window mean)",
        yscale="log",
        title="serial fmin overhead, trivial objective, random search",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Entry point: run each library once, print, write ``serial_overhead.md`` and ``.png``."""
    n = args.max_trials or (400 if args.quick else DEFAULT_CHECKPOINTS[-1])
    marks = checkpoints_for(n)
    done: dict[str, np.ndarray] = {}
    notes: list[str] = []
    for lib in args.libs:
        print(f"running {lib} for {n} trials ...", flush=True)
        try:
            done[lib] = (
                run_optuna(n, args.seed)
                if lib == "optuna"
                else run_hyperopt_like(lib, n, args.seed)
            )
        except PeerUnavailable as exc:
            notes.append(f"skipped {lib}: {exc}")
            print(f"skipping {lib}: {exc}", flush=True)
            continue
        except Exception as exc:  # noqa: BLE001 - a broken library must not stop the others
            notes.append(f"FAILED {lib}: {exc!r}")
            print(f"{lib} failed: {exc!r}", flush=True)
            continue
        print(f"  {lib}: {done[lib][-1]:.2f} s", flush=True)
    body = render(done, marks)
    print(body)
    out = report.output_dir(args.quick, args.out)
    method = (__doc__ or "").split("\n\n", 1)[1].strip()
    text = (
        report.header_markdown("serial fmin overhead", report.environment(argv), notes)
        + "\n"
        + body
        + "\nHow it is measured:\n\n"
        + method
        + "\n"
    )
    md = report.write_text(out / "serial_overhead.md", text)
    png = plot(done, out / "serial_overhead.png")
    print(f"wrote {md} and {png}")
    return 0
