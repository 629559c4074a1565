"""TPE on a flat grid (every parameter an unconditional ``hp.choice``) prefers a configuration
not tried yet (``avoid_repeats=True``, the default) over one already evaluated or pending, as
long as one of its candidates is new; other spaces are unaffected."""

from __future__ import annotations

from functools import partial

import numpy as np

from hqueue import Trials, fmin, hp, tpe
from hqueue.algos.tpe.repeats import Repeats
from hqueue.history import History
from hqueue.space.compiled import compile_space

#: a 12-point grid whose best corner TPE homes in on quickly
GRID = {"a": hp.choice("a", [0, 1, 2, 3]), "b": hp.choice("b", ["x", "y", "z"])}


def _loss(config: dict) -> float:
    return config["a"] + {"x": 0.0, "y": 1.0, "z": 2.0}[config["b"]]


def _configs(trials: Trials) -> list[tuple]:
    return [(t["misc"]["vals"]["a"][0], t["misc"]["vals"]["b"][0]) for t in trials.trials]


def _search(n: int, **kwargs: object) -> list[tuple]:
    trials = Trials()
    fmin(_loss, GRID, algo=partial(tpe.suggest, n_startup_jobs=3, **kwargs), max_evals=n,
         trials=trials, rstate=np.random.default_rng(0), show_progressbar=False)
    return _configs(trials)


def test_tpe_on_a_grid_tries_new_configurations_before_repeating_one():
    model_phase = _search(12)[3:]  # after the 3 random startup trials
    tried = _search(12)[:3]
    for config in model_phase:
        assert config not in tried
        tried.append(config)


def test_with_repeats_allowed_tpe_reevaluates_the_best_configuration():
    configs = _search(12, avoid_repeats=False)
    assert len(set(configs)) < len(configs)


def test_once_the_grid_is_exhausted_tpe_still_suggests():
    configs = _search(15)
    assert len(set(configs)) == 12 and len(configs) == 15


def test_pending_configurations_count_as_tried():
    space = compile_space(GRID)
    history = History()
    history.add(tid=0, loss=1.0, vals={"a": [1], "b": [2]})
    history.pending.append({"a": [3], "b": [0]})
    seen = Repeats.build(space, history)
    assert seen is not None
    assert seen.is_repeat({"a": np.array([1, 3, 3]), "b": np.array([2, 0, 1])}).tolist() == \
        [True, True, False]
    seen.add({"a": 3, "b": 1})
    assert seen.is_repeat({"a": np.array([3]), "b": np.array([1])}).tolist() == [True]


def test_spaces_with_reals_or_conditions_are_not_tracked():
    assert Repeats.build(compile_space({**GRID, "x": hp.uniform("x", 0, 1)}), History()) is None
    branchy = {"m": hp.choice("m", [{"k": 1}, {"k": hp.choice("k", [2, 3])}])}
    assert Repeats.build(compile_space(branchy), History()) is None


def test_on_a_space_with_a_real_parameter_suggestions_do_not_change():
    space = {**GRID, "x": hp.uniform("x", 0, 1)}

    def run(avoid: bool) -> list:
        trials = Trials()
        fmin(lambda c: _loss(c) + c["x"], space, trials=trials, max_evals=20,
             algo=partial(tpe.suggest, n_startup_jobs=3, avoid_repeats=avoid),
             rstate=np.random.default_rng(1), show_progressbar=False)
        return [t["misc"]["vals"] for t in trials.trials]

    assert run(True) == run(False)
