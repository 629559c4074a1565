"""Worker-side faults against real worker processes and a real redis-server.

Each test injects one fault into a running search and ends by checking that every trial
finished exactly once (:func:`e2e_helpers.check_exactly_once`): tids 0..n-1 with one document
each, nothing left NEW or RUNNING, one finish event per tid, each DONE result one of that
trial's logged evaluations. The figures each test prints (``-s``) are the ones reported in
docs/RELIABILITY.md; ``scripts/fault-campaign`` runs the long variants.

Environment knobs (the CI defaults in brackets):
``HQ_FAULT_KILL_TRIALS`` trials of the repeated-SIGKILL search [100].
``HQ_FAULT_ZOO``         1: every 5th trial of that search also runs an objective-zoo behaviour
                         (tests/zoo_objectives.py: forks, leftover processes, unstorable
                         results, ...) [0].
"""

from __future__ import annotations

import os
import random
import resource
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
from e2e_helpers import (
    SECRET,
    LoggedObjective,
    WorkerPool,
    all_docs,
    check_exactly_once,
    finish_events,
    read_log,
    record,
    wait_until,
)

from hqueue import fmin, hp, rand, tpe
from hqueue.backends.redis.trials import RedisTrials
from hqueue.states import JOB_STATE_DONE, JOB_STATE_ERROR

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("e2e_secret")]


def _search(url, exp_key, objective, n, *, algo=tpe.suggest, queue_len=4, **options):
    trials = RedisTrials(url, exp_key=exp_key, **options)
    fmin(objective, hp.uniform("x", -1, 1), algo=algo, max_evals=n, trials=trials,
         max_queue_len=queue_len, rstate=np.random.default_rng(0), show_progressbar=False)
    return trials


def _owner_pids(url, exp_key) -> set[int]:
    """pids of the workers that hold a RUNNING trial of ``exp_key`` now."""
    import redis

    from hqueue.backends.redis.keys import ExperimentKeys

    client, keys = redis.Redis.from_url(url), ExperimentKeys(exp_key)
    try:
        pids = set()
        for raw in client.zrange(keys.running, 0, -1):
            owner = client.hget(keys.trial(int(raw)), "owner") or b""
            parts = owner.decode().split(":")
            if len(parts) == 3 and parts[1].isdigit():
                pids.add(int(parts[1]))
        return pids
    finally:
        client.close()


# -- a. workers SIGKILLed again and again ------------------------------------------------------
class Killer(threading.Thread):
    """Every 1-3 s, SIGKILL one worker that holds a running trial and start a replacement."""

    def __init__(self, pool: WorkerPool, url: str, exp_key: str, seed: int = 0) -> None:
        super().__init__(name="killer", daemon=True)
        self.pool, self.url, self.exp_key = pool, url, exp_key
        self.rng = random.Random(seed)
        self.halt = threading.Event()
        self.kills = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.halt.wait(self.rng.uniform(1.0, 3.0)):
                victim = self._busy_worker(within_s=5.0)
                if victim is None or self.halt.is_set():
                    continue
                self.pool.kill(victim)  # SIGKILL while it runs a trial
                self.kills += 1
                self.pool.start()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _busy_worker(self, within_s: float):
        deadline = time.monotonic() + within_s
        while not self.halt.is_set() and time.monotonic() < deadline:
            busy = _owner_pids(self.url, self.exp_key)
            live = [p for p in self.pool.alive() if p.pid in busy]
            if live:
                return self.rng.choice(live)
            time.sleep(0.02)
        return None


