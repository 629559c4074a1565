"""``memory``: what a 100,000-trial experiment costs in Redis and in the driver's memory.

Everything uses the 10-parameter ``mixed10`` space, trials drawn by random search, each one
finished (state DONE, a loss). Measured:

* **Redis bytes per finished trial**: ``INFO memory`` ``used_memory`` after minus before
  filling one experiment on a fresh local ``redis-server`` (hqueue's ``RedisServer``, no
  persistence), divided by N; and ``MEMORY USAGE`` (exact, ``SAMPLES 0``) of 1,000 trial
  hashes and of each per-experiment index key. The store is filled through hqueue's own
  store API, ``TrialStore.create`` + ``claim`` + ``finish`` per trial (the scripts a driver
  and a worker run), not by running N real tasks.
* **Driver memory per trial**: growth of the resident set (``VmRSS``) of a fresh process
  between an empty object and the object holding N finished trials, after ``gc.collect()``:
  a ``RedisTrials`` mirror loaded by ``refresh()`` (and with its sampler history built),
  hqueue's in-memory ``Trials``, hyperopt 0.3.0's ``Trials``, an Optuna in-memory study and
  an Optuna study loaded from a ``JournalRedisStorage`` (its Redis bytes per trial too).
  Trials are created in chunks of 1,000, so the generator's garbage stays small.
* **Refresh cost at N**: ``RedisTrials.refresh()`` (also what the asynchronous driver calls
  each loop) with nothing changed and after 100 new trials finished; and one ``tpe.suggest`` at N
  (first call, which indexes the history, and a second one), next to hyperopt's TPE and
  Optuna's ``ask`` at the same N.

Each measurement runs in its own fresh process (``spawn``), one after another.

Example:
    >>> rss_bytes() > 0
    True
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import report

PROBLEM = "mixed10"
CHUNK = 1000
OWNER = "bench-worker"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m benchmarks memory``."""
    parser.add_argument("--trials", type=int, default=None, help="N (default 100000; quick 2000)")
    parser.add_argument("--changed", type=int, default=100, help="trials changed between refreshes")
    parser.add_argument("--no-journal", action="store_true", help="skip Optuna's Redis journal")
    parser.add_argument("--journal-trials", type=int, default=None,
                        help="trials in the Optuna journal study (default min(N, 10000): its "
                        "writes slow down as the journal grows)")
    parser.add_argument("--no-suggest", action="store_true", help="skip the suggest timings")
    parser.add_argument("--case-timeout", type=float, default=900.0,
                        help="seconds one measurement may take before it is reported as cut off")


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def settled_rss() -> int:
    """RSS after a full garbage collection."""
    gc.collect()
    return rss_bytes()


# ---------------------------------------------------------------------------- trial generators


def _losses(mod: Any, space: Any, docs: Sequence[dict]) -> list[float]:
    from benchmarks.problems import get_problem

    objective = get_problem(PROBLEM).objective
    out = []
    for doc in docs:
        values = {k: v[0] for k, v in doc["misc"]["vals"].items() if len(v)}
        out.append(float(objective(mod.space_eval(space, values))))
    return out


def done_doc_chunks(library: str, n: int, seed: int = 0) -> Iterator[list[dict]]:
    """Finished trial documents (hqueue or hyperopt schema, which is the same) in chunks."""
    from benchmarks import peers
    from benchmarks.problems import get_problem

    mod = peers.load_library(library)
    space = get_problem(PROBLEM).space(mod.hp)
    domain = mod.Domain(lambda c: 0.0, space)
    for start in range(0, n, CHUNK):
        ids = list(range(start, min(n, start + CHUNK)))
        docs = mod.rand.suggest(ids, domain, mod.Trials(), seed + start)
        for doc, loss in zip(docs, _losses(mod, space, docs)):
            doc["state"] = mod.JOB_STATE_DONE
            doc["result"] = {"loss": loss, "status": mod.STATUS_OK}
        yield docs


def optuna_trial_chunks(n: int, seed: int = 0) -> Iterator[list[Any]]:
    """Complete Optuna ``FrozenTrial`` objects with the same space, in chunks."""
    import optuna

    from benchmarks.problems import get_problem
    from benchmarks.trial_stub import RandomTrial

    problem = get_problem(PROBLEM)
    rng = np.random.default_rng(seed)
    for start in range(0, n, CHUNK):
        chunk = []
        for _ in range(min(CHUNK, n - start)):
            stub = RandomTrial(rng)
            value = problem.objective(problem.optuna_config(stub))
            chunk.append(optuna.trial.create_trial(
                params=stub.params, distributions=stub.distributions, value=value))
        yield chunk


