"""User mistakes get a clear error naming the label or the value, and the fix."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hqueue import STATUS_OK, Trials, fmin, hp, rand
from hqueue.exceptions import (
    BadArgument,
    BadSearchSpace,
    DuplicateLabel,
    HqueueError,
    InvalidLoss,
    InvalidObjective,
    InvalidResultStatus,
)


@pytest.mark.parametrize("make, match", [
    (lambda: hp.uniform("lr", 1.0, 0.5), r"'lr'.*low \(1.0\) must be below high"),
    (lambda: hp.uniform("lr", 1.0, 1.0), r"'lr'.*low"),
    (lambda: hp.loguniform("lr", 0, -3), r"'lr'.*loguniform bounds are logs"),
    (lambda: hp.quniform("n", 0, 10, 0), r"'n'.*q must be > 0"),
    (lambda: hp.qloguniform("n", 0, 3, -1), r"'n'.*q must be > 0"),
    (lambda: hp.normal("w", 0, 0), r"'w'.*sigma must be > 0"),
    (lambda: hp.lognormal("w", 0, -1), r"'w'.*sigma must be > 0"),
    (lambda: hp.qnormal("w", 0, 1, 0), r"'w'.*q must be > 0"),
    (lambda: hp.choice("act", []), r"'act'.*at least one option"),
    (lambda: hp.choice("act", "relu"), r"'act'.*list or tuple"),
    (lambda: hp.pchoice("opt", [(0.5, "a"), (0.4, "b")]), r"'opt'.*sum to 0.9"),
    (lambda: hp.pchoice("opt", [(1.2, "a"), (-0.2, "b")]), r"'opt'.*negative"),
    (lambda: hp.pchoice("opt", []), r"'opt'.*non-empty"),
    (lambda: hp.randint("seed", 0), r"'seed'.*upper must be >= 1"),
    (lambda: hp.randint("seed", 5, 5), r"'seed'.*low"),
    (lambda: hp.uniform("x", 0, float("inf")), r"'x'.*finite"),
    (lambda: hp.uniform("x", "0", 1), r"'x'.*must be a number"),
])
def test_bad_hyperparameter_arguments_name_the_label_and_fix(make, match):
    with pytest.raises(BadSearchSpace, match=match):
        make()


def test_bad_search_space_errors_are_value_errors_and_hqueue_errors():
    with pytest.raises(ValueError):
        hp.uniform("x", 2, 1)
    with pytest.raises(HqueueError):
        hp.uniform("x", 2, 1)


def test_non_string_label_is_a_type_error():
    with pytest.raises(TypeError, match="label must be a string"):
        hp.uniform(3, 0, 1)


def test_duplicate_labels_are_refused_by_fmin():
    space = {"a": hp.uniform("x", 0, 1), "b": hp.normal("x", 0, 1)}
    with pytest.raises(DuplicateLabel, match="'x'.*unique label"):
        fmin(lambda c: 0.0, space, algo=rand.suggest, max_evals=1, show_progressbar=False)


def run(objective, **kw):
    kw.setdefault("rstate", np.random.default_rng(0))
    return fmin(objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=2,
                show_progressbar=False, **kw)


@pytest.mark.parametrize("returned, error, match", [
    (None, InvalidObjective, r"returned None \(trial 0\).*return a float loss"),
    ("0.5", InvalidObjective, r"returned str '0.5'.*STATUS_OK"),
    ([0.5], InvalidObjective, r"returned list"),

    ({"loss": 0.3}, InvalidResultStatus, r"no 'status' key"),
    ({"loss": 0.3, "status": "great"}, InvalidResultStatus, r"invalid status 'great'"),
    ({"status": STATUS_OK}, InvalidLoss, r"needs a 'loss'"),
    ({"status": STATUS_OK, "loss": "low"}, InvalidLoss, r"'low' is not a number"),
])
def test_bad_objective_return_values_explain_what_to_return(returned, error, match):
    with pytest.raises(error, match=match):
        run(lambda x: returned)


def test_bad_return_is_recorded_as_error_with_catch_eval_exceptions():
    trials = Trials()
    fmin(lambda x: None, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=3, trials=trials,
         catch_eval_exceptions=True, show_progressbar=False, return_argmin=False)
    errors = [d for d in trials._dynamic_trials if d["state"] == 3]
    assert len(errors) == 3 and "returned None" in errors[0]["misc"]["error"][1]


def test_non_callable_objective_is_refused():
    with pytest.raises(InvalidObjective, match="must be callable"):
        run("not a function")


@pytest.mark.parametrize("max_evals", ["100", [10], -1, float("nan")])
def test_max_evals_must_be_a_number(max_evals):
    with pytest.raises(BadArgument, match="max_evals"):
        fmin(lambda x: x, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=max_evals,
             show_progressbar=False)


def test_rstate_must_be_a_generator():
    with pytest.raises(BadArgument, match="default_rng"):
        run(lambda x: x, rstate="seed")


def test_algo_must_be_callable():
    with pytest.raises(BadArgument, match="tpe.suggest"):
        fmin(lambda x: x, hp.uniform("x", 0, 1), algo="tpe", max_evals=1)


def test_infinite_loss_is_accepted_as_a_very_bad_result():
    trials = Trials()
    fmin(lambda x: math.inf if x > 0.5 else x, hp.uniform("x", 0, 1), algo=rand.suggest,
         max_evals=10, trials=trials, rstate=np.random.default_rng(0), show_progressbar=False)
    assert trials.best_trial["result"]["loss"] < 0.5


def test_nan_loss_is_kept_with_a_warning_and_never_counts_as_best(caplog):
    losses = iter([float("nan"), 0.5, float("nan")])
    trials = Trials()
    with caplog.at_level("WARNING"):
        fmin(lambda x: next(losses), hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=3,
             trials=trials, rstate=np.random.default_rng(0), show_progressbar=False)
    assert "NaN loss (trial 0)" in caplog.text and "STATUS_FAIL" in caplog.text
    assert trials.best_trial["tid"] == 1 and len(trials) == 3
