"""Pruning in-process: ``fmin(..., pruner=...)`` with plain ``Trials``, ``ctrl.report``,
``ctrl.should_prune``, ``ctrl.epochs`` and ``TrialPruned``."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from ctrl_helpers import new_trials, pruning_ctrl

import hqueue
from hqueue import Ctrl, TrialPruned, Trials, fmin, fmin_pass_expr_memo_ctrl, hp, rand
from hqueue.exceptions import BadArgument
from hqueue.pruners import NoPruner, SuccessiveHalving, Threshold, learning_curve
from hqueue.pruners.storage import rungs_of
from hqueue.pyll import rec_eval

EPOCHS = 27


def _curve_value(x: float, epoch: int) -> float:
    return (x - 0.3) ** 2 + 1.0 / (epoch + 1)


@fmin_pass_expr_memo_ctrl
def epoch_objective(expr, memo, ctrl):
    x = rec_eval(expr, memo=memo)
    value = None
    for epoch in ctrl.epochs(EPOCHS):
        value = _curve_value(x, epoch)
        ctrl.report(value, step=epoch + 1)
    return value


@fmin_pass_expr_memo_ctrl
def manual_objective(expr, memo, ctrl):
    x = rec_eval(expr, memo=memo)
    for epoch in range(EPOCHS):
        ctrl.report(_curve_value(x, epoch), step=epoch + 1)
        if ctrl.should_prune():
            raise TrialPruned()
    return _curve_value(x, EPOCHS - 1)


def _search(objective, pruner=None, n=40):
    trials = Trials()
    fmin(objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=n, trials=trials,
         rstate=np.random.default_rng(3), show_progressbar=False, pruner=pruner)
    return trials


def test_status_pruned_constant_and_exception_are_exported():
    assert hqueue.STATUS_PRUNED == "pruned" and hqueue.TrialStatus.PRUNED == "pruned"
    assert issubclass(hqueue.TrialPruned, hqueue.HqueueError)


@pytest.mark.parametrize("objective", [epoch_objective, manual_objective])
def test_pruned_trials_end_pruned_with_last_value_and_curve(objective):
    trials = _search(objective, SuccessiveHalving(max_resource=EPOCHS))
    pruned = [t for t in trials.trials if t["result"]["status"] == hqueue.STATUS_PRUNED]
    assert pruned and len(pruned) < len(trials)
    for t in pruned:
        assert t["state"] == hqueue.JOB_STATE_DONE
        steps, values = learning_curve(t)
        assert 1 <= len(steps) < EPOCHS
        assert t["result"]["loss"] == values[-1]
        assert t["result"]["intermediate"][-1] == {"step": int(steps[-1]), "value": values[-1]}


def test_finished_trials_keep_their_learning_curve():
    trials = _search(epoch_objective, SuccessiveHalving(max_resource=EPOCHS))
    done = [t for t in trials.trials if t["result"]["status"] == hqueue.STATUS_OK]
    assert done
    for t in done:
        steps, values = learning_curve(t)
        assert steps.tolist() == list(range(1, EPOCHS + 1))
        assert values[-1] == t["result"]["loss"]


def test_pruned_trials_are_not_errors_and_best_is_a_finished_trial():
    trials = _search(epoch_objective, SuccessiveHalving(max_resource=EPOCHS))
    assert len(trials) == 40  # none left trials.trials as an error
    assert trials.best_trial["result"]["status"] == hqueue.STATUS_OK
    losses = trials.losses()
    assert all(loss is not None for loss in losses)
    ok = [t["result"]["loss"] for t in trials.trials if t["result"]["status"] == "ok"]
    assert trials.best_trial["result"]["loss"] == min(ok)


def test_pruning_spends_fewer_epochs_than_no_pruning():
    def epochs(trials):
        return sum(len(t["result"]["intermediate"]) for t in trials.trials)

    assert epochs(_search(epoch_objective, NoPruner())) == 40 * EPOCHS
    assert epochs(_search(epoch_objective, SuccessiveHalving(max_resource=EPOCHS))) < \
        40 * EPOCHS / 2


def test_without_a_pruner_should_prune_uses_asha():
    trials = _search(epoch_objective, None)
    assert hqueue.STATUS_PRUNED in trials.statuses()


def test_default_pruner_fits_its_rungs_to_the_epoch_loop():
    trials = _search(epoch_objective, None)
    # max_resource 27: the first rung two halvings below (27 // 9), then 9; none at 27
    assert rungs_of(trials).names() == {"sh:3:3:0:3", "sh:3:3:0:9"}
    long_trials = Trials()

    @fmin_pass_expr_memo_ctrl
    def long_objective(expr, memo, ctrl):
        x = rec_eval(expr, memo=memo)
        for epoch in ctrl.epochs(81):
            ctrl.report(_curve_value(x, epoch), step=epoch + 1)
        return 0.0

    fmin(long_objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=5,
         trials=long_trials, rstate=np.random.default_rng(0), show_progressbar=False)
    assert rungs_of(long_trials).names() <= {"sh:9:3:0:9", "sh:9:3:0:27"}


def test_a_chosen_pruner_is_not_replaced_by_the_loop_length():
    trials = _search(epoch_objective, SuccessiveHalving(reduction_factor=2), n=5)
    assert all(name.startswith("sh:1:2:0:") for name in rungs_of(trials).names())


def test_epochs_does_not_prune_after_the_last_epoch():
    ctrl = pruning_ctrl(Threshold(upper=0.0))
    seen = []
    for epoch in ctrl.epochs(3, start=2):
        ctrl.report(1.0, step=epoch)
        seen.append(epoch)
    assert seen == [2] and ctrl.should_prune()
    with pytest.raises(TrialPruned):
        for epoch in ctrl.epochs(5):
            ctrl.report(1.0, step=epoch + 10)


def test_ctrl_made_by_hand_prunes_with_the_default_on_shared_rungs():
    trials = new_trials(2)
    first, second = (Ctrl(trials, current_trial=t) for t in trials.trials)
    first.report(0.1, step=1)
    second.report(0.5, step=1)
    assert not first.should_prune() and second.should_prune()


def test_pruner_argument_is_checked():
    with pytest.raises(BadArgument, match="pruner"):
        _search(epoch_objective, pruner="asha")


def test_trials_with_rung_records_pickle_and_resume(tmp_path):
    path = str(tmp_path / "trials.pkl")
    fmin(epoch_objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=10,
         rstate=np.random.default_rng(0), show_progressbar=False, trials_save_file=path)
    trials = pickle.load(open(path, "rb"))
    assert len(trials) == 10
    resumed = fmin(epoch_objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=15,
                   rstate=np.random.default_rng(1), show_progressbar=False,
                   trials_save_file=path)
    assert "x" in resumed