def test_workers_sigkilled_every_few_seconds_lose_and_duplicate_no_trial(redis_url, pool,
                                                                          tmp_path):
    n = int(os.environ.get("HQ_FAULT_KILL_TRIALS", "100"))
    for _ in range(3):
        pool.start()
    objective, final_states = _kill_search_objective(tmp_path / "evals.jsonl", n)
    killer = Killer(pool, redis_url, "kills")
    begin = time.monotonic()
    killer.start()
    try:
        _search(redis_url, "kills", objective, n, algo=rand.suggest, queue_len=4, lease_s=2.0,
                max_retries=10)
    finally:
        killer.halt.set()
        killer.join(timeout=120)
    assert killer.error is None, killer.error
    summary = check_exactly_once(redis_url, "kills", n, objective.log_path, final_states)
    docs = all_docs(redis_url, "kills")
    recovered = [d["tid"] for d in docs if d["misc"]["attempts"] > 1]
    print(f"\nrepeated SIGKILL: {killer.kills} workers killed mid-trial, {n} trials, "
          f"{len(recovered)} recovered through their lease, "
          f"{summary['re_evaluations']} re-evaluations, lost 0, duplicated 0, "
          f"{time.monotonic() - begin:.0f} s")
    assert killer.kills >= 3, "the fault was hardly injected"
    assert recovered, "no kill hit a running trial"
    zoo = f" + objective zoo on {len(objective.zoo)} trials" if final_states is not None else ""
    record("worker SIGKILLed every 1-3 s (3 solo workers, a killer thread restarts them)" + zoo,
           test="test_workers_sigkilled_every_few_seconds_lose_and_duplicate_no_trial",
           injected=killer.kills, trials=n, lost=0, duplicated=0, stuck=0,
           re_evaluations=summary["re_evaluations"],
           observed=f"{len(recovered)} trials recovered through their lease (lease_s=2)",
           seconds=round(time.monotonic() - begin, 1))


def _kill_search_objective(log_path, n):
    """The repeated-SIGKILL search's objective and the tids that must end ERROR (None: all
    DONE); with ``HQ_FAULT_ZOO=1`` every 5th trial also runs a zoo behaviour."""
    if os.environ.get("HQ_FAULT_ZOO", "0") != "1":
        return LoggedObjective(log_path, sleep_s=0.2), None
    from zoo_objectives import ERRORS, ZOO, MixedObjective

    zoo = {tid: ZOO[i % len(ZOO)] for i, tid in enumerate(range(2, n, 5))}
    final = {tid: JOB_STATE_ERROR for tid, what in zoo.items() if what in ERRORS}
    return MixedObjective(log_path, zoo, sleep_s=0.2), final


