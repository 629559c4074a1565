"""Ordinal choices: an ``hp.choice`` over three or more numbers in ascending order is modelled
by TPE on its option index, so evidence about one grid value spreads to its neighbours."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from hqueue import Trials, hp, tpe
from hqueue.algos.tpe.groups import GroupPlan, index_axis
from hqueue.domain import Domain
from hqueue.space.compiled import compile_space
from hqueue.space.distributions import Categorical, Numeric
from hqueue.states import JOB_STATE_DONE

GRID = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3]


@pytest.mark.parametrize("options, ordinal", [
    (GRID, True),
    ([1, 2, 4, 8], True),
    ([0.5, 1, 2.5], True),  # ints and floats mixed, ascending
    ([1, 10, 5], False),  # not sorted
    ([3, 2, 1], False),  # descending
    ([1, 2], False),  # two options: nothing between them to share
    (["relu", "tanh", "gelu"], False),
    ([True, False, True], False),
    ([1, 2, hp.uniform("nested", 3, 4)], False),  # an option is not a constant
])
def test_a_choice_is_ordinal_only_over_ascending_constant_numbers(options, ordinal):
    space = compile_space({"c": hp.choice("c", options)})
    assert space.by_label["c"].ordinal is ordinal


def test_pchoice_and_randint_are_not_ordinal():
    space = compile_space({"p": hp.pchoice("p", [(0.5, 1), (0.3, 2), (0.2, 3)]),
                           "r": hp.randint("r", 5)})
    assert not space.by_label["p"].ordinal and not space.by_label["r"].ordinal


def test_the_index_axis_covers_each_option_with_one_unit_bin():
    dist = index_axis(Categorical("randint", (0.2,) * 5))
    assert isinstance(dist, Numeric) and dist.q == 1.0 and not dist.log
    edges = dist.from_internal(np.array([dist.low, dist.high]))
    assert edges.tolist() == [0.0, 4.0]  # rounding never leaves 0 .. 4


def test_ordinal_choices_join_the_numeric_block_unless_switched_off():
    space = compile_space({"lr": hp.choice("lr", GRID), "act": hp.choice("act", ["a", "b"])})
    on, off = GroupPlan(space.groups[0], ordinal=True), GroupPlan(space.groups[0], ordinal=False)
    assert [on.labels[i] for i in on.numeric] == ["lr"]
    assert [off.labels[i] for i in off.numeric] == []
    assert on.key != off.key  # their cached observations never mix


def _history_around_the_middle(n: int = 40) -> tuple[Domain, Trials]:
    """Trials on a 9-value grid that never tried indices 4 and 8; the loss is |index - 4|,
    so indices 3 and 5 are the best seen."""
    domain = Domain(lambda c: 0.0, {"lr": hp.choice("lr", GRID)})
    trials = Trials()
    rng = np.random.default_rng(0)
    docs = []
    for tid in trials.new_trial_ids(n):
        idx = int(rng.choice([0, 1, 2, 3, 5, 6, 7]))
        docs.append({"tid": tid, "state": JOB_STATE_DONE, "result": {"status": "ok",
                     "loss": float(abs(idx - 4))}, "misc": {"tid": tid, "vals": {"lr": [idx]},
                     "idxs": {"lr": [tid]}, "cmd": None, "workdir": None},
                     "spec": None, "owner": None, "book_time": None, "refresh_time": None,
                     "exp_key": None, "version": 0})
    trials.insert_trial_docs(docs)
    trials.refresh()
    return domain, trials


def _picks(ordinal: bool, n: int = 40, **kwargs: float) -> list[int]:
    domain, trials = _history_around_the_middle(n)
    algo = partial(tpe.suggest, ordinal=ordinal, **kwargs)
    return [algo(trials.new_trial_ids(1), domain, trials, seed)[0]["misc"]["vals"]["lr"][0]
            for seed in range(40)]


def test_ordinal_tpe_proposes_the_untried_value_between_the_best_ones():
    ordinal, unordered = _picks(True), _picks(False)
    assert all(isinstance(v, int) and 0 <= v < len(GRID) for v in ordinal)
    # on the index axis the good kernels of 3 and 5 overlap on 4, far from 8; as unordered
    # options the two untried values look alike (the prior's share in both models)
    assert ordinal.count(4) >= 4 * max(ordinal.count(8), 1)
    assert unordered.count(8) >= unordered.count(4) / 3


def test_ordinal_kernels_keep_reaching_neighbours_once_the_cap_is_narrow():
    # after 300 trials the annealing cap is far below one grid step: without the width
    # floor the kernels sit on their own values and the untried middle value loses its edge
    floored, collapsed = _picks(True, n=300), _picks(True, n=300, ordinal_width=0.0)
    assert floored.count(4) >= 30
    assert collapsed.count(4) < 20