# ------------------------------------------------------------------------- filling the store


def fill_store(url: str, exp_key: str, n: int, first_tid: int = 0) -> float:
    """Create, claim and finish ``n`` trials through ``TrialStore``; returns seconds."""
    from hqueue.backends.redis.store import TrialStore
    from hqueue.states import JOB_STATE_DONE

    store = TrialStore.from_url(url, exp_key)
    start = time.perf_counter()
    for docs in done_doc_chunks("hqueue", n, seed=first_tid):
        tids = store.new_tids(len(docs))
        for doc, tid in zip(docs, tids):
            doc["tid"] = doc["misc"]["tid"] = tid
            doc["misc"]["idxs"] = {k: [tid] * len(v) for k, v in doc["misc"]["idxs"].items()}
            doc["exp_key"] = exp_key
        result = [d.pop("result") for d in docs]
        for d in docs:
            d["state"] = 0
        store.create(docs)
        for doc, res in zip(docs, result):
            store.claim(doc["tid"], OWNER, lease_s=3600)
            store.finish(doc["tid"], OWNER, JOB_STATE_DONE, res)
    seconds = time.perf_counter() - start
    store.client.close()
    return seconds


def redis_footprint(url: str, exp_key: str, n: int, before: int) -> dict[str, Any]:
    """used_memory delta per trial, and MEMORY USAGE of trial hashes and index keys."""
    import redis

    from hqueue.backends.redis.keys import ExperimentKeys

    client = redis.Redis.from_url(url)
    keys = ExperimentKeys(exp_key)
    after = int(client.info("memory")["used_memory"])
    rng = np.random.default_rng(1)
    sample = rng.choice(n, size=min(1000, n), replace=False)
    trial_bytes = [int(client.memory_usage(keys.trial(int(t)), samples=0)) for t in sample]
    index = {}
    for name in ("tids", "changes", "events", "running", "queued", "seq", "tid"):
        key = getattr(keys, name)
        index[name] = int(client.memory_usage(key, samples=0) or 0)
    client.close()
    return {"used_memory_delta": after - before, "per_trial": (after - before) / n,
            "trial_hash_mean": float(np.mean(trial_bytes)), "index_keys": index}


# ------------------------------------------------------------------ cases (each in a child)


