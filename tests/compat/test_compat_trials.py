"""The in-memory Trials object and the trial document schema, as in hyperopt 0.3.0."""

from __future__ import annotations

import datetime
import pickle

import numpy as np
import pytest

import hqueue
from hqueue import (
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    STATUS_FAIL,
    STATUS_NEW,
    STATUS_OK,
    STATUS_RUNNING,
    STATUS_STRINGS,
    STATUS_SUSPENDED,
    Trials,
    fmin,
    hp,
    rand,
    trials_from_docs,
)
from hqueue.base import JOB_STATE_CANCEL, JOB_STATES
from hqueue.exceptions import AllTrialsFailed, InvalidTrial

TRIAL_KEYS = {
    "tid",
    "spec",
    "result",
    "misc",
    "state",
    "owner",
    "book_time",
    "refresh_time",
    "exp_key",
    "version",
}
MISC_KEYS = {"tid", "cmd", "workdir", "idxs", "vals"}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def run_search(trials=None, n=6, seed=0, fn=None, space=None):
    trials = Trials() if trials is None else trials
    fmin(
        fn or (lambda p: (p["x"] - 0.25) ** 2 + (0.5 if p["k"] == "b" else 0.0)),
        space
        if space is not None
        else {"x": hp.uniform("x", 0, 1), "k": hp.choice("k", ["a", "b"])},
        algo=rand.suggest,
        max_evals=n,
        trials=trials,
        rstate=rng(seed),
        show_progressbar=False,
    )
    return trials


def done_doc(trials: Trials, tid: int, x: float, result: dict) -> dict:
    misc = {"tid": tid, "cmd": None, "workdir": None, "idxs": {"x": [tid]}, "vals": {"x": [x]}}
    (doc,) = trials.new_trial_docs([tid], [None], [result], [misc])
    doc["state"] = JOB_STATE_DONE
    return doc


# --------------------------------------------------------------------------- constants


def test_job_state_constant_values():
    assert (
        JOB_STATE_NEW,
        JOB_STATE_RUNNING,
        JOB_STATE_DONE,
        JOB_STATE_ERROR,
        JOB_STATE_CANCEL,
    ) == (0, 1, 2, 3, 4)
    assert list(JOB_STATES) == [0, 1, 2, 3, 4]
    assert hqueue.JOB_STATES == JOB_STATES


def test_status_constant_values():
    assert (STATUS_NEW, STATUS_RUNNING, STATUS_SUSPENDED, STATUS_OK, STATUS_FAIL) == (
        "new",
        "running",
        "suspended",
        "ok",
        "fail",
    )
    assert tuple(STATUS_STRINGS) == ("new", "running", "suspended", "ok", "fail")


def test_job_state_constants_compare_equal_to_plain_ints():
    # user code written for hyperopt compares trial['state'] with ints and uses them as keys
    assert JOB_STATE_DONE == 2 and hash(JOB_STATE_DONE) == hash(2)
    assert {0: "new", 2: "done"}[JOB_STATE_DONE] == "done"
    assert STATUS_OK == "ok" and hash(STATUS_OK) == hash("ok")


# --------------------------------------------------------------------------- document schema


def test_trial_document_schema_after_fmin():
    trials = run_search()
    assert len(trials.trials) == 6
    for i, t in enumerate(trials.trials):
        assert set(t) == TRIAL_KEYS
        assert set(t["misc"]) == MISC_KEYS
        assert t["tid"] == i and t["misc"]["tid"] == i
        assert t["state"] == JOB_STATE_DONE
        assert t["spec"] is None
        assert t["owner"] is None
        assert t["exp_key"] is None
        assert t["version"] == 0
        assert t["misc"]["workdir"] is None
        assert tuple(t["misc"]["cmd"]) == ("domain_attachment", "FMinIter_Domain")
        assert set(t["misc"]["idxs"]) == set(t["misc"]["vals"]) == {"x", "k"}
        assert t["misc"]["idxs"]["x"] == [i]
        assert t["result"]["status"] == STATUS_OK
        assert isinstance(t["result"]["loss"], float)


