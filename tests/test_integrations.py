"""LightGBM and XGBoost pruning callbacks (skipped where the library is not installed)."""

from __future__ import annotations

import numpy as np
import pytest
from ctrl_helpers import pruning_ctrl

from hqueue import STATUS_OK, STATUS_PRUNED, TrialPruned, Trials, fmin, hp, rand
from hqueue.exceptions import BadArgument
from hqueue.integrations import higher_is_better, pick
from hqueue.pruners import NoPruner, Threshold

ROUNDS = 12


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, 5))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(0, 0.5, 300) > 0).astype(int)
    return x[:200], y[:200], x[200:], y[200:]


def test_higher_is_better_knows_ranking_metrics():
    assert higher_is_better("auc") and higher_is_better("ndcg@10")
    assert not higher_is_better("logloss") and not higher_is_better("rmse")


def test_pick_names_what_exists_when_asked_for_something_missing():
    with pytest.raises(BadArgument, match="have \\['valid'\\]"):
        pick({"valid": {"auc": 0.5}}, "test", None)
    with pytest.raises(BadArgument, match="validation set"):
        pick({}, None, None)
    assert pick({"train": {"a": 1}, "valid": {"b": 2, "c": 3}}, None, None) == ("valid", "c", 3)


def _lgb_train(ctrl, metric="binary_logloss"):
    lgb = pytest.importorskip("lightgbm")
    from hqueue.integrations.lgbm import LightGBMPruning

    x, y, xv, yv = _data()
    train = lgb.Dataset(x, y)
    valid = lgb.Dataset(xv, yv, reference=train)
    lgb.train({"objective": "binary", "metric": ["auc", "binary_logloss"], "verbose": -1,
               "num_leaves": 4}, train, ROUNDS, valid_sets=[valid], valid_names=["valid"],
              callbacks=[LightGBMPruning(ctrl, metric, "valid")])


def test_lightgbm_callback_reports_every_round():
    ctrl = pruning_ctrl(NoPruner())
    _lgb_train(ctrl)
    curve = ctrl.current_trial["result"]["intermediate"]
    assert [p["step"] for p in curve] == list(range(1, ROUNDS + 1))
    assert all(0 < p["value"] < 1 for p in curve)


def test_lightgbm_callback_negates_auc_and_prunes():
    ctrl = pruning_ctrl(Threshold(upper=-0.99))  # -auc above -0.99: prune at once
    with pytest.raises(TrialPruned):
        _lgb_train(ctrl, metric="auc")
    curve = ctrl.current_trial["result"]["intermediate"]
    assert len(curve) == 1 and -1 <= curve[0]["value"] < 0


def _xgb_train(ctrl, metric=None, rounds=ROUNDS):
    xgboost = pytest.importorskip("xgboost")
    from hqueue.integrations.xgb import XGBoostPruning

    x, y, xv, yv = _data()
    dtrain, dvalid = xgboost.DMatrix(x, y), xgboost.DMatrix(xv, yv)
    xgboost.train({"objective": "binary:logistic", "eval_metric": ["auc", "logloss"],
                   "max_depth": 2}, dtrain, rounds, evals=[(dvalid, "valid")],
                  callbacks=[XGBoostPruning(ctrl, metric, "valid")], verbose_eval=False)


def test_xgboost_callback_reports_every_round():
    ctrl = pruning_ctrl(NoPruner())
    _xgb_train(ctrl, "logloss")
    curve = ctrl.current_trial["result"]["intermediate"]
    assert [p["step"] for p in curve] == list(range(1, ROUNDS + 1))
    assert curve[-1]["value"] < curve[0]["value"]


def test_xgboost_callback_prunes_through_fmin():
    pytest.importorskip("xgboost")
    from hqueue import fmin_pass_expr_memo_ctrl
    from hqueue.pruners import SuccessiveHalving
    from hqueue.pyll import rec_eval

    @fmin_pass_expr_memo_ctrl
    def objective(expr, memo, ctrl):
        depth = rec_eval(expr, memo=memo)
        xgboost = pytest.importorskip("xgboost")
        from hqueue.integrations.xgb import XGBoostPruning

        x, y, xv, yv = _data()
        evals = {}
        xgboost.train({"objective": "binary:logistic", "eval_metric": "logloss",
                       "max_depth": int(depth), "eta": 0.3}, xgboost.DMatrix(x, y), 9,
                      evals=[(xgboost.DMatrix(xv, yv), "valid")], evals_result=evals,
                      callbacks=[XGBoostPruning(ctrl)], verbose_eval=False)
        return evals["valid"]["logloss"][-1]

    trials = Trials()
    fmin(objective, hp.quniform("depth", 1, 6, 1), algo=rand.suggest, max_evals=12,
         trials=trials, rstate=np.random.default_rng(0), show_progressbar=False,
         pruner=SuccessiveHalving(max_resource=9))
    statuses = trials.statuses()
    assert STATUS_PRUNED in statuses and STATUS_OK in statuses
