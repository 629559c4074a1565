"""TPE end to end: it searches better than random, respects supports and conditions, and
spreads out batches through the constant-liar policy for pending trials."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest

from hqueue import Trials, fmin, hp, rand, tpe
from hqueue.domain import Domain
from hqueue.states import JOB_STATE_DONE

ALL_KINDS = {
    "u": hp.uniform("u", -2, 3),
    "qu": hp.quniform("qu", 0, 20, 4),
    "lu": hp.loguniform("lu", math.log(1e-3), math.log(10)),
    "qlu": hp.qloguniform("qlu", 0, 5, 2),
    "n": hp.normal("n", 1, 2),
    "qn": hp.qnormal("qn", 0, 3, 0.5),
    "ln": hp.lognormal("ln", 0, 1),
    "qln": hp.qlognormal("qln", 1, 1, 1),
    "ri": hp.randint("ri", 5),
    "ri2": hp.randint("ri2", -3, 4),
    "ui": hp.uniformint("ui", 2, 9),
    "c": hp.choice("c", ["a", "b", hp.uniform("cu", 5, 6)]),
    "pc": hp.pchoice("pc", [(0.2, 0), (0.8, 1)]),
}


def objective(cfg):
    c = cfg["c"] if isinstance(cfg["c"], float) else 0.0
    return (cfg["u"] - 1) ** 2 + abs(cfg["n"]) + cfg["ri"] + c + math.log(cfg["lu"]) ** 2 / 10


def test_every_distribution_stays_in_its_support_under_tpe():
    trials = Trials()
    fmin(objective, ALL_KINDS, algo=partial(tpe.suggest, n_startup_jobs=5), max_evals=60,
         trials=trials, rstate=np.random.default_rng(0), show_progressbar=False)
    for t in trials.trials[5:]:
        v = {k: x[0] for k, x in t["misc"]["vals"].items() if x}
        assert -2 <= v["u"] <= 3 and v["qu"] % 4 == 0 and 0 <= v["qu"] <= 20
        assert 1e-3 <= v["lu"] <= 10 and v["qlu"] % 2 == 0 and v["qlu"] <= math.exp(5) + 1
        assert v["qn"] % 0.5 == 0 and v["ln"] > 0 and v["qln"] >= 0
        assert v["ri"] in range(5) and v["ri2"] in range(-3, 4) and 2 <= v["ui"] <= 9
        assert v["c"] in (0, 1, 2) and v["pc"] in (0, 1)
        assert ("cu" in v) == (v["c"] == 2)
        assert isinstance(v["ri"], int) and isinstance(v["u"], float)


def best_losses(algo, seeds, max_evals=100):
    space = {"x": hp.uniform("x", -10, 10), "y": hp.loguniform("y", -5, 3)}

    def f(c):
        return (c["x"] - 3.3) ** 2 + (math.log(c["y"]) - 1) ** 2

    out = []
    for s in seeds:
        trials = Trials()
        fmin(f, space, algo=algo, max_evals=max_evals, trials=trials,
             rstate=np.random.default_rng(s), show_progressbar=False)
        out.append(min(trials.losses()))
    return np.array(out)


def test_tpe_finds_better_points_than_random_search_on_a_smooth_problem():
    seeds = range(10)
    tpe_best = best_losses(tpe.suggest, seeds)
    rand_best = best_losses(rand.suggest, seeds)
    assert np.median(tpe_best) < np.median(rand_best) / 3


def test_tpe_is_reproducible_from_the_seed():
    assert np.array_equal(best_losses(tpe.suggest, [5]), best_losses(tpe.suggest, [5]))


def test_conditional_branches_only_get_values_when_active():
    space = hp.choice("m", [{"a": hp.uniform("a", 0, 1)}, {"b": hp.normal("b", 0, 1),
                                                           "d": hp.randint("d", 3)}])
    trials = Trials()

    def f(c):
        return c["a"] if "a" in c else 1 + abs(c["b"])

    fmin(f, space, algo=partial(tpe.suggest, n_startup_jobs=5), max_evals=40, trials=trials,
         rstate=np.random.default_rng(1), show_progressbar=False)
    for t in trials.trials:
        vals = t["misc"]["vals"]
        assert bool(vals["a"]) == (vals["m"] == [0])
        assert bool(vals["b"]) == bool(vals["d"]) == (vals["m"] == [1])
    late = [t["misc"]["vals"]["m"][0] for t in trials.trials[20:]]
    assert late.count(0) > len(late) / 2  # branch 0 holds the lower losses


def pending_spread(pending):
    """Mean gap between 8 points TPE suggests in one batch (all pending together)."""
    space = {"x": hp.uniform("x", 0, 1)}
    trials = Trials()
    fmin(lambda c: (c["x"] - 0.5) ** 2, space, algo=rand.suggest, max_evals=30, trials=trials,
         rstate=np.random.default_rng(0), show_progressbar=False)
    domain = Domain(lambda c: 0.0, space)
    docs = tpe.suggest(trials.new_trial_ids(8), domain, trials, 123, pending=pending)
    xs = np.sort([d["misc"]["vals"]["x"][0] for d in docs])
    return np.diff(xs).mean()


def test_constant_liar_spreads_a_batch_of_pending_suggestions():
    assert pending_spread("liar") > 1.5 * pending_spread("ignore")


def moved_by_a_pending_copy(pending, seeds=range(10)):
    """How often TPE's next suggestion changes once its previous one is pending."""
    space = {"x": hp.uniform("x", 0, 1)}
    moved = 0
    for seed in seeds:
        trials = Trials()
        fmin(lambda c: (c["x"] - 0.5) ** 2, space, algo=rand.suggest, max_evals=30,
             trials=trials, rstate=np.random.default_rng(seed), show_progressbar=False)
        domain = Domain(lambda c: 0.0, space)
        first = tpe.suggest(trials.new_trial_ids(1), domain, trials, seed, pending=pending)
        trials.insert_trial_docs(first)
        trials.refresh()
        assert len(trials.history().pending) == 1
        second = tpe.suggest(trials.new_trial_ids(1), domain, trials, seed, pending=pending)
        moved += second[0]["misc"]["vals"]["x"] != first[0]["misc"]["vals"]["x"]
    return moved


