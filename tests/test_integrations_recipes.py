"""Keras and PyTorch Lightning pruning callbacks, driven by fake training loops that call their
hooks the way ``keras.Model.fit`` and ``lightning.Trainer.fit`` do (neither library installs
cheaply here; see hqueue/integrations/keras.py and lightning.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from ctrl_helpers import pruning_ctrl

from hqueue import STATUS_OK, STATUS_PRUNED, TrialPruned, Trials, fmin, hp, rand
from hqueue.exceptions import BadArgument
from hqueue.integrations.keras import KerasPruning
from hqueue.integrations.lightning import LightningPruning
from hqueue.pruners import NoPruner, SuccessiveHalving, Threshold


def keras_fit(callback, val_losses):
    """What ``Model.fit`` does with a callback, epoch by epoch (logs hold train and val)."""
    for epoch, v in enumerate(val_losses):
        callback.on_epoch_end(epoch, {"loss": 1.1 * v, "val_loss": v, "val_accuracy": 1 - v})


def lightning_fit(callback, val_losses, sanity_value=99.0):
    """What ``Trainer.fit`` does: a sanity-check validation run, then one per epoch; logged
    metrics are 0-d tensors (numpy arrays here, which also have ``.item()``)."""
    trainer = SimpleNamespace(sanity_checking=True, current_epoch=0,
                              callback_metrics={"val_loss": np.array(sanity_value)})
    callback.on_validation_end(trainer, None)
    trainer.sanity_checking = False
    for epoch, v in enumerate(val_losses):
        trainer.current_epoch, trainer.callback_metrics = epoch, {"val_loss": np.array(v)}
        callback.on_validation_end(trainer, None)


def _curve(ctrl):
    return [(p["step"], p["value"]) for p in ctrl.current_trial["result"]["intermediate"]]


def test_keras_callback_reports_each_epoch_from_step_1():
    ctrl = pruning_ctrl(NoPruner())
    keras_fit(KerasPruning(ctrl), [0.9, 0.5, 0.4])
    assert _curve(ctrl) == [(1, 0.9), (2, 0.5), (3, 0.4)]


def test_keras_callback_raises_trial_pruned_out_of_fit_when_told():
    ctrl = pruning_ctrl(Threshold(upper=0.6))
    with pytest.raises(TrialPruned, match=r"pruned after step 2 \(Keras val_loss\)"):
        keras_fit(KerasPruning(ctrl), [0.5, 0.7, 0.3])
    assert _curve(ctrl) == [(1, 0.5), (2, 0.7)]


def test_keras_callback_negates_a_maximized_metric_and_names_missing_ones():
    ctrl = pruning_ctrl(NoPruner())
    keras_fit(KerasPruning(ctrl, monitor="val_accuracy", maximize=True), [0.25])
    assert _curve(ctrl) == [(1, -0.75)]
    with pytest.raises(BadArgument, match=r"Keras logged no metric 'val_auc'.*'val_loss'"):
        keras_fit(KerasPruning(pruning_ctrl(NoPruner()), monitor="val_auc"), [0.5])


def test_lightning_callback_skips_the_sanity_check_and_reports_each_epoch():
    ctrl = pruning_ctrl(NoPruner())
    lightning_fit(LightningPruning(ctrl), [0.8, 0.6])
    assert _curve(ctrl) == [(1, 0.8), (2, 0.6)]  # 99.0 from the sanity check never reported


def test_lightning_callback_prunes_through_fmin_with_asha():
    @fmin_objective
    def objective(x, ctrl):
        curve = x + 1.0 / np.arange(1, 10)
        lightning_fit(LightningPruning(ctrl), curve.tolist())
        return float(curve[-1])

    trials = Trials()
    fmin(objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=12, trials=trials,
         rstate=np.random.default_rng(0), show_progressbar=False,
         pruner=SuccessiveHalving(max_resource=9))
    statuses = trials.statuses()
    assert STATUS_PRUNED in statuses and STATUS_OK in statuses
    pruned = [t for t in trials.trials if t["result"]["status"] == STATUS_PRUNED]
    assert all(len(t["result"]["intermediate"]) < 9 for t in pruned)


def fmin_objective(fn):
    """``fn(x, ctrl)`` as an fmin objective that gets the ctrl."""
    from hqueue import fmin_pass_expr_memo_ctrl
    from hqueue.pyll import rec_eval

    @fmin_pass_expr_memo_ctrl
    def objective(expr, memo, ctrl):
        return fn(rec_eval(expr, memo=memo), ctrl)

    return objective