def test_trial_book_and_refresh_time_are_naive_utc_datetimes():
    before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    trials = run_search(n=3)
    after = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    for t in trials.trials:
        for key in ("book_time", "refresh_time"):
            value = t[key]
            assert isinstance(value, datetime.datetime)
            assert value.tzinfo is None
            assert value.microsecond % 1000 == 0  # millisecond resolution, like MongoDB
            assert (
                before - datetime.timedelta(seconds=1)
                <= value
                <= after + datetime.timedelta(seconds=1)
            )
        assert t["book_time"] <= t["refresh_time"]


def test_choice_vals_hold_the_index():
    trials = run_search(n=10)
    for t in trials.trials:
        (k,) = t["misc"]["vals"]["k"]
        assert isinstance(k, (int, np.integer)) and int(k) in (0, 1)


# --------------------------------------------------------------------------- accessors


def test_trials_accessors_after_fmin():
    trials = run_search(n=8)
    assert len(trials) == 8
    assert list(iter(trials)) == trials.trials
    assert [t for t in trials] == trials.trials
    assert trials.tids == list(range(8))
    assert trials.results == [t["result"] for t in trials.trials]
    assert trials.losses() == [t["result"]["loss"] for t in trials.trials]
    assert trials.statuses() == [STATUS_OK] * 8
    assert trials.specs == [None] * 8
    assert trials.miscs == [t["misc"] for t in trials.trials]


def test_trials_vals_and_idxs_are_per_label_lists():
    space = {"k": hp.choice("k", [{"t": "a", "x": hp.uniform("x", 0, 1)}, {"t": "b"}])}
    trials = run_search(n=20, fn=lambda p: 0.0, space=space)
    vals, idxs = trials.vals, trials.idxs
    assert set(vals) == set(idxs) == {"k", "x"}
    assert len(vals["k"]) == 20 and idxs["k"] == list(range(20))
    active = [t["tid"] for t in trials.trials if t["misc"]["vals"]["k"] == [0]]
    assert idxs["x"] == active and len(vals["x"]) == len(active)
    assert 0 < len(active) < 20


def test_empty_trials():
    trials = Trials()
    assert len(trials) == 0
    assert list(trials) == [] and trials.trials == [] and trials.results == []
    assert trials.losses() == [] and trials.statuses() == [] and trials.tids == []
    with pytest.raises(AllTrialsFailed):
        _ = trials.best_trial
    with pytest.raises(AllTrialsFailed):
        _ = trials.argmin


def test_best_trial_and_argmin():
    trials = run_search(n=10)
    losses = trials.losses()
    best = trials.best_trial
    assert best is trials.trials[int(np.argmin(losses))]
    argmin = trials.argmin
    assert argmin == {k: v[0] for k, v in best["misc"]["vals"].items() if v}


def test_argmin_leaves_out_inactive_labels():
    space = hp.choice("k", [{"x": hp.uniform("x", 0, 1)}, {"y": hp.uniform("y", 5, 6)}])
    trials = run_search(n=10, fn=lambda p: p.get("x", p.get("y")), space=space)
    argmin = trials.argmin
    assert argmin["k"] == 0
    assert set(argmin) == {"k", "x"}


def test_best_trial_ignores_failed_and_nan_trials():
    trials = Trials()
    docs = [
        done_doc(trials, 0, 0.1, {"status": STATUS_FAIL}),
        done_doc(trials, 1, 0.2, {"status": STATUS_OK, "loss": float("nan")}),
        done_doc(trials, 2, 0.3, {"status": STATUS_OK, "loss": 2.0}),
        done_doc(trials, 3, 0.4, {"status": STATUS_OK, "loss": 1.0}),
    ]
    trials.insert_trial_docs(docs)
    trials.refresh()
    assert trials.best_trial["tid"] == 3
    assert trials.argmin == {"x": 0.4}
    assert trials.losses()[0] is None


def test_average_best_error_uses_true_loss_of_best_trial():
    trials = Trials()
    trials.insert_trial_docs(
        [
            done_doc(trials, 0, 0.1, {"status": STATUS_OK, "loss": 1.0, "true_loss": 10.0}),
            done_doc(trials, 1, 0.2, {"status": STATUS_OK, "loss": 0.5, "true_loss": 0.7}),
            done_doc(trials, 2, 0.3, {"status": STATUS_FAIL}),
        ]
    )
    trials.refresh()
    assert trials.average_best_error() == pytest.approx(0.7)


def test_average_best_error_defaults_to_loss():
    trials = run_search(n=5)
    assert trials.average_best_error() == pytest.approx(min(trials.losses()))