# -- b. a worker cut off from Redis for longer than its lease ----------------------------------
@pytest.mark.parametrize("partition", ["reset", "silent"])
def test_a_worker_cut_off_past_its_lease_loses_the_trial_and_its_late_result_is_discarded(
        redis_url, pool, tmp_path, partition):
    """``reset``: the proxy closes the worker's connections and refuses new ones; ``silent``:
    it keeps them open but forwards nothing (the worker's heartbeat just hangs) until
    restored, when the held heartbeat arrives late."""
    from urllib.parse import urlsplit

    from tcp_proxy import TcpProxy

    target = urlsplit(redis_url)
    gate = tmp_path / "gate"
    lease_s, n, begin = 2.0, 6, time.monotonic()
    objective = LoggedObjective(tmp_path / "evals.jsonl", behaviours={0: "gate"})
    with TcpProxy((target.hostname, target.port)) as proxy:
        cut_off = pool.start(url=f"redis://127.0.0.1:{proxy.port}{target.path or '/0'}",
                             env={"HQ_TEST_GATE": str(gate)})
        errors: list[BaseException] = []

        def drive():
            try:
                _search(redis_url, "cut", objective, n, queue_len=1, lease_s=lease_s,
                        max_retries=3)
            except BaseException as exc:  # reported below
                errors.append(exc)

        driver = threading.Thread(target=drive, name="driver", daemon=True)
        driver.start()
        wait_until(lambda: any(r["tid"] == 0 and r["pid"] == cut_off.pid
                               for r in read_log(objective.log_path)), 60,
                   "trial 0 to start on the worker behind the proxy")
        if partition == "reset":
            dropped = proxy.cut()  # the worker's broker and store connections are reset
        else:
            proxy.freeze()
            dropped = proxy.accepted
        cut_at = time.monotonic()
        other = pool.start()

        def done_elsewhere():
            docs = all_docs(redis_url, "cut")
            return docs and docs[0]["state"] == JOB_STATE_DONE and docs[0]

        doc0 = wait_until(done_elsewhere, 120, "trial 0 to be requeued and finished elsewhere")
        held_s = time.monotonic() - cut_at
        proxy.restore()
        gate.touch()  # the stale worker's objective returns now, too late
        wait_until(lambda: "lost its lease" in pool.log_text(cut_off), 60,
                   "the stale worker to discard its result")
        driver.join(timeout=180)
        assert not driver.is_alive() and not errors, errors
        assert cut_off.poll() is None, "the cut-off worker died"
        # a clean shutdown: before the broker's socket_timeout, Celery's consumer sometimes
        # stayed blocked in a pub/sub read after the reset and ignored SIGTERM for good
        cut_off.send_signal(signal.SIGTERM)
        try:
            cut_off.wait(timeout=60)  # a liveness bound, not a speed target
        except subprocess.TimeoutExpired:
            pool.kill(cut_off)
            pytest.fail("the worker cut off and let back ignored SIGTERM for 60 s")
    summary = check_exactly_once(redis_url, "cut", n, objective.log_path)
    assert held_s > lease_s and dropped >= 1
    returns0 = [r for r in read_log(objective.log_path) if r["tid"] == 0 and
                r["event"] == "return"]
    assert sorted(r["pid"] for r in returns0) == sorted([cut_off.pid, other.pid])
    final = all_docs(redis_url, "cut")[0]
    assert final["result"]["pid"] == other.pid  # the other worker's result, written once
    assert final["result"]["token"] == doc0["result"]["token"]
    assert final["owner"].split(":")[1] == str(other.pid) and final["misc"]["attempts"] == 2
    print(f"\nworker cut off ({partition}): {dropped} connections cut, held {held_s:.1f} s "
          f"(lease {lease_s:g} s); trial 0 evaluated twice, stored once (the other worker's); "
          f"{summary['trials']} trials, lost 0, duplicated 0")
    how = {"reset": "TCP proxy resets its connections, refuses new ones",
           "silent": "TCP proxy holds its connections open, forwards nothing"}[partition]
    record(f"worker cut off from Redis past its lease ({how})",
           test="test_a_worker_cut_off_past_its_lease_loses_the_trial_and_its_late_result_"
                f"is_discarded[{partition}]",
           injected=1, trials=n, lost=0, duplicated=0, re_evaluations=summary["re_evaluations"],
           observed=f"cut held {held_s:.1f} s > lease {lease_s:g} s; trial requeued and finished "
                    "by the other worker; the late result discarded (stored once)",
           seconds=round(time.monotonic() - begin, 1))


