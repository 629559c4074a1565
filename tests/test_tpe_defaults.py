"""The default TPE policies measured on the real-problem benchmark
(``benchmarks/results/real_quality.md``): 10 random startup trials; a good set of the best
10% of trials on spaces made only of choices, hyperopt's ``ceil(0.25 sqrt(n))`` otherwise;
``HYPEROPT_SETTINGS`` restores hyperopt's."""

from __future__ import annotations

import inspect
from functools import partial

import numpy as np
import pytest

from hqueue import Trials, hp, rand, tpe
from hqueue.algos.tpe import split_good
from hqueue.algos.tpe.sampler import resolve_gamma
from hqueue.domain import Domain
from hqueue.space.compiled import compile_space

SPACE = {"x": hp.uniform("x", 0, 1), "lr": hp.choice("lr", [1e-4, 1e-3, 1e-2, 1e-1])}


def _trials_with(n: int) -> tuple[Domain, Trials]:
    domain = Domain(lambda c: 0.0, SPACE)
    trials = Trials()
    docs = rand.suggest(trials.new_trial_ids(n), domain, trials, 123)
    for doc in docs:
        doc["state"] = 2
        doc["result"] = {"status": "ok", "loss": doc["misc"]["vals"]["x"][0]}
    trials.insert_trial_docs(docs)
    trials.refresh()
    return domain, trials


def _values(docs: list[dict]) -> list:
    return [doc["misc"]["vals"] for doc in docs]


def _same_as_random(n_finished: int, **kwargs: object) -> bool:
    domain, trials = _trials_with(n_finished)
    ids = trials.new_trial_ids(3)
    return _values(partial(tpe.suggest, **kwargs)(ids, domain, trials, 7)) == \
        _values(rand.suggest(ids, domain, trials, 7))


def test_the_first_ten_trials_are_random_and_the_model_starts_at_ten():
    assert _same_as_random(9)
    assert not _same_as_random(10)


def test_hyperopt_settings_keep_twenty_random_trials():
    assert _same_as_random(19, **tpe.HYPEROPT_SETTINGS)
    assert not _same_as_random(20, **tpe.HYPEROPT_SETTINGS)


def _default_good_count(space: dict, n: int = 100) -> int:
    defaults = inspect.signature(tpe.suggest).parameters
    gamma = resolve_gamma(defaults["gamma"].default, compile_space(space))
    losses = np.random.default_rng(0).permutation(n).astype(float)
    good = split_good(losses, gamma, defaults["linear_forgetting"].default,
                      defaults["good_fraction"].default)
    assert sorted(losses[good].tolist()) == list(range(int(good.sum())))  # the lowest losses
    return int(good.sum())


def test_on_a_grid_of_choices_the_good_set_is_the_best_tenth_of_the_trials():
    grid = {"lr": hp.choice("lr", [1e-3, 1e-2, 1e-1]), "act": hp.choice("act", ["a", "b"])}
    assert _default_good_count(grid) == 10


def test_with_a_real_valued_parameter_the_good_set_follows_hyperopts_rule():
    # ceil(0.25 * sqrt(100)) = 3, as with HYPEROPT_SETTINGS
    assert _default_good_count(SPACE) == 3
    losses = np.arange(100.0)
    assert int(split_good(losses, tpe.HYPEROPT_SETTINGS["gamma"], 25).sum()) == 3


def test_an_unknown_gamma_word_is_refused():
    domain, trials = _trials_with(12)
    with pytest.raises(ValueError, match="gamma"):
        tpe.suggest(trials.new_trial_ids(1), domain, trials, 0, gamma="sometimes")
