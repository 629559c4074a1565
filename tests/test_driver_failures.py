"""Failures on workers reach the person at the driver (issue 13, item 1): one line per new kind
of error as it happens, the counts at the end, and the user's own exception (with the worker's
message, the trial and how to see its traceback) when every trial failed."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from hqueue import STATUS_OK, fmin, hp, rand
from hqueue.backends.redis.trials import RedisTrials
from hqueue.exceptions import AllTrialsFailed
from hqueue.failures import FailureLog, WorkerTrialFailed, as_user_error
from hqueue.states import JOB_STATE_DONE, JOB_STATE_ERROR


class LossExploded(Exception):
    """An objective's own exception class (defined next to the objective)."""


class NeedsTwoArgs(Exception):
    def __init__(self, a, b):
        super().__init__(a, b)


def error_doc(tid: int, kind: str, message: str, owner: str = "w1") -> dict:
    return {"tid": tid, "state": JOB_STATE_ERROR, "owner": owner,
            "misc": {"error": (kind, message)}}


# -- unit --------------------------------------------------------------------------------------
def test_each_new_kind_of_failure_is_logged_once_and_all_are_counted(caplog):
    log = FailureLog(show_hint="hqueue show {tid} --exp-key e")
    docs = [error_doc(0, "ValueError", "bad lr"), error_doc(1, "ValueError", "bad lr again"),
            {"tid": 2, "state": JOB_STATE_DONE, "misc": {}}, error_doc(3, "KeyError", "'x'")]
    with caplog.at_level(logging.ERROR, logger="hqueue.failures"):
        log.note(docs)
        log.note(docs)  # seen before: neither logged nor counted again
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "trial 0 failed on worker w1: ValueError: bad lr (traceback: hqueue show 0 --exp-key e)",
        "trial 3 failed on worker w1: KeyError: 'x' (traceback: hqueue show 3 --exp-key e)"]
    assert log.summary(n_trials=4) == "3 of 4 trials failed: ValueError x2, KeyError x1"
    log.raise_if_all_failed(n_ok=1)  # one trial succeeded: nothing raised


def test_when_every_trial_failed_the_users_own_exception_class_is_raised():
    log = FailureLog(show_hint="hqueue show {tid}", objective_module=__name__)
    log.note([error_doc(4, "LossExploded", "loss is nan at step 3", owner="gpu1")])
    with pytest.raises(LossExploded) as info:
        log.raise_if_all_failed(n_ok=0)
    assert isinstance(info.value, AllTrialsFailed)
    assert str(info.value) == ("loss is nan at step 3 (trial 4 on worker gpu1; no trial "
                               "succeeded: LossExploded x1; traceback: hqueue show 4)")


@pytest.mark.parametrize("kind", ["NoSuchErrorAnywhere", "NeedsTwoArgs"])
def test_an_exception_that_cannot_be_rebuilt_is_raised_as_worker_trial_failed(kind):
    error = as_user_error(kind, "boom", objective_module=__name__)
    assert type(error) is WorkerTrialFailed and str(error) == f"{kind}: boom"


# -- end to end, a real worker -------------------------------------------------------------------
def test_a_failing_objective_on_workers_raises_its_own_error_on_the_driver(redis_url, one_worker):
    def objective(x):
        raise LossExploded(f"learning rate {x:.3f} diverged")

    with pytest.raises(LossExploded, match=r"learning rate .* diverged \(trial \d on worker "
                                           r".*hqueue show \d --exp-key fails --url"):
        fmin(objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=3,
             trials=RedisTrials(redis_url, exp_key="fails"), rstate=np.random.default_rng(0),
             show_progressbar=False)


def test_some_failing_trials_are_reported_once_per_kind_and_counted(redis_url, one_worker, caplog):
    def objective(x):
        if x < 0:
            raise ValueError("negative x")
        return {"loss": x, "status": STATUS_OK}

    with caplog.at_level(logging.WARNING, logger="hqueue"):
        fmin(objective, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=12,
             trials=RedisTrials(redis_url, exp_key="some"), rstate=np.random.default_rng(1),
             show_progressbar=False)
    failed = [r.getMessage() for r in caplog.records if "failed on worker" in r.getMessage()]
    assert len(failed) == 1 and "ValueError: negative x" in failed[0]
    summary = [r.getMessage() for r in caplog.records if "trials failed:" in r.getMessage()]
    n_failed = int(summary[0].split()[0])
    assert summary == [f"{n_failed} of 12 trials failed: ValueError x{n_failed}"]
    assert 0 < n_failed < 12


def test_hyperopt_style_type_names_in_documents_are_read_as_class_paths():
    log = FailureLog(objective_module=None)
    log.note([error_doc(0, f"<class '{__name__}.LossExploded'>", "nan")])
    assert log.summary(1) == f"1 of 1 trials failed: {__name__}.LossExploded x1"
    with pytest.raises(LossExploded):
        log.raise_if_all_failed(n_ok=0)
    log = FailureLog()
    log.note([error_doc(0, "<class 'ValueError'>", "bad")])
    assert log.summary(1) == "1 of 1 trials failed: ValueError x1"
