"""fmin's contract, checked against hyperopt 0.3.0's behaviour.

Every search uses a fixed ``rstate=np.random.default_rng(k)``; quality bounds are loose.

No ``from __future__ import annotations`` here: fmin(space="annotated") reads the objective's
annotations as objects, and hyperopt 0.3.0 rejects string annotations.
"""

import contextlib
import functools
import math
import os
import pickle
import time

import numpy as np
import pytest

import hqueue
from hqueue import (
    STATUS_FAIL,
    STATUS_OK,
    Trials,
    anneal,
    fmin,
    fmin_pass_expr_memo_ctrl,
    hp,
    pyll,
    rand,
    space_eval,
    tpe,
)
from hqueue.base import JOB_STATE_DONE, JOB_STATE_ERROR, JOB_STATE_NEW
from hqueue.early_stop import no_progress_loss
from hqueue.exceptions import AllTrialsFailed
from hqueue.fmin import generate_trials_to_calculate

QUIET = {"show_progressbar": False}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def readme_space():
    return hp.choice(
        "a",
        [("case 1", 1 + hp.lognormal("c1", 0, 1)), ("case 2", hp.uniform("c2", -10, 10))],
    )


def readme_objective(args):
    case, val = args
    if case == "case 1":
        return val
    return val**2


def xs_of(trials: Trials, label: str = "x") -> list[float]:
    return [float(t["misc"]["vals"][label][0]) for t in trials.trials]


class Recorder:
    """Objective that records the points it was called with."""

    def __init__(self, fn=lambda x: (x - 0.3) ** 2):
        self.fn = fn
        self.calls: list = []

    def __call__(self, x):
        self.calls.append(x)
        return self.fn(x)


# --------------------------------------------------------------------------- return value