def _median_time(fn: Callable[[], Any], reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def case_redis_trials(url: str, exp_key: str, n: int, changed: int, suggest: bool
                      ) -> dict[str, Any]:
    """RSS of a RedisTrials mirror of ``n`` finished trials; refresh and suggest timings."""
    from benchmarks.problems import get_problem
    from hqueue import Domain, hp, tpe
    from hqueue.backends.redis.trials import RedisTrials

    domain = Domain(lambda c: 0.0, get_problem(PROBLEM).space(hp))
    trials = RedisTrials(url, exp_key, refresh=False)
    trials.store.changes_since(0)  # warm the connection and scripts
    base = settled_rss()
    start = time.perf_counter()
    trials.refresh()
    out: dict[str, Any] = {"first_refresh_s": time.perf_counter() - start}
    if len(trials.trials) != n:
        raise RuntimeError(f"mirror holds {len(trials.trials)} trials, expected {n}")
    out["rss_mirror"] = settled_rss() - base
    start = time.perf_counter()
    trials.history()
    out["history_build_s"] = time.perf_counter() - start
    out["rss_with_history"] = settled_rss() - base
    out["refresh_nochange_s"] = _median_time(trials.refresh, 5)
    times = []
    for _ in range(3):
        fill_store(url, exp_key, changed, first_tid=10**7 + len(trials.trials))
        start = time.perf_counter()
        trials.refresh()
        times.append(time.perf_counter() - start)
    out["refresh_changed_s"] = statistics.median(times)
    if suggest:
        rng = np.random.default_rng(0)
        for label in ("suggest_cold_s", "suggest_warm_s"):
            ids = trials.new_trial_ids(1)
            start = time.perf_counter()
            tpe.suggest(ids, domain, trials, int(rng.integers(2**31 - 1)))
            out[label] = time.perf_counter() - start
    out["n"] = len(trials.trials)
    return out


def case_trials(library: str, n: int, suggest: bool) -> dict[str, Any]:
    """RSS of an in-memory hqueue or hyperopt ``Trials`` with ``n`` finished trials."""
    from benchmarks import peers
    from benchmarks.problems import get_problem

    mod = peers.load_library(library)
    trials = mod.Trials()
    next(done_doc_chunks(library, 10))  # warm imports and code paths
    base = settled_rss()
    for docs in done_doc_chunks(library, n):
        trials.insert_trial_docs(docs)
        del docs
    trials.refresh()
    out: dict[str, Any] = {"rss": settled_rss() - base, "n": len(trials.trials)}
    if hasattr(trials, "history"):
        trials.history()
        out["rss_with_history"] = settled_rss() - base
    if suggest:
        domain = mod.Domain(lambda c: 0.0, get_problem(PROBLEM).space(mod.hp))
        for label in ("suggest_cold_s", "suggest_warm_s"):
            if library == "hyperopt" and label == "suggest_warm_s":
                break  # hyperopt keeps no index: every call costs the same
            ids = trials.new_trial_ids(1)
            start = time.perf_counter()
            mod.tpe.suggest(ids, domain, trials, 1)
            out[label] = time.perf_counter() - start
    return out


def _quiet_optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    return optuna


def case_optuna_memory(n: int, suggest: bool) -> dict[str, Any]:
    """RSS of an in-memory Optuna study with ``n`` complete trials; one ask at ``n``."""
    from benchmarks.problems import get_problem

    optuna = _quiet_optuna()
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    next(optuna_trial_chunks(10))
    base = settled_rss()
    for chunk in optuna_trial_chunks(n):
        study.add_trials(chunk)
        del chunk
    out: dict[str, Any] = {"rss": settled_rss() - base, "n": len(study.trials)}
    if suggest:
        start = time.perf_counter()
        trial = study.ask()
        get_problem(PROBLEM).optuna_config(trial)
        out["suggest_cold_s"] = time.perf_counter() - start
    return out


def case_optuna_journal_fill(url: str, study_name: str, n: int) -> dict[str, Any]:
    """Write ``n`` complete trials into a JournalRedisStorage study; Redis bytes per trial."""
    import redis
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalRedisBackend

    optuna = _quiet_optuna()
    client = redis.Redis.from_url(url)
    storage = JournalStorage(JournalRedisBackend(url))
    study = optuna.create_study(study_name=study_name, storage=storage)
    chunks = optuna_trial_chunks(n)
    before = int(client.info("memory")["used_memory"])
    start = time.perf_counter()
    for chunk in chunks:
        study.add_trials(chunk)
    seconds = time.perf_counter() - start
    after = int(client.info("memory")["used_memory"])
    return {"fill_s": seconds, "per_trial": (after - before) / n}


def case_optuna_journal_load(url: str, study_name: str, n: int) -> dict[str, Any]:
    """RSS of a process that loads the journal study (it replays the log into memory)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalRedisBackend

    optuna = _quiet_optuna()
    base = settled_rss()
    start = time.perf_counter()
    storage = JournalStorage(JournalRedisBackend(url))  # replays the whole log
    study = optuna.load_study(study_name=study_name, storage=storage)
    count = len(study.get_trials(deepcopy=False))
    seconds = time.perf_counter() - start
    return {"rss": settled_rss() - base, "load_s": seconds, "n": count, "per_n": count}


def in_child(fn: Callable[..., dict[str, Any]], *args: Any, timeout: float) -> dict[str, Any]:
    """Run ``fn(*args)`` in a fresh spawned process; {"error": ...} if it fails or times out."""
    import multiprocessing as mp

    pool = ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"))
    try:
        return pool.submit(fn, *args).result(timeout=timeout)
    except FutureTimeout:
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.kill()  # the child this call started, by its own handle
        return {"error": f"cut off after {timeout:.0f} s"}
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------------------------- the report


def _kb(x: float | None) -> str:
    return "-" if x is None else f"{x / 1024:.2f}"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1e3:.1f}"


def render(n: int, changed: int, res: dict[str, dict[str, Any]]) -> str:
    """Markdown tables from the measurements (missing ones show their error)."""
    parts = []
    store, journal = res.get("store", {}), res.get("optuna_journal_fill", {})
    rows = [["hqueue (RedisTrials store)", f"{store.get('per_trial', 0):.0f}",
             f"{store.get('trial_hash_mean', 0):.0f}", "1.00"]]
    if "per_trial" in journal:
        rows.append(["Optuna JournalRedisStorage", f"{journal['per_trial']:.0f}", "-",
                     f"{journal['per_trial'] / store['per_trial']:.2f}"])
    parts.append(f"## Redis bytes per finished trial (N = {n:,})\n\n" + report.markdown_table(
        ["store", "used_memory delta / N", "MEMORY USAGE of one trial hash (mean of 1,000)",
         "ratio to hqueue"], rows, left=1) + "\n")
    if store.get("index_keys"):
        idx = store["index_keys"]
        parts.append("hqueue's per-experiment index keys (MEMORY USAGE, bytes per trial): "
                     + ", ".join(f"`{k}` {v / n:.1f}" for k, v in idx.items() if v) + ".\n")
    if "fill_s" in store:
        parts.append(f"Filling the hqueue store (create + claim + finish per trial, one "
                     f"client): {store['fill_s']:.1f} s ({n / store['fill_s']:,.0f} trials/s)"
                     + (f"; the Optuna journal ({journal['fill_s']:.1f} s)."
                        if "fill_s" in journal else ".") + "\n")
    rt = res.get("redis_trials", {})
    ref = rt.get("rss_with_history")
    drows = []
    for label, key, field in DRIVER_ROWS:
        r = res.get(key, {})
        if "error" in r:
            drows.append([label, r["error"], "-", "-"])
        elif field in r:
            per_n = r.get("per_n", n)
            per_trial = r[field] / per_n
            ratio = f"{per_trial / (ref / n):.2f}" if ref else "-"
            if per_n != n:
                label += f" (N = {per_n:,})"
            drows.append([label, f"{r[field] / 2**20:.1f}", f"{per_trial:.0f}", ratio])
    parts.append(
        f"## Driver memory with N = {n:,} finished trials\n\nGrowth of the process's resident "
        "set (RSS) from the empty object to the full one; ratio (per trial) to the "
        "RedisTrials mirror with its sampler history (what a running hqueue driver holds):\n\n"
        + report.markdown_table(["holder", "MiB", "bytes per trial", "ratio"], drows, left=1)
        + "\n")
    if rt and "error" not in rt:
        trows = [
            ["first refresh() (loads the mirror)", _ms(rt.get("first_refresh_s"))],
            ["sampler history build (first history())", _ms(rt.get("history_build_s"))],
            ["refresh(), nothing changed", _ms(rt.get("refresh_nochange_s"))],
            [f"refresh(), {changed} new trials finished", _ms(rt.get("refresh_changed_s"))],
        ]
        parts.append(f"## RedisTrials refresh at N = {n:,}\n\n" + report.markdown_table(
            ["operation", "ms (median)"], trows, left=1) + "\n\n`refresh()` pulls only the "
            "changed trials and appends them to the views and the sampler history, so its "
            "cost follows what changed, not N (the asynchronous driver calls it every "
            "loop).\n")
    srows = []
    for label, key in (("hqueue tpe (RedisTrials)", "redis_trials"),
                       ("hqueue tpe (in-memory Trials)", "hqueue_trials"),
                       ("hyperopt 0.3.0 tpe", "hyperopt_trials"),
                       ("Optuna TPESampler ask + suggest_*", "optuna_memory")):
        r = res.get(key, {})
        if "suggest_cold_s" in r:
            srows.append([label, _ms(r["suggest_cold_s"]), _ms(r.get("suggest_warm_s"))])
    if srows:
        parts.append(f"## One suggestion at N = {n:,}\n\n" + report.markdown_table(
            ["algorithm", "first call, ms", "second call, ms"], srows, left=1)
            + "\n\nThe first hqueue call indexes the whole history (columns, sort orders); "
            "later calls reuse the index. hyperopt rebuilds everything on every call.\n")
    return "\n".join(parts)


DRIVER_ROWS = (
    ("hqueue RedisTrials mirror (after refresh)", "redis_trials", "rss_mirror"),
    ("hqueue RedisTrials mirror + sampler history", "redis_trials", "rss_with_history"),
    ("hqueue Trials (in memory)", "hqueue_trials", "rss"),
    ("hqueue Trials + sampler history", "hqueue_trials", "rss_with_history"),
    ("hyperopt 0.3.0 Trials", "hyperopt_trials", "rss"),
    ("Optuna in-memory study", "optuna_memory", "rss"),
    ("Optuna study loaded from JournalRedisStorage", "optuna_journal_load", "rss"),
)


def plot(n: int, res: dict[str, dict[str, Any]], path: Path) -> Path:
    """Bars: Redis bytes per trial (left) and driver bytes per trial (right)."""
    plt = report.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), width_ratios=(1, 2.4))
    redis_bars = [("hqueue", res.get("store", {}).get("per_trial")),
                  ("Optuna journal", res.get("optuna_journal_fill", {}).get("per_trial"))]
    redis_bars = [(k, v) for k, v in redis_bars if v]
    left.bar([k for k, _ in redis_bars], [v for _, v in redis_bars], color=["C0", "C2"])
    left.set(title="Redis bytes per finished trial", ylabel="bytes")
    driver = [(label.replace(" (after refresh)", "").replace("hqueue ", "hqueue\n"),
               res.get(key, {}).get(field), res.get(key, {}).get("per_n", n))
              for label, key, field in DRIVER_ROWS]
    driver = [(k + (f"\n(N = {per_n:,})" if per_n != n else ""), v / per_n)
              for k, v, per_n in driver if v]
    right.barh([k for k, _ in driver][::-1], [v for _, v in driver][::-1], color="C1")
    right.set(title="driver RSS growth per trial", xlabel="bytes")
    right.tick_params(axis="y", labelsize=8)
    fig.suptitle(f"{n:,} finished trials (mixed10 space)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Entry point: start Redis, fill it, run each measurement in a fresh process, report."""
    from hqueue.backends.redis.server import RedisServer

    n = args.trials or (2000 if args.quick else 100_000)
    suggest = not args.no_suggest
    t = args.case_timeout
    res: dict[str, dict[str, Any]] = {}
    notes = [f"space: {PROBLEM} (10 parameters), trials drawn by random search, all DONE",
             f"load average (1, 5, 15 min) at start: {os.getloadavg()}"]
    os.environ.setdefault("HQUEUE_SECRET", uuid.uuid4().hex)
    with RedisServer(appendonly=False) as server:
        import redis

        client = redis.Redis.from_url(server.url)
        notes.append(f"redis-server {client.info('server')['redis_version']}, no persistence")
        exp = f"mem-{uuid.uuid4().hex[:8]}"
        before = int(client.info("memory")["used_memory"])
        print(f"filling the hqueue store with {n:,} trials ...", flush=True)
        seconds = fill_store(server.url, exp, n)
        res["store"] = {**redis_footprint(server.url, exp, n, before), "fill_s": seconds}
        steps: list[tuple[str, Callable[..., dict[str, Any]], tuple]] = [
            ("redis_trials", case_redis_trials, (server.url, exp, n, args.changed, suggest)),
            ("hqueue_trials", case_trials, ("hqueue", n, suggest)),
            ("hyperopt_trials", case_trials, ("hyperopt", n, suggest)),
            ("optuna_memory", case_optuna_memory, (n, suggest)),
        ]
        if not args.no_journal:
            study = f"mem-{uuid.uuid4().hex[:8]}"
            nj = min(n, args.journal_trials or 10_000)
            steps += [("optuna_journal_fill", case_optuna_journal_fill, (server.url, study, nj)),
                      ("optuna_journal_load", case_optuna_journal_load, (server.url, study, nj))]
            if nj != n:
                notes.append(f"Optuna JournalRedisStorage rows are measured with {nj:,} trials "
                             f"(per-trial figures; --journal-trials), not {n:,}")
        for name, fn, fargs in steps:
            print(f"{name} ...", flush=True)
            res[name] = in_child(fn, *fargs, timeout=t)
            print(f"  {res[name]}", flush=True)
        client.close()
    notes.append(f"load average at end: {os.getloadavg()}")
    errors = [f"{k}: {v['error']}" for k, v in res.items() if "error" in v]
    notes += [f"FAILED {e}" for e in errors]
    body = render(n, args.changed, res)
    print(body)
    out = report.output_dir(args.quick, args.out)
    text = report.header_markdown("memory at 100,000 trials" if n == 100_000 else
                                  f"memory at {n:,} trials", report.environment(argv), notes)
    md = report.write_text(out / "memory.md", text + "\n" + body)
    png = plot(n, res, out / "memory.png")
    print(f"wrote {md} and {png}")
    return 1 if errors else 0
