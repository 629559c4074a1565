"""hyperopt's smaller modules as in hyperopt 0.3.0: ``pyll_utils`` (expr_to_config, EQ,
argument checks), ``base`` helpers (validate_timeout, validate_loss_threshold, pmin_sampled),
``utils``, ``criteria``, ``atpe``, string tids in ``Trials``, and hp's argument messages."""

from __future__ import annotations

import os

import numpy as np
import pytest

from hqueue import Trials, atpe, fmin, hp, pyll_utils, rand
from hqueue.base import pmin_sampled, validate_loss_threshold, validate_timeout
from hqueue.criteria import UCB, EI_gaussian, EI_gaussian_empirical, logEI_gaussian
from hqueue.pyll import as_apply
from hqueue.pyll_utils import EQ, expr_to_config
from hqueue.utils import (
    coarse_utcnow,
    fast_isin,
    get_most_recent_inds,
    temp_dir,
    use_obj_for_literal_in_memo,
    working_dir,
)


def test_expr_to_config_records_choice_conditions():
    space = hp.choice("a", [0, {"b": hp.uniform("b", 0, 1), "c": hp.choice("c", [1, 2])}])
    hps: dict = {}
    expr_to_config(space, (True,), hps)
    assert hps["a"]["conditions"] == {(True,)}
    assert hps["b"]["conditions"] == {(True, EQ("a", 1))}
    assert hps["b"]["node"].name == "uniform" and hps["b"]["label"] == "b"


def test_expr_to_config_drops_a_condition_met_by_every_option():
    z = hp.uniform("z", 0, 10)
    hps: dict = {}
    expr_to_config(hp.choice("a", [z + 1, z - 1]), (True,), hps)
    assert hps["z"]["conditions"] == {(True,)}


def test_validate_distribution_range_uses_hyperopts_message():
    @pyll_utils.validate_distribution_range
    def dist(label, low, high):
        return low, high

    with pytest.raises(ValueError, match="low should be less than high"):
        dist("x", low=1, high=1)
    assert dist("x", 0, 1) == (0, 1)


def test_validate_label_requires_a_string():
    @pyll_utils.validate_label
    def dist(label):
        return label

    with pytest.raises(TypeError):
        dist(3)


def test_hp_bounds_error_opens_with_hyperopts_sentence():
    # (hyperopt skips the check when a bound is 0: its test is `if low and high and ...`)
    with pytest.raises(ValueError, match="^low should be less than high: 2 is not smaller than 1"):
        hp.uniform("lr", 2, 1)


def test_loguniform_with_a_fourth_argument_is_a_value_error():
    with pytest.raises(ValueError):
        hp.loguniform("stub", 10, 10, 1)


@pytest.mark.hqueue_only
def test_loguniform_fourth_argument_error_points_to_qloguniform():
    with pytest.raises(ValueError, match="qloguniform"):
        hp.loguniform("x", 0, 1, 2)


@pytest.mark.parametrize("bad", [-1, True, "a"])
def test_validate_timeout_message_is_hyperopts(bad):
    with pytest.raises(Exception) as info:
        validate_timeout(bad)
    assert str(info.value) == (
        f"The timeout argument should be None or a positive value. Given value: {bad}")


@pytest.mark.parametrize("bad", ["a", True])
def test_fmin_loss_threshold_message_is_hyperopts(bad):
    with pytest.raises(Exception) as info:
        fmin(lambda x: x, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=1,
             loss_threshold=bad, show_progressbar=False)
    assert str(info.value) == ("The loss_threshold argument should be None or a numeric "
                               f"value. Given value: {bad}")
    validate_loss_threshold(None)
    validate_timeout(None)


def test_pmin_sampled_estimates_who_is_lowest():
    p = pmin_sampled(np.array([0.0, 0.0, 10.0]), np.array([1.0, 1.0, 1.0]),
                     rng=np.random.default_rng(0))
    assert np.isclose(p.sum(), 1.0) and p[2] == 0.0 and abs(p[0] - 0.5) < 0.06


def test_trials_accept_string_tids():
    trials = Trials()
    docs = trials.new_trial_docs(["id0"], [None], [{"status": "new"}],
                                 [{"tid": "id0", "idxs": {}, "vals": {}, "cmd": None}])
    trials.insert_trial_docs(docs)
    trials.refresh()
    assert [t["tid"] for t in trials.trials] == ["id0"]
    assert isinstance(trials.new_trial_ids(1)[0], int)


def test_utils_helpers():
    assert fast_isin(np.array([1, 5]), np.array([5, 6])).tolist() == [False, True]
    docs = [{"_id": 0, "version": 1}, {"_id": 1, "version": 1}, {"_id": 0, "version": 2}]
    assert get_most_recent_inds(docs).tolist() == [2, 1]
    assert coarse_utcnow().microsecond % 1000 == 0
    marker = object()
    expr = as_apply([1, "placeholder"])
    memo = use_obj_for_literal_in_memo(expr, marker, "placeholder", {})
    assert list(memo.values()) == [marker]


def test_temp_dir_and_working_dir(tmp_path):
    target = tmp_path / "a" / "b"
    with temp_dir(str(target), erase_after=True):
        assert target.is_dir()
        with working_dir(str(target)):
            assert os.getcwd() == str(target)
    assert not target.exists() and not (tmp_path / "a.inuse").exists()


def test_criteria_match_closed_forms():
    rng = np.random.default_rng(0)
    assert abs(EI_gaussian(0.0, 1.0, 0.0) - 1 / np.sqrt(2 * np.pi)) < 1e-12
    assert abs(EI_gaussian_empirical(0.0, 1.0, 0.0, rng, 20000) - EI_gaussian(0.0, 1.0, 0.0)) \
        < 0.02
    assert np.isclose(logEI_gaussian(0.0, 1.0, 1.0), np.log(EI_gaussian(0.0, 1.0, 1.0)))
    assert np.isfinite(logEI_gaussian(0.0, 1.0, 500.0))
    assert UCB(1.0, 4.0, 2.0) == 5.0


@pytest.mark.hqueue_only
def test_atpe_suggest_says_it_is_not_provided_and_what_to_use():
    with pytest.raises(NotImplementedError, match="tpe.suggest"):
        fmin(lambda x: x, hp.uniform("x", 0, 1), algo=atpe.suggest, max_evals=2,
             show_progressbar=False)