# -- c. an objective that kills its own process under the prefork pool -------------------------
def test_an_objective_killing_its_pool_process_errors_at_the_retry_cap_and_the_pool_lives_on(
        redis_url, pool, tmp_path):
    n, max_retries = 10, 3
    objective = LoggedObjective(tmp_path / "evals.jsonl", behaviours={3: "kill", 6: "exit"},
                                sleep_s=0.05)
    parent = pool.start(pool="prefork", concurrency=2)
    begin = time.monotonic()
    _search(redis_url, "suicide", objective, n, algo=rand.suggest, queue_len=2, lease_s=2.0,
            max_retries=max_retries)
    duration = time.monotonic() - begin
    check_exactly_once(redis_url, "suicide", n, objective.log_path,
                       final_states={3: JOB_STATE_ERROR, 6: JOB_STATE_ERROR})
    docs, log = all_docs(redis_url, "suicide"), read_log(objective.log_path)
    for tid in (3, 6):
        doc = docs[tid]
        kind, message = doc["misc"]["error"]
        assert kind == "LeaseExpired" and f"lost its worker {max_retries} times" in message
        assert doc["misc"]["attempts"] == max_retries
        starts = [r for r in log if r["tid"] == tid and r["event"] == "start"]
        assert len(starts) == max_retries  # retried to the cap, then never again
    assert parent.poll() is None, "the worker's main process died"
    pool_pids = {r["pid"] for r in log}
    assert parent.pid not in pool_pids and len(pool_pids) >= 2 * max_retries  # replaced children
    print(f"\nobjective kills its process: 2 trials x {max_retries} deaths, "
          f"{len(pool_pids)} pool processes used, {n} trials, lost 0, duplicated 0, "
          f"{duration:.0f} s")
    record("objective kills its own prefork pool process (SIGKILL, os._exit)",
           test="test_an_objective_killing_its_pool_process_errors_at_the_retry_cap_and_the_"
                "pool_lives_on",
           injected=2 * max_retries, trials=n, lost=0, duplicated=0,
           re_evaluations=2 * (max_retries - 1),
           observed=f"each of the 2 trials ran {max_retries} times (max_retries) then ERROR "
                    f"LeaseExpired 'lost its worker {max_retries} times'; the pool replaced "
                    "its processes and ran the other trials", seconds=round(duration, 1))


# -- d. an objective that exhausts memory ------------------------------------------------------
MEMORY_LIMIT = 2 * 2**30  # address space of the worker under test


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def test_an_objective_exhausting_a_memory_limit_errors_with_memoryerror_and_the_worker_goes_on(
        redis_url, pool, tmp_path):
    n, begin = 6, time.monotonic()
    objective = LoggedObjective(tmp_path / "evals.jsonl", behaviours={2: "hog"})
    worker = pool.start(preexec_fn=_limit_memory)
    _search(redis_url, "memory", objective, n, algo=rand.suggest, queue_len=1, lease_s=5.0,
            max_retries=3)
    check_exactly_once(redis_url, "memory", n, objective.log_path,
                       final_states={2: JOB_STATE_ERROR})
    doc = all_docs(redis_url, "memory")[2]
    kind, _ = doc["misc"]["error"]
    assert "MemoryError" in kind and "MemoryError" in doc["result"]["traceback"]
    assert doc["misc"]["attempts"] == 1  # an error of the objective: not retried
    assert worker.poll() is None
    assert {r["pid"] for r in read_log(objective.log_path)} == {worker.pid}  # it went on
    print(f"\nmemory exhausted under RLIMIT_AS={MEMORY_LIMIT >> 20} MiB: MemoryError -> "
          f"ERROR at once, the same worker ran the {n - 1} other trials")
    record("objective exhausts memory (worker under RLIMIT_AS)",
           test="test_an_objective_exhausting_a_memory_limit_errors_with_memoryerror_and_the_"
                "worker_goes_on",
           injected=1, trials=n, lost=0, duplicated=0, re_evaluations=0,
           observed=f"MemoryError at {MEMORY_LIMIT >> 20} MiB: ERROR with its traceback, not "
                    "retried; the same worker ran the other trials",
           seconds=round(time.monotonic() - begin, 1))


