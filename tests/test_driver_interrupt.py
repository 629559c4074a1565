"""Ctrl-C at a distributed driver ends with one line saying what was cancelled, what still runs
and how to resume, not a traceback from inside the Redis client (issue 13, item 3)."""

from __future__ import annotations

import signal
import subprocess
import sys

from e2e_helpers import WorkerPool, wait_until, worker_env

from hqueue.backends.redis.keys import ExperimentKeys
from hqueue.backends.redis.store import TrialStore
from hqueue.states import JOB_STATE_CANCEL, JOB_STATE_DONE

DRIVER = '''
import sys, time
import numpy as np
from hqueue import fmin, hp, rand
from hqueue.backends.redis.trials import RedisTrials

def objective(x):
    time.sleep(0.3)
    return x ** 2

fmin(objective, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=200, max_queue_len=4,
     trials=RedisTrials(sys.argv[1], exp_key="ctrl-c"), rstate=np.random.default_rng(0),
     show_progressbar=False)
'''


def test_ctrl_c_at_the_driver_ends_with_one_line_and_the_search_can_resume(redis_url, tmp_path):
    pool = WorkerPool(redis_url, tmp_path)
    pool.start()
    script = tmp_path / "drive.py"
    script.write_text(DRIVER)
    driver = subprocess.Popen([sys.executable, str(script), redis_url], env=worker_env(redis_url),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        store = TrialStore.from_url(redis_url, "ctrl-c")
        client = store.client
        wait_until(lambda: client.xlen(ExperimentKeys("ctrl-c").events) >= 3, 60,
                   "3 finished trials")
        driver.send_signal(signal.SIGINT)
        _, err = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
        pool.stop_all()
    assert driver.returncode != 0
    last = err.strip().splitlines()[-1]
    assert last.startswith("hqueue.exceptions.SearchInterrupted: search interrupted: ")
    assert "queued trial(s) cancelled" in last and "to resume" in last and "'ctrl-c'" in last
    # no frames from inside the Redis client, no chained traceback: a few lines in all
    assert "site-packages" not in err and "During handling" not in err, err
    assert len(err.strip().splitlines()) <= 10, err
    states = [d["state"] for d in store.changes_since(0)[1]]
    assert JOB_STATE_DONE in states and JOB_STATE_CANCEL in states
