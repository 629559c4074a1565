"""End to end: a driver on RedisTrials, real Celery worker processes, a real redis-server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from e2e_helpers import SECRET, WorkerPool, all_docs, wait_until

from hqueue import STATUS_OK, fmin, hp, tpe
from hqueue.backends.redis.trials import RedisTrials
from hqueue.states import JOB_STATE_DONE

pytestmark = pytest.mark.usefixtures("e2e_secret")


def test_a_search_runs_on_worker_processes(redis_url, pool):
    pool.start()
    pool.start()

    def objective(cfg):
        return {"loss": (cfg["x"] - 1.0) ** 2 + cfg["k"], "status": STATUS_OK,
                "pid": os.getpid()}

    trials = RedisTrials(redis_url, exp_key="e2e", lease_s=10)
    space = {"x": hp.uniform("x", -3, 3), "k": hp.choice("k", [0, 1])}
    best = fmin(objective, space, algo=tpe.suggest, max_evals=30, trials=trials,
                max_queue_len=4, rstate=np.random.default_rng(0), show_progressbar=False)
    assert len(trials) == 30 and sorted(trials.tids) == list(range(30))
    assert all(t["state"] == JOB_STATE_DONE for t in trials.trials)
    assert {t["result"]["pid"] for t in trials.trials} - {os.getpid()}  # ran elsewhere
    assert best["k"] == 0 and abs(best["x"] - 1.0) < 1.0


def test_a_killed_worker_loses_no_trial_and_duplicates_none(redis_url, pool):
    pool.start()
    pool.start()

    def slow(cfg):
        time.sleep(0.3)
        return cfg ** 2

    trials = RedisTrials(redis_url, exp_key="kill", lease_s=2.0, max_retries=5)
    killer_done = []

    def early_stop(t, *state):
        if not killer_done and len(t.trials) >= 4:
            # SIGKILL mid-trial: its trial must be recovered through the lease
            pool.kill(pool.procs[0])
            killer_done.append(True)
        return False, list(state)

    fmin(slow, hp.uniform("x", -1, 1), algo=tpe.suggest, max_evals=16, trials=trials,
         max_queue_len=3, early_stop_fn=early_stop, rstate=np.random.default_rng(1),
         show_progressbar=False)
    assert killer_done
    tids = [t["tid"] for t in trials.trials]
    assert len(tids) == 16 and len(set(tids)) == 16
    assert all(t["state"] == JOB_STATE_DONE for t in trials.trials)


# -- helpers for the tests below -------------------------------------------------------------
class OpenOnUnpickle:
    """Unpickling this calls ``open(path, "w")``: the file appearing proves that some process
    unpickled it. Needs nothing importable on the other side (the pickle names only open)."""

    def __init__(self, path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _error_message(doc: dict) -> str:
    return doc["misc"]["error"][1]


# -- two experiments, one worker pool ----------------------------------------------------------
def test_two_experiments_share_one_worker_pool_without_cross_talk(redis_url, pool):
    import threading

    pool.start()
    pool.start()
    n = 12

    def objective_a(x):
        time.sleep(0.1)  # so that A is still running when B starts
        return {"loss": (x - 1.0) ** 2, "status": STATUS_OK, "exp": "share-a",
                "pid": os.getpid()}

    def objective_b(cfg):
        return {"loss": 10.0 + (cfg["y"] + 2.0) ** 2 + cfg["k"], "status": STATUS_OK,
                "exp": "share-b", "pid": os.getpid()}

    space_a = hp.uniform("x", -3, 3)
    space_b = {"y": hp.uniform("y", -5, 5), "k": hp.choice("k", [0, 3])}
    errors: list[BaseException] = []

    def drive_a():
        try:
            fmin(objective_a, space_a, algo=tpe.suggest, max_evals=n,
                 trials=RedisTrials(redis_url, exp_key="share-a", lease_s=10), max_queue_len=2,
                 rstate=np.random.default_rng(0), show_progressbar=False)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    thread_a = threading.Thread(target=drive_a, name="driver-a", daemon=True)
    thread_a.start()
    # B is started while A has trials queued or running: both sit in the one Celery queue
    wait_until(lambda: all_docs(redis_url, "share-a"), 15, "driver A's first trial")
    fmin(objective_b, space_b, algo=tpe.suggest, max_evals=n,
         trials=RedisTrials(redis_url, exp_key="share-b", lease_s=10), max_queue_len=3,
         rstate=np.random.default_rng(1), show_progressbar=False)
    thread_a.join(timeout=30)
    assert not thread_a.is_alive(), "driver A did not finish"
    assert not errors, errors

    docs_a, docs_b = all_docs(redis_url, "share-a"), all_docs(redis_url, "share-b")
    worker_pids = {p.pid for p in pool.procs}
    for exp_key, docs, label in (("share-a", docs_a, "x"), ("share-b", docs_b, "y")):
        assert [d["tid"] for d in docs] == list(range(n))
        assert all(d["state"] == JOB_STATE_DONE for d in docs)
        assert {d["exp_key"] for d in docs} == {exp_key}
        assert {d["result"]["exp"] for d in docs} == {exp_key}  # its own objective ran
        assert all(label in d["misc"]["vals"] for d in docs)
        assert {d["result"]["pid"] for d in docs} <= worker_pids
    for d in docs_a:
        (x,) = d["misc"]["vals"]["x"]
        assert set(d["misc"]["vals"]) == {"x"}
        assert d["result"]["loss"] == pytest.approx((x - 1.0) ** 2)
    for d in docs_b:
        (y,), (k,) = d["misc"]["vals"]["y"], d["misc"]["vals"]["k"]
        assert set(d["misc"]["vals"]) == {"y", "k"}
        assert d["result"]["loss"] == pytest.approx(10.0 + (y + 2.0) ** 2 + [0, 3][k])
    # the two searches overlapped on the pool: B's first trial began before A's last ended
    assert min(d["book_time"] for d in docs_b) < max(d["refresh_time"] for d in docs_a)
    # the RedisTrials of each experiment see only their own trials too
    for exp_key in ("share-a", "share-b"):
        view = RedisTrials(redis_url, exp_key=exp_key)
        assert len(view) == n and {t["exp_key"] for t in view.trials} == {exp_key}


# -- a driver killed with SIGKILL, then started again -------------------------------------------
RESUME_SCRIPT = '''
import sys
import time

import numpy as np

from hqueue import fmin, hp, tpe
from hqueue.backends.redis.driver import DriverBusy
from hqueue.backends.redis.trials import RedisTrials


def objective(x):  # defined in __main__: the workers get it by value (cloudpickle)
    time.sleep(0.2)
    return (x - 0.5) ** 2


if __name__ == "__main__":
    trials = RedisTrials(sys.argv[1], exp_key="resume", lease_s=2)
    try:
        fmin(objective, hp.uniform("x", -1, 1), algo=tpe.suggest, max_evals=20,
             trials=trials, max_queue_len=2, rstate=np.random.default_rng(int(sys.argv[2])),
             show_progressbar=False)
    except DriverBusy as exc:
        print("DriverBusy:", exc, flush=True)
        sys.exit(3)
    print("finished", len(trials), flush=True)
'''


def test_a_killed_driver_resumes_and_completes_the_experiment(redis_url, pool, tmp_path):
    import redis

    from hqueue.backends.redis.keys import ExperimentKeys

    pool.start()
    pool.start()
    script = tmp_path / "drive.py"
    script.write_text(RESUME_SCRIPT)
    client = redis.Redis.from_url(redis_url)
    keys = ExperimentKeys("resume")

    def n_done():
        return sum(d["state"] == JOB_STATE_DONE for d in all_docs(redis_url, "resume"))

    first = subprocess.Popen([sys.executable, str(script), redis_url, "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: n_done() >= 6 or first.poll() is not None, 20, "6 finished trials")
        assert first.poll() is None, first.communicate()[0].decode()
        time.sleep(0.1)  # mid-trial: the driver waits on the event stream, not in suggest
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == -signal.SIGKILL
    # the dead driver's lock is still there, but it is a lease: max(3 * WAIT_S, lease_s) = 3 s
    ttl_ms = client.pttl(keys.driver)
    assert 0 < ttl_ms <= 3000
    created_at_kill = {d["tid"] for d in all_docs(redis_url, "resume")}
    reserved_at_kill = int(client.get(keys.tid))  # tids handed out by the counter so far
    assert len(created_at_kill) < 20

    # run again at once, while the dead driver's lease still runs: its holder is a dead
    # process on this machine, so the new driver takes the experiment over without waiting
    run = subprocess.run([sys.executable, str(script), redis_url, "1"], capture_output=True,
                         timeout=60)
    out = run.stdout.decode() + run.stderr.decode()
    assert "DriverBusy" not in out and "took the experiment over" in out, out
    assert run.returncode == 0, out
    assert "finished 20" in out, out
    docs = all_docs(redis_url, "resume")
    tids = [d["tid"] for d in docs]
    # 20 trials, no tid twice. A SIGKILL that lands between reserving tids (INCRBY) and
    # creating their documents leaves those tids unused: the only holes allowed
    holes = set(range(int(client.get(keys.tid)))) - set(tids)
    assert len(tids) == len(set(tids)) == 20
    assert holes <= set(range(reserved_at_kill)) - created_at_kill
    print(f"killed with {len(created_at_kill)} trials created, {reserved_at_kill} tids reserved; "
          f"unused tids {sorted(holes)}")
    assert all(d["state"] == JOB_STATE_DONE for d in docs), [d["state"] for d in docs]
    for d in docs:
        (x,) = d["misc"]["vals"]["x"]
        assert d["result"]["loss"] == pytest.approx((x - 0.5) ** 2)
    assert not client.zcard(keys.running) and not client.zcard(keys.queued)
    assert client.get(keys.driver) is None  # the second driver released its lock
    client.close()


# -- a tampered domain blob, a worker with another secret ---------------------------------------
def _forge(kind: str, genuine: bytes, exp_key: str, forged: bytes) -> bytes:
    """The forged pickle, raw or in an envelope that cannot verify."""
    import struct

    from hqueue import security

    if kind == "raw":
        return forged
    if kind == "other-secret":  # a well-formed envelope signed with a secret the attacker has
        return security.sign(forged, security.domain_context(exp_key),
                             b"attacker-secret-0123456789abcdef")
    # "modified": the genuine header (right key id and context) around the forged payload
    magic, version, key_id, tag, _ = security._PREFIX.unpack(genuine[:security._PREFIX.size])
    prefix = struct.pack(">5sB8s8sQ", magic, version, key_id, tag, len(forged))
    return prefix + genuine[security._PREFIX.size:security.HEADER_SIZE] + forged


@pytest.mark.parametrize("kind, hint", [
    ("raw", "not signed by hqueue; it looks like a raw pickle"),
    ("other-secret", "set the same HQUEUE_SECRET"),
    ("modified", "modified after it was signed"),
], ids=["raw-pickle", "envelope-other-secret", "envelope-modified"])
def test_a_tampered_domain_is_refused_and_never_unpickled(redis_url, pool, tmp_path,
                                                           monkeypatch, kind, hint):
    import pickle

    import redis

    from hqueue.backends.redis import driver
    from hqueue.exceptions import AllTrialsFailed
    from hqueue.states import JOB_STATE_ERROR

    pool.start()  # running before and while the blob is swapped
    marker = tmp_path / "pwned"
    forged = pickle.dumps(OpenOnUnpickle(marker))
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(OpenOnUnpickle(control))).close()
    assert control.exists()  # the probe works when something does unpickle it

    exp_key = f"tamper-{kind}"
    swapped = []
    real_publish = driver.publish_domain

    def publish_then_tamper(trials, domain):
        # the normal publication, then someone with write access to Redis swaps the blob
        # before the first task is sent
        digest = real_publish(trials, domain)
        attacker = redis.Redis.from_url(redis_url)
        key = trials.keys.domain(attacker.hget(trials.keys.meta, "domain").decode())
        attacker.set(key, _forge(kind, attacker.get(key), exp_key, forged))
        attacker.close()
        swapped.append(key)
        return digest

    monkeypatch.setattr(driver, "publish_domain", publish_then_tamper)

    def objective(x):
        return x ** 2

    trials = RedisTrials(redis_url, exp_key=exp_key, lease_s=5)
    with pytest.raises(AllTrialsFailed):
        fmin(objective, hp.uniform("x", -1, 1), algo=tpe.suggest, max_evals=3, trials=trials,
             max_queue_len=1, rstate=np.random.default_rng(0), show_progressbar=False)
    assert swapped
    docs = all_docs(redis_url, exp_key)
    assert len(docs) == 3 and all(d["state"] == JOB_STATE_ERROR for d in docs)
    for d in docs:
        message = _error_message(d)
        assert "SignatureError" in d["misc"]["error"][0]
        assert f"domain of experiment {exp_key!r}" in message and hint in message, message
        assert "signed" in message and d["result"]["failure"] == message
        assert "traceback" not in d["result"]  # a configuration error, not a crash
    assert not marker.exists()


def test_a_worker_with_another_secret_refuses_the_domain(redis_url, pool, tmp_path):
    from hqueue.exceptions import AllTrialsFailed
    from hqueue.security import key_fingerprint
    from hqueue.states import JOB_STATE_ERROR

    other = "not-the-driver-secret-0123456789"
    wrong = pool.start(env={"HQUEUE_SECRET": other})
    marker = tmp_path / "unpickled"
    tripwire = OpenOnUnpickle(marker)  # travels inside the objective's closure

    def objective(x):
        assert tripwire is not None
        return {"loss": x ** 2, "status": STATUS_OK, "pid": os.getpid()}

    trials = RedisTrials(redis_url, exp_key="keys", lease_s=5)
    space = hp.uniform("x", -1, 1)
    with pytest.raises(AllTrialsFailed):
        fmin(objective, space, algo=tpe.suggest, max_evals=3, trials=trials, max_queue_len=1,
             rstate=np.random.default_rng(0), show_progressbar=False)
    docs = all_docs(redis_url, "keys")
    assert len(docs) == 3 and all(d["state"] == JOB_STATE_ERROR for d in docs)
    for d in docs:
        message = _error_message(d)
        assert "different secrets" in message and "set the same HQUEUE_SECRET" in message
        # both fingerprints are shown (never the secrets), so the two sides can be compared
        assert key_fingerprint(SECRET.encode()) in message
        assert key_fingerprint(other.encode()) in message
        assert SECRET not in message and other not in message
    assert not marker.exists()

    # control: the same search on a worker with the driver's secret does unpickle (and run) it
    wrong.send_signal(signal.SIGTERM)
    wrong.wait(timeout=20)
    right = pool.start()
    fmin(objective, space, algo=tpe.suggest, max_evals=5, trials=trials, max_queue_len=1,
         rstate=np.random.default_rng(1), show_progressbar=False)
    docs = all_docs(redis_url, "keys")
    assert [d["state"] for d in docs] == [JOB_STATE_ERROR] * 3 + [JOB_STATE_DONE] * 2
    assert {d["result"]["pid"] for d in docs[3:]} == {right.pid}
    assert marker.exists()


def test_a_search_runs_over_a_unix_socket(tmp_path):
    from hqueue.backends.redis.server import find_redis_server

    sock = tmp_path / "redis.sock"
    server = subprocess.Popen([find_redis_server(), "--port", "0", "--unixsocket", str(sock),
                               "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
                               "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"unix://{sock}?db=0"
    workers = WorkerPool(url, tmp_path)
    try:
        wait_until(sock.exists, 10, "redis-server's unix socket")
        workers.start()
        trials = RedisTrials(url, exp_key="over-unix", lease_s=10)
        best = fmin(lambda x: {"loss": (x - 1.0) ** 2, "status": STATUS_OK, "pid": os.getpid()},
                    hp.uniform("x", -3, 3), algo=tpe.suggest, max_evals=6, trials=trials,
                    max_queue_len=2, rstate=np.random.default_rng(0), show_progressbar=False)
        assert len(trials) == 6 and all(t["state"] == JOB_STATE_DONE for t in trials.trials)
        assert os.getpid() not in {t["result"]["pid"] for t in trials.trials}  # the worker's
        assert -3 <= best["x"] <= 3
    finally:
        workers.stop_all()
        server.terminate()
        server.wait(timeout=10)