# -- e. hanging objectives end at the per-trial timeout ----------------------------------------
def test_hanging_objectives_end_at_trial_timeout_keeping_their_partial_result(
        redis_url, pool, tmp_path):
    n, timeout = 6, 2.0
    objective = LoggedObjective(tmp_path / "evals.jsonl",
                                behaviours={1: "hang_py", 3: "hang_c"})
    worker = pool.start()  # one solo worker: it must go on after each hang
    begin = time.monotonic()
    _search(redis_url, "hang", objective, n, algo=rand.suggest, queue_len=1, lease_s=3.0,
            max_retries=3, trial_timeout=timeout)
    duration = time.monotonic() - begin
    check_exactly_once(redis_url, "hang", n, objective.log_path,
                       final_states={1: JOB_STATE_ERROR, 3: JOB_STATE_ERROR})
    docs = all_docs(redis_url, "hang")
    for tid, what in ((1, "hang_py"), (3, "hang_c")):
        doc = docs[tid]
        kind, message = doc["misc"]["error"]
        assert "TrialTimeout" in kind and "trial_timeout exceeded" in message
        assert doc["result"]["partial"] == what and doc["result"]["loss"] == 1.5  # checkpoint
        assert doc["result"]["status"] == "fail" and doc["misc"]["attempts"] == 1
    log = read_log(objective.log_path)
    assert {r["pid"] for r in log} == {worker.pid} and worker.poll() is None
    assert "blocked in native code" in pool.log_text(worker)  # hang_c: thread abandoned
    print(f"\nhanging objectives: Python loop and time.sleep both ERROR at trial_timeout="
          f"{timeout:g} s (+ grace), partial result kept, {n} trials in {duration:.0f} s")
    record("objective hangs (a Python loop, and time.sleep in C), ignoring should_stop()",
           test="test_hanging_objectives_end_at_trial_timeout_keeping_their_partial_result",
           injected=2, trials=n, lost=0, duplicated=0, re_evaluations=0,
           observed=f"both ERROR TrialTimeout at trial_timeout={timeout:g} s + 1 s grace, "
                    "checkpointed partial result kept; the worker went on",
           seconds=round(duration, 1))


# -- f. malformed documents in Redis -----------------------------------------------------------
# Domain blobs that are garbage, unsigned pickles (never unpickled), tampered or signed with
# another secret are pinned by tests/test_security.py, tests/test_worker_runner.py
# (test_a_domain_that_fails_authentication_errors_and_is_never_unpickled) and
# tests/test_e2e_distributed.py (test_a_tampered_domain_is_refused_and_never_unpickled).
# Here: malformed trial hashes, through a real worker and as a property of store and runner.
def _publish_abs_domain(client, exp_key: str) -> None:
    from hqueue import Domain
    from hqueue.backends.redis.keys import ExperimentKeys
    from hqueue.security import dumps_domain

    keys = ExperimentKeys(exp_key)
    digest, blob = dumps_domain(Domain(abs, hp.uniform("x", -1, 1)), exp_key, SECRET.encode())
    client.set(keys.domain(digest), blob)
    client.hset(keys.meta, mapping={"domain": digest, "lease_s": 5, "max_retries": 3})


