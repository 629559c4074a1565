"""The sampler learns from pruned trials (``Trials.learn_from_pruned = True``; off by default,
after the pruning benchmark's ablation): ``Trials.history()`` keeps them as rows ranked after
every complete trial, by the step they reached (furthest first) then their last value; running
trials stay pending for the constant liar; ``learn_from_pruned=False`` counts them as failed."""

from __future__ import annotations

import numpy as np
import pytest

from hqueue import STATUS_OK, STATUS_PRUNED, Trials, hp, rand, tpe
from hqueue.algos.tpe.sampler import split_good
from hqueue.domain import Domain
from hqueue.states import JOB_STATE_DONE, JOB_STATE_RUNNING

DOMAIN = Domain(lambda x: x, hp.uniform("x", 0, 1))


def _trials(outcomes, learn=True):
    """Trials with one document per outcome: ("ok", loss), ("pruned", last, reached),
    ("running",); x = 0.1 * position."""
    trials = Trials()
    trials.learn_from_pruned = learn
    docs = rand.suggest(trials.new_trial_ids(len(outcomes)), DOMAIN, trials, 0)
    for i, (doc, outcome) in enumerate(zip(docs, outcomes)):
        doc["misc"]["vals"]["x"] = [0.1 * i]
        if outcome[0] == "running":
            doc["state"] = JOB_STATE_RUNNING
            continue
        doc["state"] = JOB_STATE_DONE
        if outcome[0] == "ok":
            doc["result"] = {"status": STATUS_OK, "loss": outcome[1]}
        else:
            last, reached = outcome[1], outcome[2]
            curve = [{"step": s, "value": last} for s in range(1, reached + 1)]
            doc["result"] = {"status": STATUS_PRUNED, "intermediate": curve}
            if curve:
                doc["result"]["loss"] = last
    trials.insert_trial_docs(docs)
    trials.refresh()
    return trials


def test_pruned_trials_rank_after_complete_ones_by_step_reached_then_value():
    trials = _trials([("pruned", 0.1, 1), ("ok", 0.9), ("pruned", 0.5, 9), ("ok", 0.3),
                      ("pruned", 0.4, 9), ("pruned", float("nan"), 9), ("pruned", 0.2, 3),
                      ("pruned", None, 0), ("running",)])
    h = trials.history()
    assert len(h) == 8 and h.n_pruned == 6 and h.n_failed == 0
    ranked_tids = h.tids[h.loss_order()].tolist()
    # complete by loss; pruned by step reached (9, 9, 3, 1), value; NaN and no report last
    assert ranked_tids == [3, 1, 4, 2, 6, 0, 5, 7]
    assert h.losses[h.tids == 2].tolist() == [np.inf]  # a pruned trial reads as the worst loss
    assert trials.best_trial["tid"] == 3  # best_trial / argmin: complete trials only
    assert h.pending == [{"x": [pytest.approx(0.8)]}]  # the running trial, for the liar


def test_the_good_set_takes_the_furthest_pruned_trials_when_few_trials_completed():
    # one complete trial, 15 pruned at steps 1, 5, 9 in turn (tids 3, 6, 9, 12, 15 reached 9)
    trials = _trials([("ok", 0.5)] + [("pruned", 0.3 + 0.01 * i, 1 + (i % 3) * 4)
                                      for i in range(15)])
    h = trials.history()
    good = split_good(h.losses, None, 25, good_fraction=0.25, order=h.loss_order())
    # 4 good slots: the complete trial, then the three best of those that reached step 9
    assert sorted(h.tids[good].tolist()) == [0, 3, 6, 9]


def test_by_default_pruned_trials_count_as_failed():
    assert Trials.learn_from_pruned is False


def test_without_learning_from_pruned_trials_they_count_as_failed():
    trials = _trials([("ok", 0.5), ("pruned", 0.3, 3), ("pruned", 0.2, 1)], learn=False)
    h = trials.history()
    assert len(h) == 1 and h.n_pruned == 0 and h.n_failed == 2


def test_tpe_samples_where_the_furthest_pruned_trials_were():
    # 30 trials, all pruned: the ones near x = 0.75 got to step 9, the others stopped at 1
    trials = Trials()
    trials.learn_from_pruned = True
    docs = rand.suggest(trials.new_trial_ids(30), DOMAIN, trials, 0)
    for i, doc in enumerate(docs):
        x = (i + 0.5) / 30
        reached = 9 if abs(x - 0.75) < 0.05 else 1
        doc["misc"]["vals"]["x"] = [x]
        doc["state"] = JOB_STATE_DONE
        doc["result"] = {"status": STATUS_PRUNED, "loss": 1.0,
                         "intermediate": [{"step": reached, "value": 1.0}]}
    trials.insert_trial_docs(docs)
    trials.refresh()
    new = tpe.suggest(trials.new_trial_ids(20), DOMAIN, trials, 1)
    xs = np.array([d["misc"]["vals"]["x"][0] for d in new])
    assert np.median(np.abs(xs - 0.75)) < 0.1
