"""One contract, two backends: the same fmin behaviour over the in-memory ``Trials`` and over
``RedisTrials`` on a real redis-server, including fmin's keyword matrix (issue 13 item 5):
every keyword works on the asynchronous path or is refused with a one-line message.

``RedisTrials`` here is evaluated by the worker's own trial runner
(:func:`hqueue.worker.runner.run_trial`) called as each task is sent (``send_task=``), so the
tests need no Celery process; the last test runs real worker processes."""

from __future__ import annotations

import numpy as np
import pytest
from e2e_helpers import SECRET

from hqueue import STATUS_OK, Trials, fmin, hp, rand, tpe
from hqueue.backends.memory import MemoryBackend
from hqueue.backends.redis.backend import RedisBackend
from hqueue.backends.redis.records import ExperimentOptions
from hqueue.backends.redis.store import TrialStore
from hqueue.backends.redis.trials import RedisTrials
from hqueue.exceptions import BadArgument
from hqueue.fmin import fmin_pass_expr_memo_ctrl
from hqueue.pyll import rec_eval
from hqueue.states import (
    JOB_STATE_CANCEL,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    CancelOutcome,
)
from hqueue.trial_doc import generate_trial
from hqueue.worker.runner import run_trial

SPACE = {"x": hp.uniform("x", -2, 2), "k": hp.choice("k", [0, 1])}
POINTS = [{"x": 1.5, "k": 1}, {"x": -0.25, "k": 0}]


def objective(cfg):
    return {"loss": (cfg["x"] - 0.5) ** 2 + cfg["k"], "status": STATUS_OK}


@pytest.fixture(autouse=True)
def secret(monkeypatch):
    monkeypatch.setenv("HQUEUE_SECRET", SECRET)


class InlineWorker:
    """``send_task`` that runs the trial at once with the worker's runner (records the tids)."""

    def __init__(self, url: str) -> None:
        self.url, self.sent, self.stores = url, [], {}

    def __call__(self, exp_key: str, tid: int, queue: str) -> None:
        import redis

        self.sent.append(tid)
        if exp_key not in self.stores:
            self.stores[exp_key] = TrialStore(redis.Redis.from_url(self.url), exp_key)
        run_trial(self.stores[exp_key], tid, owner="inline", secret=SECRET.encode())


@pytest.fixture(params=["memory", "redis"])
def make_trials(request):
    """``make_trials(exp_key=None)``: a fresh trials object of the backend under test."""
    if request.param == "memory":
        return lambda exp_key=None: Trials(exp_key=exp_key)
    url = request.getfixturevalue("redis_url")
    worker = InlineWorker(url)
    return lambda exp_key=None: RedisTrials(url, exp_key, send_task=worker, lease_s=10)


def search(trials, max_evals=8, **kw):
    kw.setdefault("show_progressbar", False)
    kw.setdefault("rstate", np.random.default_rng(0))
    return fmin(kw.pop("fn", objective), SPACE, algo=kw.pop("algo", tpe.suggest),
                max_evals=max_evals, trials=trials, **kw)


def fresh(trials):
    trials.refresh()
    return trials


def test_fmin_evaluates_max_evals_trials_and_returns_the_best(make_trials):
    trials = make_trials("contract")
    best = search(trials, 10)
    assert sorted(fresh(trials).tids) == list(range(10))
    assert all(t["state"] == JOB_STATE_DONE for t in trials.trials)
    assert best == trials.argmin and set(best) == {"x", "k"}


@pytest.mark.parametrize("exp_key", [None, "named"])
def test_points_to_evaluate_run_first_and_come_on_top_of_max_evals(make_trials, exp_key):
    trials = make_trials(exp_key)
    search(trials, 4, points_to_evaluate=POINTS)
    docs = sorted(fresh(trials).trials, key=lambda t: t["tid"])
    assert len(docs) == 6 and all(t["state"] == JOB_STATE_DONE for t in docs)
    assert [{k: v[0] for k, v in t["misc"]["vals"].items()} for t in docs[:2]] == POINTS
    assert {t["exp_key"] for t in docs} == {exp_key}


def test_points_to_evaluate_are_skipped_when_the_experiment_has_trials(make_trials):
    trials = make_trials("again")
    search(trials, 3)
    search(trials, 5, points_to_evaluate=POINTS)
    assert len(fresh(trials)) == 5


def test_a_second_fmin_counts_the_trials_already_there(make_trials):
    trials = make_trials("resume")
    search(trials, 4)
    search(trials, 7, rstate=np.random.default_rng(1))
    assert sorted(fresh(trials).tids) == list(range(7))


def test_trials_fmin_is_fmin(make_trials):
    trials = make_trials("method")
    best = trials.fmin(objective, SPACE, algo=rand.suggest, max_evals=5,
                       rstate=np.random.default_rng(0), show_progressbar=False)
    assert len(fresh(trials)) == 5 and best == trials.argmin


def test_return_argmin_false_returns_the_configuration(make_trials):
    trials = make_trials("config")
    config = search(trials, 5, return_argmin=False)
    assert set(config) == {"x", "k"} and config["k"] in (0, 1)


@pytest.mark.parametrize("stop", [{"loss_threshold": 10.0},
                                  {"early_stop_fn": lambda trials, *s: (len(trials) >= 2, s)}])
def test_stop_rules_end_the_search_early(make_trials, stop):
    trials = make_trials("stop")
    search(trials, 20, **stop)
    assert 1 <= fresh(trials).count_in_states(JOB_STATE_DONE) < 20


