"""TPE's startup policies: ``startup="random"`` (the default, prior draws, the same as
``rand.suggest``) and ``startup="balanced"`` (uniform unconditional choices drawn among their
least-used options, so every option shows up before any shows up twice)."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from hqueue import Trials, fmin, hp, rand, tpe
from hqueue.algos.tpe.startup import balanced_params, startup_rows
from hqueue.domain import Domain
from hqueue.history import History
from hqueue.space.compiled import compile_space

OPS = ["none", "skip", "conv1", "conv3", "pool"]


def _counts(values: list[int], size: int) -> list[int]:
    return np.bincount(values, minlength=size).tolist()


def test_balanced_startup_shows_every_option_of_each_choice_equally_often():
    space = compile_space({f"op{i}": hp.choice(f"op{i}", OPS) for i in range(6)})
    rows = startup_rows(space, History(), np.random.default_rng(3), 10, "balanced")
    for label in space.labels:
        assert _counts([r[label] for r in rows], 5) == [2, 2, 2, 2, 2]


def test_balanced_startup_counts_finished_and_pending_trials_across_calls():
    trials = Trials()
    domain = Domain(lambda c: 1.0, {"op": hp.choice("op", OPS)})
    algo = partial(tpe.suggest, startup="balanced")
    fmin(domain.fn, domain.expr, algo=algo, max_evals=7, trials=trials,
         rstate=np.random.default_rng(0), show_progressbar=False)
    seen = [t["misc"]["vals"]["op"][0] for t in trials.trials]
    assert sorted(_counts(seen[:5], 5)) == [1, 1, 1, 1, 1]
    assert max(_counts(seen, 5)) == 2  # the 6th and 7th go to two different options
    # one call asking for several ids spreads them too
    ids = trials.new_trial_ids(5)
    docs = algo(ids, domain, trials, 11)
    after = seen + [d["misc"]["vals"]["op"][0] for d in docs]
    assert sorted(_counts(after, 5)) == [2, 2, 2, 3, 3]


def test_balanced_startup_leaves_reals_weighted_and_conditional_choices_to_the_prior():
    space = compile_space({
        "x": hp.uniform("x", 0, 1),
        "w": hp.pchoice("w", [(0.9, "a"), (0.1, "b")]),
        "branch": hp.choice("branch", [{"k": 1}, {"k": 2, "c": hp.choice("c", [1, 2, 3])}]),
    })
    assert [p.label for p in balanced_params(space)] == ["branch"]
    rows = startup_rows(space, History(), np.random.default_rng(0), 4, "balanced")
    assert _counts([r["branch"] for r in rows], 2) == [2, 2]
    assert all(("c" in r) == (r["branch"] == 1) for r in rows)  # activity still applies


def test_random_startup_is_the_prior_draw_of_rand_suggest():
    domain = Domain(lambda c: 0.0, {"op": hp.choice("op", OPS), "x": hp.uniform("x", 0, 1)})
    trials = Trials()
    ids = trials.new_trial_ids(4)
    assert [d["misc"]["vals"] for d in tpe.suggest(ids, domain, trials, 5)] == \
        [d["misc"]["vals"] for d in rand.suggest(ids, domain, trials, 5)]


def test_an_unknown_startup_policy_is_refused_with_the_choices():
    domain = Domain(lambda c: 0.0, {"op": hp.choice("op", OPS)})
    trials = Trials()
    with pytest.raises(ValueError, match="startup must be one of"):
        tpe.suggest(trials.new_trial_ids(1), domain, trials, 0, startup="lhs")
