"""The serial fmin loop: flat per-trial cost, stop rules, resume, Ctrl extras."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from hqueue import Trials, fmin, hp, rand, tpe
from hqueue.history import History
from hqueue.pyll import rec_eval
from hqueue.states import JOB_STATE_CANCEL, JOB_STATE_DONE

SPACE = {"x": hp.uniform("x", -1, 1)}


def quad(cfg):
    return cfg["x"] ** 2


def run(max_evals, trials=None, seed=0, **kw):
    kw.setdefault("algo", rand.suggest)
    return fmin(quad, SPACE, max_evals=max_evals, trials=trials,
                rstate=np.random.default_rng(seed), show_progressbar=False, **kw)


def test_loop_never_rescans_all_trials(monkeypatch):
    """The loop's per-trial work is incremental: no full refresh, each finished trial is
    added to the sampler history exactly once."""
    refreshes, adds = [], []
    monkeypatch.setattr(Trials, "refresh", lambda self, f=Trials.refresh: (refreshes.append(1),
                                                                            f(self))[1])
    monkeypatch.setattr(History, "add", lambda self, *a, f=History.add, **k: (adds.append(1),
                                                                             f(self, *a, **k))[1])
    trials = Trials()
    run(300, trials, algo=tpe.suggest)
    assert len(refreshes) == 1  # Trials.__init__ only
    assert len(adds) == 300


def test_history_matches_a_full_rebuild():
    trials = Trials()
    run(50, trials)
    incremental = trials.history()
    trials.refresh()
    rebuilt = trials.history()
    assert np.array_equal(np.sort(incremental.losses), np.sort(rebuilt.losses))
    assert incremental.best_loss == rebuilt.best_loss == min(trials.losses())


def test_annotated_space_from_type_hints():
    def f(x: hp.uniform("x", -2, 2), y: hp.choice("y", [0, 10])):
        return x ** 2 + y

    trials = Trials()
    best = fmin(f, space="annotated", algo=rand.suggest, max_evals=20, trials=trials,
                rstate=np.random.default_rng(0), show_progressbar=False)
    assert set(best) == {"x", "y"} and len(trials) == 20


def test_points_to_evaluate_go_first_with_a_given_trials_object():
    trials = Trials()
    run(5, trials, points_to_evaluate=[{"x": 0.25}, {"x": -0.5}])
    assert [t["misc"]["vals"]["x"][0] for t in trials.trials[:2]] == [0.25, -0.5]
    assert len(trials) == 7  # points come on top of max_evals, as in hyperopt


def test_early_stop_cancels_trials_queued_but_not_run():
    trials = Trials()
    run(20, trials, max_queue_len=4, loss_threshold=10.0)
    cancelled = [d for d in trials._dynamic_trials if d["state"] == JOB_STATE_CANCEL]
    assert len(trials) == 1 and len(cancelled) == 3
    assert all(d not in trials.trials for d in cancelled)


def test_keyboard_interrupt_cancels_the_running_trial_and_propagates():
    trials = Trials()

    def f(cfg):
        if len(trials._dynamic_trials) > 3:
            raise KeyboardInterrupt
        return cfg["x"]

    with pytest.raises(KeyboardInterrupt):
        fmin(f, SPACE, algo=rand.suggest, max_evals=10, trials=trials, show_progressbar=False)
    assert trials._dynamic_trials[-1]["state"] == JOB_STATE_CANCEL
    assert len(trials) == 3


def test_trials_save_file_resumes_an_interrupted_search(tmp_path):
    path = str(tmp_path / "trials.pkl")
    run(7, trials_save_file=path)
    with open(path, "rb") as f:
        assert len(pickle.load(f)) == 7
    run(12, trials_save_file=path, seed=1)
    with open(path, "rb") as f:
        saved = pickle.load(f)
    assert len(saved) == 12 and sorted(saved.tids) == list(range(12))


@pytest.mark.parametrize("var", ["HQUEUE_FMIN_SEED", "HYPEROPT_FMIN_SEED"])
def test_seed_env_var_makes_runs_reproducible(monkeypatch, var):
    monkeypatch.setenv(var, "42")
    a, b = Trials(), Trials()
    for t in (a, b):
        fmin(quad, SPACE, algo=rand.suggest, max_evals=5, trials=t, show_progressbar=False)
    assert a.vals == b.vals


def test_max_evals_counts_trials_already_present():
    trials = Trials()
    run(4, trials)
    run(4, trials)
    assert len(trials) == 4
    run(9, trials)
    assert len(trials) == 9


def test_ctrl_report_checkpoint_enqueue_and_should_stop():
    seen = {}

    def f(expr, memo, ctrl):
        cfg = rec_eval(expr, memo=memo)
        for step in range(3):
            ctrl.report(cfg["x"] + step, step=step)
        seen.setdefault("stop", ctrl.should_stop())
        if ctrl.current_trial["tid"] == 0:
            ctrl.enqueue([{"x": 0.0}])
        return {"loss": cfg["x"] ** 2, "status": "ok",
                "intermediate": ctrl.current_trial["result"]["intermediate"]}

    trials = Trials()
    fmin(f, SPACE, algo=rand.suggest, max_evals=3, trials=trials, pass_expr_memo_ctrl=True,
         rstate=np.random.default_rng(0), show_progressbar=False)
    assert seen["stop"] is False
    first = trials.trials[0]["result"]["intermediate"]
    assert [s["step"] for s in first] == [0, 1, 2]
    enqueued = [t for t in trials.trials if t["misc"].get("from_tid") == 0]
    assert len(enqueued) == 1 and enqueued[0]["state"] == JOB_STATE_DONE
    assert enqueued[0]["misc"]["vals"]["x"] == [0.0]


def test_progress_bar_shows_the_best_loss(capsys):
    fmin(quad, SPACE, algo=rand.suggest, max_evals=5, rstate=np.random.default_rng(0),
         show_progressbar=True)
    err = capsys.readouterr().out
    assert "best loss:" in err and "5/5" in err


def test_return_argmin_false_returns_the_best_configuration():
    space = {"k": hp.choice("k", ["a", "b"]), "x": hp.uniform("x", 0, 1)}
    best = fmin(lambda c: (c["k"] == "a") + c["x"], space, algo=rand.suggest, max_evals=20,
                rstate=np.random.default_rng(0), show_progressbar=False, return_argmin=False)
    assert best["k"] == "b" and 0 <= best["x"] <= 1


def test_env_is_clean():
    assert "HQUEUE_FMIN_SEED" not in os.environ