def test_max_queue_len_and_the_rstate_forms_are_accepted(make_trials):
    for rstate in (3, np.random.default_rng(3), np.random.RandomState(3)):
        trials = make_trials(f"rs{type(rstate).__name__}")
        search(trials, 4, max_queue_len=2, rstate=rstate)
        assert len(fresh(trials)) == 4


def test_a_failing_objective_is_recorded_with_catch_eval_exceptions(make_trials):
    def fails_on_negative(cfg):
        if cfg["x"] < 0:
            raise ValueError("negative")
        return objective(cfg)

    trials = make_trials("catch")
    search(trials, 8, fn=fails_on_negative, algo=rand.suggest, catch_eval_exceptions=True,
           points_to_evaluate=[{"x": -1.0, "k": 0}])
    fresh(trials)
    assert trials.count_by_state_unsynced(JOB_STATE_ERROR) >= 1
    assert trials.count_in_states(JOB_STATE_DONE, JOB_STATE_ERROR) == 9


def test_pass_expr_memo_ctrl_gives_the_objective_its_ctrl(make_trials):
    @fmin_pass_expr_memo_ctrl
    def with_ctrl(expr, memo, ctrl):
        cfg = rec_eval(expr, memo=memo)
        ctrl.checkpoint({"status": "running", "seen": True})
        return objective(cfg)

    trials = make_trials("ctrl")
    search(trials, 3, fn=with_ctrl)
    assert len(fresh(trials)) == 3


def test_the_progress_callback_counts_every_trial_to_max_evals(make_trials):
    import contextlib

    seen = {}

    class Bar:
        postfix = None

        def update(self, n=1):
            seen["n"] = seen.get("n", 0) + n

    @contextlib.contextmanager
    def progress(initial, total):
        seen.update(initial=initial, total=total)
        bar = Bar()
        yield bar
        seen["postfix"] = bar.postfix

    trials = make_trials("progress")
    search(trials, 2)
    search(trials, 6, show_progressbar=progress)
    assert (seen["initial"], seen["total"], seen["n"]) == (2, 6, 4)
    assert seen["postfix"].startswith("best loss: ")


def test_allow_trials_fmin_false_runs_the_same_search(make_trials):
    trials = make_trials("allow")
    search(trials, 4, allow_trials_fmin=False)
    assert len(fresh(trials)) == 4


@pytest.mark.parametrize("keyword, value, message", [
    ("catch_eval_exceptions", False, "catch_eval_exceptions=False is not supported with "
                                     "RedisTrials"),
    ("trials_save_file", "saved.pkl", "trials_save_file='saved.pkl' is not supported with "
                                      "RedisTrials"),
])
def test_keywords_the_workers_cannot_honour_are_refused_in_one_line(redis_url, keyword, value,
                                                                    message):
    worker = InlineWorker(redis_url)
    trials = RedisTrials(redis_url, "refused", send_task=worker)
    with pytest.raises(BadArgument) as info:
        search(trials, 3, **{keyword: value})
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
    assert worker.sent == [] and len(fresh(trials)) == 0  # refused before anything was sent


def test_the_same_keywords_work_in_memory(tmp_path):
    trials = Trials()
    search(trials, 3, catch_eval_exceptions=False, trials_save_file=str(tmp_path / "t.pkl"))
    assert len(trials) == 3 and (tmp_path / "t.pkl").exists()


# -- the backend seam itself -----------------------------------------------------------------
@pytest.fixture(params=["memory", "redis"])
def backend(request):
    if request.param == "memory":
        return MemoryBackend("seam")
    import redis

    client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
    return RedisBackend(client, "seam", ExperimentOptions(), sender=lambda: None)


def test_a_backend_hands_out_each_tid_once(backend):
    assert backend.new_tids(2) + backend.new_tids(3) == [0, 1, 2, 3, 4]


def test_a_backend_reports_created_documents_once(backend):
    backend.create([generate_trial(t, {"x": 0.1}, "seam") for t in backend.new_tids(2)])
    seq, docs = backend.changes_since(0)
    assert [d["tid"] for d in docs] == [0, 1] and docs[0]["state"] == JOB_STATE_NEW
    assert backend.changes_since(seq) == (seq, [])


def test_a_backend_cancels_a_queued_trial(backend):
    backend.create([generate_trial(0, {"x": 0.1}, "seam")])
    assert backend.cancel(0) == "cancelled"
    _, docs = backend.changes_since(0)
    assert docs[0]["state"] == JOB_STATE_CANCEL


def test_a_backend_says_what_cancelling_did_as_a_cancel_outcome(backend):
    backend.create([generate_trial(0, {"x": 0.1}, "seam")])
    assert backend.cancel(0) is CancelOutcome.CANCELLED
    assert backend.cancel(0) is CancelOutcome.FINISHED  # already ended
    assert backend.cancel(99) is CancelOutcome.FINISHED  # unknown


# -- end to end ------------------------------------------------------------------------------
def test_points_to_evaluate_run_on_real_workers_with_the_default_experiment(redis_url, pool):
    def square(cfg):  # defined here: the worker gets it by value (cloudpickle)
        return {"loss": (cfg["x"] - 0.5) ** 2 + cfg["k"], "status": STATUS_OK}

    pool.start()
    trials = RedisTrials(redis_url, lease_s=10)
    best = search(trials, 3, fn=square, points_to_evaluate=[{"x": 0.5, "k": 0}])
    docs = sorted(fresh(trials).trials, key=lambda t: t["tid"])
    assert len(docs) == 4 and all(t["state"] == JOB_STATE_DONE for t in docs)
    assert docs[0]["misc"]["vals"] == {"x": [0.5], "k": [0]} and docs[0]["result"]["loss"] == 0
    assert best == {"x": 0.5, "k": 0}