def test_pending_trials_in_the_database_count_as_liars():
    assert moved_by_a_pending_copy("ignore") == 0
    assert moved_by_a_pending_copy("liar") >= 5


def test_unknown_pending_policy_is_refused():
    with pytest.raises(ValueError, match="pending"):
        tpe.suggest([0], Domain(lambda c: 0.0, hp.uniform("x", 0, 1)), Trials(), 0,
                    pending="maybe")


def running_cluster(n_running=15, seed=0):
    """A 4-D search: 60 finished trials (loss: distance to the centre) and ``n_running``
    trials suggested by TPE one at a time with pending trials ignored, so they crowd the good
    trials as an asynchronous search's running trials do."""
    space = {f"x{i}": hp.uniform(f"x{i}", 0, 1) for i in range(4)}
    trials = Trials()
    fmin(lambda c: sum((v - 0.5) ** 2 for v in c.values()), space, algo=rand.suggest,
         max_evals=60, trials=trials, rstate=np.random.default_rng(seed),
         show_progressbar=False)
    domain = Domain(lambda c: 0.0, space)
    for k in range(n_running):
        docs = tpe.suggest(trials.new_trial_ids(1), domain, trials, 1000 * seed + k,
                           pending="ignore")
        trials.insert_trial_docs(docs)
        trials.refresh()
    return domain, trials


def point(doc):
    return np.array([doc["misc"]["vals"][f"x{i}"][0] for i in range(4)])


def distance_to_running(seeds=range(5), **kwargs):
    """Mean distance from TPE's next suggestions to the nearest running trial."""
    gaps = []
    for seed in seeds:
        domain, trials = running_cluster(seed=seed)
        running = np.array([point(t) for t in trials.trials if t["state"] != JOB_STATE_DONE])
        for k in range(4):
            doc = tpe.suggest(trials.new_trial_ids(1), domain, trials, 77 + k, **kwargs)[0]
            gaps.append(np.linalg.norm(running - point(doc), axis=1).min())
    return float(np.mean(gaps))


def test_widening_with_pending_trials_keeps_new_suggestions_further_from_them():
    before = distance_to_running(pending_widen=0.0, liar_width=1.0)
    assert distance_to_running(liar_width=1.0) > 1.3 * before


def test_liar_width_widens_only_the_pending_trials_kernels_up_to_the_prior():
    from types import SimpleNamespace

    from hqueue.algos.tpe.joint import joint_pair

    plan = SimpleNamespace(prior_mu=np.array([0.5, 0.5]), prior_sigma=np.array([1.0, 1.0]),
                           low=np.zeros(2), high=np.ones(2), cat_dists=[])
    rng = np.random.default_rng(0)
    good = (rng.uniform(size=(5, 2)), np.empty((5, 0), np.int64), np.ones(5), 1.0)
    bad = (rng.uniform(size=(40, 2)), np.empty((40, 0), np.int64), np.ones(40), 1.0)
    plain = joint_pair(plan, good, bad, "neighbour", 0.01).numeric.sigmas
    wide = joint_pair(plan, good, bad, "neighbour", 0.01, liar_scale=(37, 30.0)).numeric.sigmas
    liars = slice(6 + 37, 6 + 40)  # the last 3 bad observations, before the prior kernel
    np.testing.assert_array_equal(wide[liars], np.minimum(30.0 * plain[liars], 1.0))
    np.testing.assert_array_equal(np.delete(wide, np.r_[liars], axis=0),
                                  np.delete(plain, np.r_[liars], axis=0))
    huge = joint_pair(plan, good, bad, "neighbour", 0.01, liar_scale=(37, 1e6)).numeric.sigmas
    np.testing.assert_array_equal(huge[liars], 1.0)


def test_without_running_trials_the_parallel_settings_change_nothing():
    domain, trials = running_cluster(n_running=0)
    ids = trials.new_trial_ids(1)
    plain = tpe.suggest(ids, domain, trials, 5, pending_widen=0.0, liar_width=1.0)
    for kwargs in ({}, {"pending_widen": 3.0, "liar_width": 500.0}):
        assert tpe.suggest(ids, domain, trials, 5, **kwargs) == plain


def test_pending_ignore_is_unaffected_by_the_liar_settings():
    domain, trials = running_cluster()
    ids = trials.new_trial_ids(2)
    plain = tpe.suggest(ids, domain, trials, 5, pending="ignore", pending_widen=0.0,
                        liar_width=1.0)
    assert tpe.suggest(ids, domain, trials, 5, pending="ignore") == plain


@pytest.mark.parametrize("kwargs", [{"pending_widen": -0.5}, {"liar_width": 0.0}])
def test_invalid_liar_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        tpe.suggest([0], Domain(lambda c: 0.0, hp.uniform("x", 0, 1)), Trials(), 0, **kwargs)