def test_fmin_returns_argmin_dict_keyed_by_label_with_choice_as_index():
    trials = Trials()
    best = fmin(
        readme_objective,
        readme_space(),
        algo=tpe.suggest,
        max_evals=50,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    assert isinstance(best, dict)
    assert set(best) in ({"a", "c1"}, {"a", "c2"})  # only the active branch's labels
    assert int(best["a"]) in (0, 1)
    assert isinstance(best["a"], (int, np.integer))  # the index into the options, not the option
    assert best == trials.argmin


def test_fmin_argmin_matches_best_trial_values():
    trials = Trials()
    best = fmin(
        lambda x: (x - 1) ** 2,
        hp.uniform("x", -5, 5),
        algo=rand.suggest,
        max_evals=30,
        trials=trials,
        rstate=rng(1),
        **QUIET,
    )
    losses = trials.losses()
    i = int(np.argmin(losses))
    assert best == {"x": trials.trials[i]["misc"]["vals"]["x"][0]}
    assert (best["x"] - 1) ** 2 == pytest.approx(min(losses))


def test_fmin_without_trials_argument_still_returns_argmin():
    best = fmin(
        lambda x: x**2,
        hp.uniform("x", -1, 1),
        algo=rand.suggest,
        max_evals=10,
        rstate=rng(0),
        **QUIET,
    )
    assert set(best) == {"x"} and -1 <= best["x"] <= 1


def test_fmin_default_algo_is_tpe_and_works():
    best = fmin(lambda x: x**2, hp.uniform("x", -1, 1), max_evals=5, rstate=rng(0), **QUIET)
    assert set(best) == {"x"}


def test_return_argmin_false_returns_space_eval_of_best_point():
    trials = Trials()
    space = readme_space()
    point = fmin(
        readme_objective,
        space,
        algo=rand.suggest,
        max_evals=20,
        trials=trials,
        rstate=rng(0),
        return_argmin=False,
        **QUIET,
    )
    # hyperopt 0.3.0 returns space_eval(space, trials.argmin), not None and not the trials
    assert isinstance(point, tuple)
    assert point == space_eval(space, trials.argmin)
    assert point[0] in ("case 1", "case 2")


def test_return_argmin_false_with_no_successful_trials_returns_none():
    def boom(x):
        raise ValueError("boom")

    out = fmin(
        boom,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=3,
        rstate=rng(0),
        return_argmin=False,
        catch_eval_exceptions=True,
        **QUIET,
    )
    assert out is None


def test_return_argmin_with_no_trials_left_raises():
    def boom(x):
        raise ValueError("boom")

    with pytest.raises(Exception, match="no evaluation tasks"):
        fmin(
            boom,
            hp.uniform("x", 0, 1),
            algo=rand.suggest,
            max_evals=3,
            rstate=rng(0),
            catch_eval_exceptions=True,
            **QUIET,
        )


# --------------------------------------------------------------------------- max_evals


def test_max_evals_counts_trials_already_in_trials():
    f = Recorder()
    trials = Trials()
    fmin(
        f,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=5,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    assert len(trials) == 5 and len(f.calls) == 5
    fmin(
        f,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=8,
        trials=trials,
        rstate=rng(1),
        **QUIET,
    )
    assert len(trials) == 8 and len(f.calls) == 8
    assert sorted(trials.tids) == list(range(8))


def test_max_evals_already_reached_evaluates_nothing():
    f = Recorder()
    trials = Trials()
    fmin(
        f,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=4,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    best = fmin(
        f,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=4,
        trials=trials,
        rstate=rng(1),
        **QUIET,
    )
    assert len(f.calls) == 4 and len(trials) == 4
    assert best == trials.argmin


def test_continued_tpe_search_uses_earlier_trials():
    trials = Trials()
    fmin(
        lambda x: (x - 3) ** 2,
        hp.uniform("x", -10, 10),
        algo=tpe.suggest,
        max_evals=20,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    first_best = min(trials.losses())
    fmin(
        lambda x: (x - 3) ** 2,
        hp.uniform("x", -10, 10),
        algo=tpe.suggest,
        max_evals=60,
        trials=trials,
        rstate=rng(1),
        **QUIET,
    )
    assert len(trials) == 60
    assert min(trials.losses()) <= first_best


# --------------------------------------------------------------------------- seeding


@pytest.mark.parametrize("algo", [rand.suggest, tpe.suggest, anneal.suggest])
def test_same_rstate_seed_gives_same_trials(algo):
    def run(seed):
        trials = Trials()
        fmin(
            lambda p: (p["x"] - 1) ** 2 + p["k"],
            {"x": hp.uniform("x", -5, 5), "k": hp.randint("k", 3)},
            algo=algo,
            max_evals=25,
            trials=trials,
            rstate=rng(seed),
            **QUIET,
        )
        return [(t["misc"]["vals"]["x"], t["misc"]["vals"]["k"]) for t in trials.trials]

    a, b, c = run(7), run(7), run(8)
    assert a == b
    assert a != c


def test_hyperopt_fmin_seed_env_seeds_when_rstate_is_none(monkeypatch):
    def run(rstate=None):
        trials = Trials()
        fmin(
            lambda x: x,
            hp.uniform("x", 0, 1),
            algo=rand.suggest,
            max_evals=5,
            trials=trials,
            rstate=rstate,
            **QUIET,
        )
        return xs_of(trials)

    monkeypatch.setenv("HYPEROPT_FMIN_SEED", "3")
    a, b = run(), run()
    assert a == b
    # the env var means rstate=np.random.default_rng(int(value))
    assert a == run(rng(3))
    # an explicit rstate wins over the env var
    assert run(rng(4)) != a
    monkeypatch.setenv("HYPEROPT_FMIN_SEED", "4")
    assert run() == run(rng(4))


def test_empty_hyperopt_fmin_seed_env_means_unseeded(monkeypatch):
    def run():
        trials = Trials()
        fmin(
            lambda x: x,
            hp.uniform("x", 0, 1),
            algo=rand.suggest,
            max_evals=3,
            trials=trials,
            **QUIET,
        )
        return xs_of(trials)

    monkeypatch.setenv("HYPEROPT_FMIN_SEED", "")
    assert run() != run()
    monkeypatch.delenv("HYPEROPT_FMIN_SEED")
    assert run() != run()


# --------------------------------------------------------------------------- stopping rules


def test_timeout_stops_the_search_early():
    def slow(x):
        time.sleep(0.02)
        return x

    trials = Trials()
    fmin(
        slow,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=200,
        timeout=0.2,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    assert 1 <= len(trials) < 200


@pytest.mark.parametrize("bad", [0, -1, True, "10"])
def test_invalid_timeout_raises(bad):
    with pytest.raises(Exception, match="timeout"):
        fmin(
            lambda x: x,
            hp.uniform("x", 0, 1),
            algo=rand.suggest,
            max_evals=2,
            timeout=bad,
            rstate=rng(0),
            **QUIET,
        )


@pytest.mark.parametrize("bad", ["0.1", True])
def test_invalid_loss_threshold_raises(bad):
    with pytest.raises(Exception, match="loss_threshold"):
        fmin(
            lambda x: x,
            hp.uniform("x", 0, 1),
            algo=rand.suggest,
            max_evals=2,
            loss_threshold=bad,
            rstate=rng(0),
            **QUIET,
        )


def test_loss_threshold_stops_after_first_loss_below_threshold():
    trials = Trials()
    fmin(
        lambda x: x,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=200,
        loss_threshold=0.1,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    losses = trials.losses()
    assert len(losses) < 200
    assert losses[-1] < 0.1
    assert all(loss >= 0.1 for loss in losses[:-1])


def test_early_stop_fn_no_progress_loss_stops_on_a_plateau():
    trials = Trials()
    fmin(
        lambda x: 1.0,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=100,
        trials=trials,
        early_stop_fn=no_progress_loss(5),
        rstate=rng(0),
        **QUIET,
    )
    # constant loss: the first trial sets the best, then 4 more without progress -> 5 trials
    assert len(trials) == 5


def test_early_stop_fn_no_progress_loss_keeps_going_while_improving():
    losses = iter(range(100, 0, -1))
    trials = Trials()
    fmin(
        lambda x: float(next(losses)),
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=30,
        trials=trials,
        early_stop_fn=no_progress_loss(3),
        rstate=rng(0),
        **QUIET,
    )
    assert len(trials) == 30


def test_early_stop_fn_percent_increase():
    # every loss improves by 1% of 100; requiring a 5% improvement counts them as no progress
    losses = iter(100.0 - np.arange(100))
    trials = Trials()
    fmin(
        lambda x: float(next(losses)),
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=50,
        trials=trials,
        early_stop_fn=no_progress_loss(iteration_stop_count=4, percent_increase=5.0),
        rstate=rng(0),
        **QUIET,
    )
    assert len(trials) < 50


def test_custom_early_stop_fn_receives_trials_and_its_own_state():
    seen = []

    def stop_after_three(trials, *args):
        seen.append((len(trials.trials), args))
        count = args[0] + 1 if args else 1
        return count >= 3, [count]

    trials = Trials()
    fmin(
        lambda x: x,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=50,
        trials=trials,
        early_stop_fn=stop_after_three,
        rstate=rng(0),
        **QUIET,
    )
    assert len(trials) == 3
    assert seen[0] == (1, ())
    assert seen[1] == (2, (1,))
    assert seen[2] == (3, (2,))


# --------------------------------------------------------------------------- points to evaluate


def test_points_to_evaluate_are_evaluated_first_and_add_to_max_evals():
    f = Recorder()
    best = fmin(
        f,
        hp.uniform("x", 0, 1),
        algo=tpe.suggest,
        max_evals=5,
        points_to_evaluate=[{"x": 0.25}, {"x": 0.75}],
        rstate=rng(0),
        **QUIET,
    )
    assert f.calls[:2] == [0.25, 0.75]
    # hyperopt 0.3.0: the points come on top of max_evals (as its docstring says)
    assert len(f.calls) == 7
    assert set(best) == {"x"}


def test_generate_trials_to_calculate_builds_new_trial_docs():
    trials = generate_trials_to_calculate([{"x": 0.0, "y": 1.0}, {"x": 2.0, "y": 3.0}])
    assert trials.count_by_state_unsynced(JOB_STATE_NEW) == 2
    trials.refresh()
    assert len(trials) == 2
    first = trials.trials[0]
    assert first["tid"] == 0 and first["state"] == JOB_STATE_NEW
    assert first["misc"]["vals"] == {"x": [0.0], "y": [1.0]}
    assert first["misc"]["idxs"] == {"x": [0], "y": [0]}
    assert first["result"] == {"status": "new"}
    assert trials.trials[1]["misc"]["vals"] == {"x": [2.0], "y": [3.0]}


def test_generate_trials_to_calculate_points_evaluated_before_search():
    f = Recorder(lambda p: p["x"] + p["y"])
    trials = generate_trials_to_calculate([{"x": 0.5, "y": 0.5}, {"x": 0.0, "y": 0.0}])
    best = fmin(
        f,
        {"x": hp.uniform("x", 0, 1), "y": hp.uniform("y", 0, 1)},
        algo=rand.suggest,
        max_evals=4,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    assert f.calls[0] == {"x": 0.5, "y": 0.5}
    assert f.calls[1] == {"x": 0.0, "y": 0.0}
    assert all(t["state"] == JOB_STATE_DONE for t in trials.trials)
    assert trials.trials[1]["result"]["loss"] == 0.0
    assert best == {"x": 0.0, "y": 0.0}


def test_generate_trials_to_calculate_with_choice_index():
    space = {"k": hp.choice("k", ["a", "b", "c"]), "x": hp.uniform("x", 0, 1)}
    f = Recorder(lambda p: p["x"])
    trials = generate_trials_to_calculate([{"k": 2, "x": 0.5}])
    fmin(f, space, algo=rand.suggest, max_evals=2, trials=trials, rstate=rng(0), **QUIET)
    assert f.calls[0] == {"k": "c", "x": 0.5}


# --------------------------------------------------------------------------- exceptions in fn


def test_exception_in_objective_propagates_by_default():
    def f(x):
        if x > 0.5:
            raise ValueError("too big")
        return x

    trials = Trials()
    with pytest.raises(ValueError, match="too big"):
        fmin(
            f,
            hp.uniform("x", 0, 1),
            algo=rand.suggest,
            max_evals=50,
            trials=trials,
            rstate=rng(0),
            **QUIET,
        )
    # the failing trial is recorded in JOB_STATE_ERROR and left out of trials.trials
    assert trials.count_by_state_unsynced(JOB_STATE_ERROR) == 1
    assert all(t["state"] == JOB_STATE_DONE for t in trials.trials)


def test_catch_eval_exceptions_records_error_trials_and_continues():
    def f(x):
        if x > 0.5:
            raise ValueError("too big")
        return x

    trials = Trials()
    best = fmin(
        f,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=20,
        trials=trials,
        rstate=rng(0),
        catch_eval_exceptions=True,
        **QUIET,
    )
    n_err = trials.count_by_state_unsynced(JOB_STATE_ERROR)
    assert n_err > 0
    assert len(trials) + n_err == 20  # error trials count as evaluations but are not listed
    assert all(t["state"] == JOB_STATE_DONE and t["result"]["loss"] <= 0.5 for t in trials.trials)
    assert best["x"] <= 0.5


# --------------------------------------------------------------------------- objective results


def test_objective_returning_float_is_wrapped_into_ok_result():
    trials = Trials()
    fmin(
        lambda x: 3,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=2,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    assert trials.results == [{"loss": 3.0, "status": STATUS_OK}] * 2
    assert all(isinstance(r["loss"], float) for r in trials.results)


def test_objective_returning_numpy_scalar_is_accepted():
    trials = Trials()
    fmin(
        lambda x: np.float32(x) * 2,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=3,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    assert trials.statuses() == [STATUS_OK] * 3
    assert all(isinstance(loss, float) for loss in trials.losses())


def test_objective_returning_dict_keeps_extra_keys():
    def f(x):
        return {
            "loss": x**2,
            "status": STATUS_OK,
            "eval_time": 12.5,
            "extra": {"nested": [1, 2]},
            "true_loss": 7.0,
        }

    trials = Trials()
    fmin(
        f,
        hp.uniform("x", -1, 1),
        algo=rand.suggest,
        max_evals=3,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    for t in trials.trials:
        r = t["result"]
        assert r["status"] == STATUS_OK
        assert r["loss"] == pytest.approx(t["misc"]["vals"]["x"][0] ** 2)
        assert r["eval_time"] == 12.5 and r["extra"] == {"nested": [1, 2]} and r["true_loss"] == 7.0


def test_objective_dict_loss_is_converted_to_float():
    trials = Trials()
    fmin(
        lambda x: {"loss": np.int64(4), "status": STATUS_OK},
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=1,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    assert trials.results[0]["loss"] == 4.0 and isinstance(trials.results[0]["loss"], float)


def test_attachments_returned_by_objective_move_to_trial_attachments():
    def f(x):
        return {
            "loss": x,
            "status": STATUS_OK,
            "attachments": {"blob": b"x" * 100, "note": "hello"},
        }

    trials = Trials()
    fmin(
        f,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=2,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    for t in trials.trials:
        assert "attachments" not in t["result"]
        att = trials.trial_attachments(t)
        assert "blob" in att and att["blob"] == b"x" * 100
        assert att["note"] == "hello"
        assert "missing" not in att


def test_status_fail_results_are_kept_but_ignored_for_argmin():
    def f(x):
        if x > 0.5:
            return {"status": STATUS_FAIL, "why": "x too big"}
        return {"status": STATUS_OK, "loss": 1 - x}

    trials = Trials()
    best = fmin(
        f,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=20,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    statuses = trials.statuses()
    assert len(trials) == 20
    assert STATUS_FAIL in statuses and STATUS_OK in statuses
    losses = trials.losses()
    for status, loss, r in zip(statuses, losses, trials.results):
        if status == STATUS_FAIL:
            assert loss is None and r["why"] == "x too big"
    assert best["x"] <= 0.5
    assert trials.best_trial["result"]["status"] == STATUS_OK


@pytest.mark.parametrize("algo", [rand.suggest, tpe.suggest])
def test_all_trials_failed_raises_all_trials_failed(algo):
    with pytest.raises(AllTrialsFailed):
        fmin(
            lambda x: {"status": STATUS_FAIL},
            hp.uniform("x", 0, 1),
            algo=algo,
            max_evals=25,
            rstate=rng(0),
            **QUIET,
        )


def test_all_trials_failed_is_also_raised_with_return_argmin_false():
    with pytest.raises(AllTrialsFailed):
        fmin(
            lambda x: {"status": STATUS_FAIL},
            hp.uniform("x", 0, 1),
            algo=rand.suggest,
            max_evals=3,
            rstate=rng(0),
            return_argmin=False,
            **QUIET,
        )


def test_nan_loss_is_recorded_and_skipped_by_argmin():
    # hyperopt accepts a NaN loss (e.g. a diverged training run) as an ok result and leaves
    # it out of best_trial / argmin; the search carries on.
    trials = Trials()
    values = iter([float("nan"), 2.0, float("nan"), 1.0, 3.0])
    fmin(
        lambda x: next(values),
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=5,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    assert trials.best_trial["tid"] == 3
    assert trials.best_trial["result"]["loss"] == 1.0
    assert len(trials) == 5
    assert trials.statuses() == [STATUS_OK] * 5
    assert math.isnan(trials.losses()[0]) and math.isnan(trials.losses()[2])


# --------------------------------------------------------------------------- trials_save_file


def test_trials_save_file_pickles_trials_and_resumes(tmp_path):
    path = tmp_path / "trials.pkl"
    f = Recorder()
    fmin(
        f,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=5,
        trials_save_file=str(path),
        rstate=rng(0),
        **QUIET,
    )
    assert path.exists()
    with open(path, "rb") as fh:
        saved = pickle.load(fh)
    assert len(saved) == 5
    # trials=None and the file exists: fmin loads it and continues up to max_evals
    best = fmin(
        f,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=8,
        trials_save_file=str(path),
        rstate=rng(1),
        **QUIET,
    )
    assert len(f.calls) == 8
    with open(path, "rb") as fh:
        resumed = pickle.load(fh)
    assert len(resumed) == 8
    assert [t["tid"] for t in resumed.trials] == list(range(8))
    assert xs_of(resumed)[:5] == xs_of(saved)
    assert best == resumed.argmin


def test_trials_save_file_with_explicit_trials_is_written_each_iteration(tmp_path):
    path = tmp_path / "t.pkl"
    sizes = []

    def f(x):
        if path.exists():
            with open(path, "rb") as fh:
                sizes.append(len(pickle.load(fh)))
        return x

    trials = Trials()
    fmin(
        f,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=4,
        trials=trials,
        trials_save_file=str(path),
        rstate=rng(0),
        **QUIET,
    )
    assert sizes == [1, 2, 3]
    with open(path, "rb") as fh:
        assert len(pickle.load(fh)) == 4


# --------------------------------------------------------------------------- progress, verbose


def test_default_fmin_shows_a_progress_bar(capsys):
    fmin(lambda x: x, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=3, rstate=rng(0))
    out, err = capsys.readouterr()
    assert "best loss" in out + err


def test_show_progressbar_false_prints_nothing(capsys):
    fmin(
        lambda x: x,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=3,
        rstate=rng(0),
        show_progressbar=False,
    )
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_verbose_false_prints_nothing(capsys):
    fmin(
        lambda x: x,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=3,
        rstate=rng(0),
        verbose=False,
    )
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_show_progressbar_accepts_a_progress_context_manager():
    events = []

    @contextlib.contextmanager
    def callback(initial, total):
        events.append(("start", initial, total))

        class Ctx:
            postfix = None

            def update(self, n):
                events.append(("update", n))

        yield Ctx()
        events.append(("end",))

    trials = Trials()
    fmin(
        lambda x: x,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=4,
        trials=trials,
        rstate=rng(0),
        show_progressbar=callback,
    )
    assert events[0] == ("start", 0, 4)
    assert events[-1] == ("end",)
    assert sum(e[1] for e in events if e[0] == "update") == 4
    events.clear()
    fmin(
        lambda x: x,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=6,
        trials=trials,
        rstate=rng(1),
        show_progressbar=callback,
    )
    assert events[0] == ("start", 4, 6)
    assert sum(e[1] for e in events if e[0] == "update") == 2


def test_progress_module_callbacks_are_usable():
    from hqueue import progress

    with progress.no_progress_callback(initial=0, total=3) as ctx:
        ctx.update(1)
    trials = Trials()
    fmin(
        lambda x: x,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=2,
        trials=trials,
        rstate=rng(0),
        show_progressbar=progress.no_progress_callback,
    )
    assert len(trials) == 2
    assert callable(progress.default_callback)


# --------------------------------------------------------------------------- queue length


def test_max_queue_len_batches_suggestions():
    batch_sizes = []

    def algo(new_ids, domain, trials, seed):
        batch_sizes.append(len(new_ids))
        return rand.suggest(new_ids, domain, trials, seed)

    trials = Trials()
    fmin(
        lambda x: x,
        hp.uniform("x", 0, 1),
        algo=algo,
        max_evals=7,
        max_queue_len=3,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    assert len(trials) == 7
    assert batch_sizes[0] == 3
    assert max(batch_sizes) <= 3 and sum(batch_sizes) == 7


def test_custom_algo_receives_new_ids_domain_trials_and_int_seed():
    seen = []

    def algo(new_ids, domain, trials, seed):
        seen.append(
            (list(new_ids), isinstance(domain, hqueue.Domain), isinstance(trials, Trials), seed)
        )
        return rand.suggest(new_ids, domain, trials, seed)

    fmin(lambda x: x, hp.uniform("x", 0, 1), algo=algo, max_evals=3, rstate=rng(0), **QUIET)
    assert [s[0] for s in seen] == [[0], [1], [2]]
    assert all(s[1] and s[2] for s in seen)
    assert all(isinstance(s[3], (int, np.integer)) and 0 <= s[3] < 2**31 for s in seen)


def test_algo_returning_no_trials_stops_the_search():
    calls = []

    def algo(new_ids, domain, trials, seed):
        calls.append(1)
        if len(trials.trials) >= 2:
            return []
        return rand.suggest(new_ids, domain, trials, seed)

    trials = Trials()
    fmin(
        lambda x: x,
        hp.uniform("x", 0, 1),
        algo=algo,
        max_evals=10,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    assert len(trials) == 2


# --------------------------------------------------------------------------- Trials.fmin


def test_trials_fmin_method():
    trials = Trials()
    best = trials.fmin(
        lambda x: (x - 0.5) ** 2,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=6,
        rstate=rng(0),
        show_progressbar=False,
    )
    assert len(trials) == 6 and best == trials.argmin


def test_allow_trials_fmin_delegates_to_trials_fmin():
    class MyTrials(Trials):
        delegated = 0

        def fmin(self, *args, **kwargs):
            MyTrials.delegated += 1
            return super().fmin(*args, **kwargs)

    trials = MyTrials()
    fmin(
        lambda x: x,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=3,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    assert MyTrials.delegated == 1 and len(trials) == 3
    fmin(
        lambda x: x,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=5,
        trials=trials,
        rstate=rng(0),
        allow_trials_fmin=False,
        **QUIET,
    )
    assert MyTrials.delegated == 1 and len(trials) == 5


# ------------------------------------------------------------------------ expr/memo/ctrl convention


def test_pass_expr_memo_ctrl_argument():
    seen = {}

    def f(expr, memo, ctrl):
        config = pyll.rec_eval(expr, memo=memo)
        seen.setdefault("configs", []).append(config)
        seen["ctrl"] = ctrl
        return {"loss": config["x"] ** 2, "status": STATUS_OK}

    trials = Trials()
    space = {"x": hp.uniform("x", -1, 1), "lit": "L"}
    best = fmin(
        f,
        space,
        algo=rand.suggest,
        max_evals=4,
        trials=trials,
        rstate=rng(0),
        pass_expr_memo_ctrl=True,
        **QUIET,
    )
    assert len(seen["configs"]) == 4
    assert all(c["lit"] == "L" and -1 <= c["x"] <= 1 for c in seen["configs"])
    assert isinstance(seen["ctrl"], hqueue.Ctrl)
    assert [c["x"] for c in seen["configs"]] == pytest.approx(xs_of(trials))
    assert set(best) == {"x"}


def test_fmin_pass_expr_memo_ctrl_decorator_from_paper():
    def f(config):
        return config["x"] ** 2

    @hqueue.fmin_pass_expr_memo_ctrl
    def realtime_objective(expr, memo, ctrl):
        config = pyll.rec_eval(expr, memo=memo)
        return {"loss": f(config), "status": STATUS_OK}

    assert realtime_objective.fmin_pass_expr_memo_ctrl is True
    trials = Trials()
    fmin(
        realtime_objective,
        {"x": hp.uniform("x", -1, 1)},
        algo=rand.suggest,
        max_evals=3,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    assert len(trials) == 3
    assert trials.losses() == pytest.approx([x**2 for x in xs_of(trials)])


def test_hqueue_partial_keeps_the_expr_memo_ctrl_flag():
    @fmin_pass_expr_memo_ctrl
    def f(expr, memo, ctrl, offset):
        return pyll.rec_eval(expr, memo=memo) + offset

    g = hqueue.partial(f, offset=10.0)
    assert getattr(g, "fmin_pass_expr_memo_ctrl", False) is True
    assert not hasattr(functools.partial(f, offset=1.0), "fmin_pass_expr_memo_ctrl")
    trials = Trials()
    fmin(
        g,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=2,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    assert all(loss >= 10 for loss in trials.losses())


def test_memo_contains_values_only_for_active_params():
    def f(expr, memo, ctrl):
        config = pyll.rec_eval(expr, memo=memo)
        return 0.0 if config[0] == "a" else 1.0

    space = hp.choice("k", [("a", hp.uniform("ua", 0, 1)), ("b", hp.uniform("ub", 0, 1))])
    trials = Trials()
    fmin(
        f,
        space,
        algo=rand.suggest,
        max_evals=10,
        trials=trials,
        rstate=rng(0),
        pass_expr_memo_ctrl=True,
        **QUIET,
    )
    assert len(trials) == 10


# --------------------------------------------------------------------------- misc arguments


def test_max_evals_none_with_loss_threshold_terminates():
    trials = Trials()
    fmin(
        lambda x: x,
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        loss_threshold=0.05,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    assert trials.losses()[-1] < 0.05


def test_objective_receives_python_types_from_space():
    seen = []

    def f(p):
        seen.append(p)
        return 0.0

    space = {
        "u": hp.uniform("u", 0, 1),
        "q": hp.quniform("q", 0, 10, 1),
        "n": scope_int_quniform(),
        "r": hp.randint("r", 4),
        "c": hp.choice("c", ["a", "b"]),
        "l": [1, hp.uniform("lu", 0, 1)],
    }
    fmin(f, space, algo=rand.suggest, max_evals=5, rstate=rng(0), **QUIET)
    for p in seen:
        assert isinstance(p["u"], float)
        assert isinstance(p["q"], float) and p["q"].is_integer()
        assert isinstance(p["n"], int)
        assert isinstance(p["r"], (int, np.integer))
        assert p["c"] in ("a", "b")
        assert isinstance(p["l"], tuple) and p["l"][0] == 1


def scope_int_quniform():
    from hqueue.pyll import scope

    return scope.int(hp.quniform("n", 10, 100, 10))


def test_fmin_does_not_change_global_numpy_random_state():
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    fmin(lambda x: x, hp.uniform("x", 0, 1), algo=tpe.suggest, max_evals=25, rstate=rng(0), **QUIET)
    assert np.random.random() == expected


def test_objective_is_called_in_the_calling_process():
    pids = set()

    def f(x):
        pids.add(os.getpid())
        return x

    fmin(f, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=3, rstate=rng(0), **QUIET)
    assert pids == {os.getpid()}


def test_loss_can_be_negative_and_infinite_values_are_allowed():
    values = iter([-1.0, math.inf, -5.0])
    trials = Trials()
    best = fmin(
        lambda x: next(values),
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=3,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    assert trials.best_trial["tid"] == 2
    assert best == {"x": trials.trials[2]["misc"]["vals"]["x"][0]}


def test_annotated_space_reads_hp_annotations_of_the_objective():
    def fn(x: hp.uniform("x", -1, 1), k: hp.choice("k", [0.0, 10.0])):  # noqa: F821
        return x**2 + k

    trials = Trials()
    best = fmin(
        fn,
        space="annotated",
        algo=rand.suggest,
        max_evals=10,
        trials=trials,
        rstate=rng(0),
        **QUIET,
    )
    assert set(best) == {"x", "k"}
    assert int(best["k"]) == 0
    assert trials.best_trial["result"]["loss"] == pytest.approx(best["x"] ** 2)


def test_annotated_space_rejects_non_hp_annotations():
    from hqueue.exceptions import InvalidAnnotatedParameter

    def fn(x: float):
        return x

    with pytest.raises(InvalidAnnotatedParameter):
        fmin(fn, space="annotated", algo=rand.suggest, max_evals=1, rstate=rng(0), **QUIET)