# --------------------------------------------------------------------------- writing docs


def test_new_trial_ids_are_fresh_consecutive_integers():
    trials = Trials()
    assert trials.new_trial_ids(3) == [0, 1, 2]
    assert trials.new_trial_ids(2) == [3, 4]
    assert trials.new_trial_ids(0) == []


def test_new_trial_ids_continue_after_fmin():
    trials = run_search(n=4)
    (tid,) = trials.new_trial_ids(1)
    assert tid not in trials.tids and tid >= 4


def test_new_trial_docs_builds_schema_documents():
    trials = Trials()
    misc = {"tid": 0, "cmd": None, "idxs": {"x": [0]}, "vals": {"x": [0.5]}}
    (doc,) = trials.new_trial_docs([0], [None], [{"status": STATUS_NEW}], [misc])
    assert set(doc) == TRIAL_KEYS
    assert doc["state"] == JOB_STATE_NEW and doc["tid"] == 0
    assert doc["spec"] is None and doc["result"] == {"status": "new"} and doc["misc"] is misc
    assert doc["owner"] is None and doc["book_time"] is None and doc["refresh_time"] is None
    assert doc["exp_key"] is None and doc["version"] == 0


def test_inserted_docs_appear_after_refresh():
    trials = Trials()
    misc = {"tid": 0, "cmd": None, "idxs": {"x": [0]}, "vals": {"x": [0.5]}}
    docs = trials.new_trial_docs([0], [None], [{"status": STATUS_NEW}], [misc])
    assert trials.insert_trial_docs(docs) == [0]
    assert len(trials) == 0  # not visible until refresh
    assert trials.count_by_state_unsynced(JOB_STATE_NEW) == 1
    trials.refresh()
    assert len(trials) == 1
    assert trials.trials[0]["misc"]["vals"] == {"x": [0.5]}


def test_insert_trial_doc_single():
    trials = Trials()
    assert (
        trials.insert_trial_doc(done_doc(trials, 0, 0.5, {"status": STATUS_OK, "loss": 0.0})) == 0
    )
    trials.refresh()
    assert trials.argmin == {"x": 0.5}


def test_count_by_state_unsynced_accepts_state_or_list_of_states():
    trials = Trials()
    new = trials.new_trial_docs(
        [0], [None], [{"status": STATUS_NEW}], [{"tid": 0, "cmd": None, "idxs": {}, "vals": {}}]
    )
    trials.insert_trial_docs(new + [done_doc(trials, 1, 0.1, {"status": STATUS_OK, "loss": 1.0})])
    assert trials.count_by_state_unsynced(JOB_STATE_NEW) == 1
    assert trials.count_by_state_unsynced(JOB_STATE_DONE) == 1
    assert trials.count_by_state_unsynced([JOB_STATE_NEW, JOB_STATE_DONE]) == 2
    assert trials.count_by_state_unsynced(JOB_STATE_RUNNING) == 0


def test_refresh_hides_error_and_cancelled_trials():
    trials = Trials()
    err = done_doc(trials, 0, 0.1, {"status": STATUS_NEW})
    err["state"] = JOB_STATE_ERROR
    cancel = done_doc(trials, 1, 0.2, {"status": STATUS_NEW})
    cancel["state"] = JOB_STATE_CANCEL
    ok = done_doc(trials, 2, 0.3, {"status": STATUS_OK, "loss": 0.0})
    trials.insert_trial_docs([err, cancel, ok])
    trials.refresh()
    assert trials.tids == [2]
    assert trials.count_by_state_unsynced(JOB_STATE_ERROR) == 1
    assert trials.count_by_state_unsynced(JOB_STATE_CANCEL) == 1


def test_delete_all_empties_trials_and_attachments():
    trials = run_search(n=4)
    trials.attachments["note"] = b"x"
    trials.delete_all()
    assert len(trials) == 0 and trials.trials == []
    assert len(trials.attachments) == 0
    assert trials.count_by_state_unsynced(JOB_STATE_DONE) == 0
    run_search(trials, n=3)
    assert len(trials) == 3


def test_view_filters_by_exp_key_and_shares_storage():
    trials = Trials(exp_key="e1")
    run_search(trials, n=3)
    assert [t["exp_key"] for t in trials.trials] == ["e1"] * 3
    same = trials.view(exp_key="e1")
    assert len(same) == 3
    assert len(trials.view(exp_key="other")) == 0
    unfiltered = trials.view()
    assert len(unfiltered) == 3