def test_malformed_trial_hashes_are_errored_or_dropped_and_the_worker_goes_on(
        redis_url, pool, tmp_path):
    import redis

    from hqueue.backends.redis.codec import encode_doc
    from hqueue.backends.redis.store import TrialStore
    from hqueue.fmin import generate_trial
    from hqueue.worker.app import TASK_NAME, make_app

    exp_key, client, begin = "bad", redis.Redis.from_url(redis_url), time.monotonic()
    store = TrialStore(client, exp_key)
    _publish_abs_domain(client, exp_key)
    store.create([generate_trial(t, {"x": -0.5}) for t in (0, 1, 2, 3, 6)])
    keys = store.keys
    client.hset(keys.trial(0), "attempts", "not-a-number")  # repaired by the claim
    client.hset(keys.trial(1), "doc", b"\xc1 garbage \xff")  # not msgpack
    client.hdel(keys.trial(2), "doc")  # a missing field
    client.hset(keys.trial(3), "doc", encode_doc({"tid": 3, "misc": 5}))  # wrong type
    client.hset(keys.trial(4), mapping={"state": "running?", "doc": b""})  # state not a number
    client.set(keys.trial(5), b"not a hash")  # wrong Redis type
    worker = pool.start()
    app = make_app(redis_url)

    def send(tids):
        for tid in tids:
            app.send_task(TASK_NAME, args=[exp_key, tid], queue="hqueue")

    def state(tid):
        return client.hget(keys.trial(tid), "state")

    send(range(6))
    wait_until(lambda: state(0) == b"2" and all(state(t) == b"3" for t in (1, 2, 3)), 60,
               "the malformed trials to be errored")
    send(range(6))  # every task delivered again: dropped, nothing re-run
    send([6])  # a solo worker takes tasks in order: once 6 is done, the duplicates were seen
    wait_until(lambda: state(6) == b"2", 60, "the control trial after the duplicates")
    log = pool.log_text(worker)
    events = dict(finish_events(client, exp_key))
    assert events == {0: 1, 1: 1, 2: 1, 3: 1, 6: 1}  # each finished once, 4 and 5 never
    from hqueue.backends.redis.codec import decode_value

    reasons = {t: decode_value(client.hget(keys.trial(t), "error")) for t in (1, 2, 3)}
    assert all("CorruptTrialDocument" in kind for kind, _ in reasons.values()), reasons
    assert "not a valid" in reasons[1][1] or "FormatError" in reasons[1][1]
    assert "missing field 'doc'" in reasons[2][1]
    assert "no 'misc' map" in reasons[3][1]
    assert all(f"at '{keys.trial(t)}'" in reasons[t][1] for t in (1, 2, 3))  # names the key
    assert all(client.hget(keys.trial(t), "attempts") == b"1" for t in (0, 1, 2, 3, 6))
    assert log.count("is malformed (not a hash, or its state is not a number)") == 4
    assert state(4) == b"running?" and client.get(keys.trial(5)) == b"not a hash"
    assert client.zcard(keys.running) == 0 and client.zcard(keys.queued) == 0
    assert worker.poll() is None and "Traceback" not in log
    client.close()
    record("malformed trial hashes in Redis (garbage doc, missing field, wrong type, bad "
           "state, not a hash, bad attempts counter)",
           test="test_malformed_trial_hashes_are_errored_or_dropped_and_the_worker_goes_on",
           injected=6, trials=7, lost=0, duplicated=0, re_evaluations=0,
           observed="3 ERROR CorruptTrialDocument naming the key, 2 dropped with a warning, "
                    "the bad counter repaired; every task sent twice, nothing re-run",
           seconds=round(time.monotonic() - begin, 1))


_FIELDS = ["doc", "state", "owner", "attempts", "result", "book_time", "refresh_time", "error"]


def _field_values():
    from hypothesis import strategies as st

    from hqueue.backends.redis.codec import encode_doc, encode_value

    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
                        st.binary(max_size=8))
    values = st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
        max_leaves=8)
    docs = st.fixed_dictionaries({}, optional={
        "tid": st.one_of(st.integers(0, 5), values), "misc": st.one_of(
            st.fixed_dictionaries({"tid": st.just(0), "vals": st.just({}), "idxs": st.just({})}),
            values),
        "spec": values})
    return st.one_of(
        st.binary(max_size=40),
        st.sampled_from([b"0", b"1", b"2", b"3", b"4", b"-1", b"1.5", b""]),
        values.map(encode_value),
        docs.map(encode_doc),
    )


def test_arbitrary_trial_hashes_read_as_a_doc_or_a_clear_error_and_never_stick_running():
    import fakeredis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from hqueue.backends.redis.store import TrialStore
    from hqueue.exceptions import HqueueError
    from hqueue.worker.runner import OUTCOMES, run_trial

    hashes = st.dictionaries(st.one_of(st.sampled_from(_FIELDS), st.text(min_size=1, max_size=6)),
                             _field_values(), min_size=1, max_size=9)

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(fields=hashes)
    def check(fields):
        client = fakeredis.FakeRedis()
        store = TrialStore(client, "prop")
        key = store.keys.trial(0)
        client.hset(key, mapping=fields)
        try:
            doc = store.get(0)
        except HqueueError:
            pass
        else:
            assert isinstance(doc, dict) and isinstance(doc["tid"], int)
            assert isinstance(doc["misc"], dict) and isinstance(doc["result"], dict)
        outcome = run_trial(store, 0, owner="w1", secret=b"prop-secret-0123456789")
        assert outcome in OUTCOMES
        assert client.hget(key, "state") != b"1" or client.hget(key, "owner") != b"w1"

    check()
