"""Exceptions user code catches, and when hyperopt 0.3.0 raises them."""

from __future__ import annotations

import numpy as np
import pytest

from hqueue import STATUS_FAIL, STATUS_OK, Trials, exceptions, fmin, hp, rand, tpe
from hqueue.base import JOB_STATE_ERROR
from hqueue.exceptions import (
    AllTrialsFailed,
    BadSearchSpace,
    DuplicateLabel,
    InvalidLoss,
    InvalidResultStatus,
    InvalidTrial,
)

QUIET = {"show_progressbar": False}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_exception_classes_and_bases():
    # user code catches these by their hyperopt bases (ValueError, Exception)
    assert issubclass(DuplicateLabel, BadSearchSpace)
    assert issubclass(BadSearchSpace, Exception)
    assert issubclass(InvalidTrial, ValueError)
    assert issubclass(InvalidResultStatus, ValueError)
    assert issubclass(InvalidLoss, ValueError)
    assert issubclass(AllTrialsFailed, Exception)
    assert exceptions.AllTrialsFailed is AllTrialsFailed


def test_duplicate_label_raised_by_fmin():
    space = {"a": hp.uniform("x", 0, 1), "b": hp.uniform("x", 0, 2)}
    with pytest.raises(DuplicateLabel):
        fmin(lambda p: 0.0, space, algo=rand.suggest, max_evals=1, rstate=rng(0), **QUIET)


def test_duplicate_label_in_choice_branches_raised_by_fmin():
    space = hp.choice("k", [{"x": hp.uniform("x", 0, 1)}, {"x": hp.normal("x", 0, 1)}])
    with pytest.raises(DuplicateLabel):
        fmin(lambda p: 0.0, space, algo=tpe.suggest, max_evals=1, rstate=rng(0), **QUIET)


def test_duplicate_label_mentions_the_label():
    with pytest.raises(DuplicateLabel, match="learning_rate"):
        fmin(
            lambda p: 0.0,
            [hp.uniform("learning_rate", 0, 1), hp.loguniform("learning_rate", -3, 0)],
            algo=rand.suggest,
            max_evals=1,
            rstate=rng(0),
            **QUIET,
        )


def test_same_node_used_twice_is_not_a_duplicate_label():
    x = hp.uniform("x", 0, 1)
    best = fmin(
        lambda p: p[0] + p[1], [x, x], algo=rand.suggest, max_evals=3, rstate=rng(0), **QUIET
    )
    assert set(best) == {"x"}


def test_invalid_result_status_raised_for_unknown_status():
    with pytest.raises(InvalidResultStatus) as info:
        fmin(
            lambda x: {"status": "great", "loss": 1.0},
            hp.uniform("x", 0, 1),
            algo=rand.suggest,
            max_evals=1,
            rstate=rng(0),
            **QUIET,
        )
    assert info.value.result["status"] == "great"


def test_missing_status_key_raises():
    # hyperopt 0.3.0 raises a bare KeyError('status'); InvalidResultStatus is accepted too
    with pytest.raises((KeyError, InvalidResultStatus)):
        fmin(
            lambda x: {"loss": 1.0},
            hp.uniform("x", 0, 1),
            algo=rand.suggest,
            max_evals=1,
            rstate=rng(0),
            **QUIET,
        )


def test_invalid_loss_raised_when_ok_result_has_no_loss():
    with pytest.raises(InvalidLoss) as info:
        fmin(
            lambda x: {"status": STATUS_OK},
            hp.uniform("x", 0, 1),
            algo=rand.suggest,
            max_evals=1,
            rstate=rng(0),
            **QUIET,
        )
    assert info.value.result["status"] == STATUS_OK


def test_invalid_loss_raised_when_loss_is_none():
    with pytest.raises(InvalidLoss):
        fmin(
            lambda x: {"status": STATUS_OK, "loss": None},
            hp.uniform("x", 0, 1),
            algo=rand.suggest,
            max_evals=1,
            rstate=rng(0),
            **QUIET,
        )


def test_failed_result_needs_no_loss():
    trials = Trials()
    fmin(
        lambda x: {"status": STATUS_FAIL} if x > 0.5 else x,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=10,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    assert len(trials) == 10


def test_invalid_result_errors_are_caught_with_catch_eval_exceptions():
    trials = Trials()
    fmin(
        lambda x: {"status": "bogus"} if x > 0.5 else x,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=10,
        trials=trials,
        rstate=rng(0),
        catch_eval_exceptions=True,
        **QUIET,
    )
    n_err = trials.count_by_state_unsynced(JOB_STATE_ERROR)
    assert n_err > 0 and len(trials) + n_err == 10


def test_invalid_trial_raised_for_malformed_docs():
    with pytest.raises(InvalidTrial):
        Trials().insert_trial_docs([{"tid": 0, "misc": {}}])


def test_all_trials_failed_from_best_trial_and_fmin():
    trials = Trials()
    with pytest.raises(AllTrialsFailed):
        fmin(
            lambda x: {"status": STATUS_FAIL},
            hp.uniform("x", 0, 1),
            algo=rand.suggest,
            max_evals=4,
            trials=trials,
            rstate=rng(0),
            **QUIET,
        )
    assert len(trials) == 4  # the trials were recorded before argmin failed
    with pytest.raises(AllTrialsFailed):
        _ = trials.best_trial


def test_all_nan_losses_count_as_all_failed():
    with pytest.raises(AllTrialsFailed):
        fmin(
            lambda x: float("nan"),
            hp.uniform("x", 0, 1),
            algo=rand.suggest,
            max_evals=3,
            rstate=rng(0),
            **QUIET,
        )