def test_trials_with_exp_key_reject_docs_of_another_experiment():
    trials = run_search(n=2)  # exp_key None
    with pytest.raises(InvalidTrial):
        Trials(exp_key="other").insert_trial_docs([dict(trials.trials[0])])


# --------------------------------------------------------------------------- attachments


def test_experiment_attachments_are_a_mapping():
    trials = Trials()
    trials.attachments["model"] = b"\x00\x01"
    assert trials.attachments["model"] == b"\x00\x01"
    assert "model" in trials.attachments
    del trials.attachments["model"]
    assert "model" not in trials.attachments


def test_trial_attachments_get_set_contains_delete():
    trials = run_search(n=2)
    t0, t1 = trials.trials
    att0 = trials.trial_attachments(t0)
    att0["weights"] = b"abc"
    assert "weights" in att0
    assert trials.trial_attachments(t0)["weights"] == b"abc"
    assert "weights" not in trials.trial_attachments(t1)  # per trial, not per experiment
    with pytest.raises(KeyError):
        trials.trial_attachments(t1)["weights"]
    del att0["weights"]
    assert "weights" not in trials.trial_attachments(t0)


# --------------------------------------------------------------------------- pickling, from docs


def test_pickled_trials_round_trip():
    trials = run_search(n=5)
    trials.trial_attachments(trials.trials[0])["a"] = b"1"
    clone = pickle.loads(pickle.dumps(trials))
    assert len(clone) == 5
    assert clone.losses() == trials.losses()
    assert clone.argmin == trials.argmin
    assert clone.trial_attachments(clone.trials[0])["a"] == b"1"
    # a pickled Trials can continue the search
    run_search(clone, n=7, seed=1)
    assert len(clone) == 7 and len(trials) == 5


def test_trials_from_docs_rebuilds_trials():
    trials = run_search(n=5)
    rebuilt = trials_from_docs(trials.trials)
    assert isinstance(rebuilt, Trials)
    assert len(rebuilt) == 5
    assert rebuilt.argmin == trials.argmin
    assert rebuilt.losses() == trials.losses()


def test_trials_from_docs_validates_documents():
    with pytest.raises(InvalidTrial):
        trials_from_docs([{"tid": 0}])


def test_trials_from_docs_with_exp_key():
    trials = run_search(Trials(exp_key="e2"), n=3)
    rebuilt = trials_from_docs(trials.trials, exp_key="e2")
    assert len(rebuilt) == 3
    assert [t["exp_key"] for t in rebuilt.trials] == ["e2"] * 3


def test_trials_from_docs_without_validation():
    trials = run_search(n=2)
    docs = [dict(t) for t in trials.trials]
    for d in docs:
        d.pop("version")
    assert len(trials_from_docs(docs, validate=False)) == 2


# --------------------------------------------------------------------------- invalid docs


def test_insert_non_dict_raises_invalid_trial():
    with pytest.raises(InvalidTrial):
        Trials().insert_trial_docs(["not a trial"])


def test_insert_doc_missing_key_raises_invalid_trial():
    trials = Trials()
    doc = done_doc(trials, 0, 0.5, {"status": STATUS_OK, "loss": 0.0})
    del doc["spec"]
    with pytest.raises(InvalidTrial):
        trials.insert_trial_docs([doc])


def test_insert_doc_missing_misc_key_raises_invalid_trial():
    trials = Trials()
    doc = done_doc(trials, 0, 0.5, {"status": STATUS_OK, "loss": 0.0})
    del doc["misc"]["vals"]
    with pytest.raises(InvalidTrial):
        trials.insert_trial_docs([doc])


def test_insert_doc_with_tid_mismatch_raises_invalid_trial():
    trials = Trials()
    doc = done_doc(trials, 0, 0.5, {"status": STATUS_OK, "loss": 0.0})
    doc["misc"]["tid"] = 99
    with pytest.raises(InvalidTrial):
        trials.insert_trial_docs([doc])


def test_invalid_trial_is_a_value_error_with_obj():
    try:
        Trials().insert_trial_docs(["oops"])
    except InvalidTrial as e:
        assert isinstance(e, ValueError)
        assert e.obj == "oops"
    else:  # pragma: no cover
        pytest.fail("InvalidTrial not raised")
