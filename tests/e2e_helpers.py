"""Helpers for tests that run real worker processes against a real redis-server.

- :class:`WorkerPool` starts ``celery -A hqueue.worker worker`` processes (solo or prefork,
  each with its own URL, environment, resource limits and log file) and stops them.
- :class:`LoggedObjective` is an objective (``pass_expr_memo_ctrl`` style) that appends one
  JSON line per evaluation start and return to a file, so re-evaluations are visible and
  counted, and that misbehaves on chosen tids (kills its process, exhausts memory, hangs...).
- :func:`check_exactly_once` reads an experiment straight from Redis and asserts the
  invariants every fault test ends with: tids 0..n-1, one document each, nothing left NEW or
  RUNNING, one finish event per tid, each DONE result one of that trial's evaluations.

The worker processes import this module (objectives are pickled by reference to it), so
:func:`worker_env` puts ``tests/`` on their ``PYTHONPATH``.

Example:
    pool = WorkerPool(redis_url, tmp_path)
    pool.start()
    objective = LoggedObjective(tmp_path / "evals.jsonl")
    fmin(objective, hp.uniform("x", -1, 1), max_evals=20, pass_expr_memo_ctrl=True,
         trials=RedisTrials(redis_url, exp_key="e"))
    summary = check_exactly_once(redis_url, "e", 20, objective.log_path)
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

SECRET = "fault-secret-0123456789abcdef"
TESTS_DIR = str(Path(__file__).resolve().parent)


def worker_env(url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker process: ``HQUEUE_URL``, the shared secret, tests/ on the
    path (objectives defined here are pickled by reference)."""
    path = os.pathsep.join(p for p in (TESTS_DIR, os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, HQUEUE_URL=url, HQUEUE_SECRET=SECRET, PYTHONPATH=path)
    env.update(extra or {})
    return env


class WorkerPool:
    """Celery worker processes for one test; :meth:`stop_all` ends every one still running."""

    def __init__(self, url: str, log_dir: Path | str) -> None:
        self.url = url
        self.log_dir = Path(log_dir)
        self.procs: list[subprocess.Popen] = []
        self.logs: dict[int, Path] = {}

    def start(self, *, url: str | None = None, pool: str = "solo", concurrency: int = 1,
              env: Mapping[str, str] | None = None, preexec_fn: Callable[[], None] | None = None,
              queue: str = "hqueue", loglevel: str = "WARNING", app: str = "hqueue.worker"
              ) -> subprocess.Popen:
        """One more worker process (``celery -A <app> worker``); its stderr goes to
        ``<log_dir>/worker-<n>.log``."""
        n = len(self.procs)
        log_path = self.log_dir / f"worker-{n}.log"
        cmd = [sys.executable, "-m", "celery", "-A", app, "worker",
               f"--pool={pool}", "-Q", queue, f"--loglevel={loglevel}",
               "-n", f"w{n}-{uuid.uuid4().hex[:6]}@%h",
               "--without-gossip", "--without-mingle", "--without-heartbeat"]
        if pool != "solo":
            cmd.append(f"--concurrency={concurrency}")
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(cmd, env=worker_env(url or self.url, env),
                                    stdout=subprocess.DEVNULL, stderr=log, preexec_fn=preexec_fn)
        self.procs.append(proc)
        self.logs[proc.pid] = log_path
        return proc

    def kill(self, proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        """Signal one worker and reap it."""
        if proc.poll() is None:
            proc.send_signal(sig)
        proc.wait(timeout=60)

    def log_text(self, proc: subprocess.Popen) -> str:
        return self.logs[proc.pid].read_text(errors="replace")

    def alive(self) -> list[subprocess.Popen]:
        return [p for p in self.procs if p.poll() is None]

    def stop_all(self) -> None:
        """SIGTERM every live worker (and its pool processes), SIGKILL what does not exit."""
        live = self.alive()
        for p in live:
            p.send_signal(signal.SIGTERM)
        for p in live:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str,
               every: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy. ``timeout`` is a safety net only
    (a broken run fails instead of hanging), never a performance assertion."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


# -- the objective -----------------------------------------------------------------------------
def append_line(path: Path | str, record: Mapping[str, Any]) -> None:
    """Append one JSON line in one ``write`` (O_APPEND: lines of concurrent writers never mix)."""
    data = (json.dumps(record) + "\n").encode()
    fd = os.open(str(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read_log(path: Path | str) -> list[dict]:
    """Every record of an evaluation log (an absent log is empty)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class LoggedObjective:
    """An objective taking ``(expr, memo, ctrl)`` that logs each evaluation.

    It returns ``{"loss": (x - 0.3) ** 2, "token": <unique per evaluation>, "pid", "exp"}``
    after ``sleep_s``. ``behaviours`` maps a tid to what the objective does instead:

    ``kill``      SIGKILL its own process          ``exit``   ``os._exit(3)``
    ``hog``       allocate 64 MiB blocks until MemoryError (or the kernel kills it)
    ``hang_py``   checkpoint, then loop in Python forever, ignoring ``ctrl.should_stop()``
    ``hang_c``    checkpoint, then ``time.sleep(10**6)`` (blocked inside a C call)
    ``gate``      in a process whose ``HQ_TEST_GATE`` names a path: block until that file
                  exists (at most 10 min), then return normally; elsewhere return at once
    ``attach``    write ``HQ_ATTACH_BYTES`` bytes (env, default 50 MiB) to
                  ``ctrl.attachments["big"]`` and return the value's sha256
    """

    fmin_pass_expr_memo_ctrl = True

    def __init__(self, log_path: Path | str, behaviours: Mapping[int, str] | None = None,
                 sleep_s: float = 0.0, exp: str | None = None) -> None:
        self.log_path = str(log_path)
        self.behaviours = dict(behaviours or {})
        self.sleep_s = sleep_s
        self.exp = exp

    def __call__(self, expr: Any, memo: Any, ctrl: Any) -> dict:
        from hqueue.pyll import rec_eval

        trial = ctrl.current_trial
        tid, pid, token = int(trial["tid"]), os.getpid(), uuid.uuid4().hex
        record = {"tid": tid, "pid": pid, "token": token, "exp": self.exp,
                  "attempt": int(trial["misc"].get("attempts", 0))}
        append_line(self.log_path, dict(record, event="start"))
        x = float(rec_eval(expr, memo=memo))
        extra = self._misbehave(self.behaviours.get(tid), ctrl, x)
        if self.sleep_s:
            time.sleep(self.sleep_s)
        result = {"loss": (x - 0.3) ** 2, "status": "ok", "token": token, "pid": pid,
                  "exp": self.exp, **extra}
        append_line(self.log_path, dict(record, event="return"))
        return result

    def _misbehave(self, what: str | None, ctrl: Any, x: float) -> dict:
        if what is None:
            return {}
        if what == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if what == "exit":
            os._exit(3)
        if what == "hog":
            blocks = []
            while True:  # MemoryError under RLIMIT_AS; the OOM killer otherwise
                blocks.append(bytearray(64 * 2**20))
        if what in ("hang_py", "hang_c"):
            ctrl.checkpoint({"status": "ok", "loss": 1.5, "partial": what})
            if what == "hang_c":
                time.sleep(10**6)
            while True:  # ignores ctrl.should_stop()
                time.sleep(0.05)
        if what == "gate":
            wait_for_gate()
            return {}
        if what == "attach":
            import hashlib

            data = os.urandom(int(os.environ.get("HQ_ATTACH_BYTES", 50 * 2**20)))
            ctrl.attachments["big"] = data
            return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        raise ValueError(f"unknown behaviour {what!r}")


# -- invariants --------------------------------------------------------------------------------
def all_docs(url: str, exp_key: str) -> list[dict]:
    """Every trial document of an experiment, straight from Redis, in tid order."""
    from hqueue.backends.redis.store import TrialStore

    store = TrialStore.from_url(url, exp_key)
    try:
        return sorted(store.changes_since(0)[1], key=lambda d: d["tid"])
    finally:
        store.client.close()


def finish_events(client: Any, exp_key: str) -> collections.Counter:
    """How many times each tid was announced finished on the experiment's event stream."""
    from hqueue.backends.redis.keys import ExperimentKeys

    counts: collections.Counter = collections.Counter()
    for _, fields in client.xrange(ExperimentKeys(exp_key).events):
        counts[int(fields[b"tid"])] += 1
    return counts


def check_exactly_once(url: str, exp_key: str, n: int, log_path: Path | str | None = None,
                       final_states: Mapping[int, int] | None = None) -> dict:
    """Assert that ``exp_key`` holds exactly trials 0..n-1, each finished exactly once.

    ``final_states`` maps tids to the state they must end in (others: DONE). With
    ``log_path`` (a :class:`LoggedObjective` log), each DONE result must be one of that
    trial's logged evaluations, and a trial was never evaluated more often than claimed.
    Returns figures for the report: trials, lost, duplicated, re-evaluations.
    """
    from hqueue.backends.redis.connection import client_from_url
    from hqueue.backends.redis.keys import ExperimentKeys
    from hqueue.states import JOB_STATE_DONE, JOB_STATE_NEW, JOB_STATE_RUNNING

    docs = all_docs(url, exp_key)
    tids = [d["tid"] for d in docs]
    assert tids == list(range(n)), f"tids are not 0..{n - 1} once each: {tids}"
    assert {d["exp_key"] for d in docs} == {exp_key}
    unfinished = [d["tid"] for d in docs if d["state"] in (JOB_STATE_NEW, JOB_STATE_RUNNING)]
    assert not unfinished, f"trials left NEW or RUNNING: {unfinished}"
    wanted = dict.fromkeys(range(n), JOB_STATE_DONE) | dict(final_states or {})
    wrong = {d["tid"]: (d["state"], d["misc"].get("error")) for d in docs
             if d["state"] != wanted[d["tid"]]}
    assert not wrong, f"trials in an unexpected state: {wrong}"
    client = client_from_url(url)
    try:
        keys = ExperimentKeys(exp_key)
        assert client.zcard(keys.running) == 0 and client.zcard(keys.queued) == 0
        events = finish_events(client, exp_key)
    finally:
        client.close()
    twice = {t: c for t, c in events.items() if c != 1}
    assert set(events) == set(range(n)) and not twice, f"finish events per tid: {twice}"
    summary = {"trials": n, "lost": 0, "duplicated": 0, "re_evaluations": 0}
    if log_path is not None:
        returns = collections.defaultdict(list)
        starts: collections.Counter = collections.Counter()
        for rec in read_log(log_path):
            if rec.get("exp") is not None and rec["exp"] != exp_key:
                continue
            if rec["event"] == "start":
                starts[rec["tid"]] += 1
            else:
                returns[rec["tid"]].append(rec["token"])
        for d in docs:
            assert starts[d["tid"]] <= max(d["misc"]["attempts"], 1), (d["tid"], starts)
            if d["state"] == JOB_STATE_DONE:
                assert d["result"]["token"] in returns[d["tid"]], d
        summary["re_evaluations"] = sum(c - 1 for c in starts.values() if c > 1)
        summary["evaluations"] = sum(starts.values())
    return summary


def record(fault: str, **figures: Any) -> None:
    """Append one row of figures to ``$HQ_FAULT_REPORT`` (a JSON-lines file) when it is set:
    ``scripts/fault-campaign`` prints them as a table. A no-op otherwise."""
    path = os.environ.get("HQ_FAULT_REPORT")
    if path:
        append_line(path, {"fault": fault, **figures})


def wait_for_gate() -> None:
    """In a worker whose ``HQ_TEST_GATE`` names a path: block until that file exists (at most
    10 min); elsewhere return at once."""
    gate = os.environ.get("HQ_TEST_GATE")
    if gate:
        deadline = time.monotonic() + 600
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.05)


def send_trials(url: str, exp_key: str, objective: Callable[..., Any], space: Any,
                points: list[dict], **domain_kw: Any) -> Any:
    """What a driver does, without a driver: publish ``objective`` over ``space`` (signed
    with the secret of this process's environment), create one NEW trial per point and send
    their tasks. Returns the experiment's TrialStore."""
    from hqueue import Domain
    from hqueue.backends.redis.driver import publish_domain
    from hqueue.backends.redis.trials import RedisTrials
    from hqueue.fmin import generate_trial
    from hqueue.tasks import celery_sender, dispatch

    trials = RedisTrials(url, exp_key=exp_key)
    publish_domain(trials, Domain(objective, space, **domain_kw))
    store = trials.store
    tids = store.new_tids(len(points))
    docs = []
    for tid, point in zip(tids, points):
        doc = generate_trial(tid, point)
        doc["exp_key"] = exp_key
        docs.append(doc)
    store.create(docs)
    dispatch(store, tids, "hqueue", celery_sender(url))
    return store
