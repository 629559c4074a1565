"""The space compiler: parameter table, activation conditions, fast builder."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hqueue import hp, space_eval
from hqueue.exceptions import BadSearchSpace, DuplicateLabel
from hqueue.pyll import scope
from hqueue.pyll.stochastic import sample
from hqueue.space import ALWAYS, compile_space


def nested_space():
    shared = hp.uniform("shared", 0, 1)
    return {
        "model": hp.choice("model", [
            {"kind": "svm", "C": hp.lognormal("C", 0, 1), "shared": shared,
             "kernel": hp.choice("kernel", [
                 {"name": "linear"},
                 {"name": "rbf", "gamma": hp.loguniform("gamma", -5, 0)},
             ])},
            {"kind": "tree", "depth": hp.uniformint("depth", 1, 10), "shared": shared},
            {"kind": "nb"},
        ]),
        "seed": hp.randint("seed", 3, 7),
        "scaled": 2 * hp.quniform("q", 0, 10, 2) + 1,
        "label": "literal",
        "tuple": (hp.normal("n", 0, 1), [hp.qnormal("qn", 0, 5, 1)]),
    }


def test_conditions_follow_the_choice_path_to_each_param():
    space = compile_space(nested_space())
    cond = {p.label: p.conditions for p in space.params}
    assert cond["model"] == ALWAYS and cond["seed"] == ALWAYS and cond["n"] == ALWAYS
    assert cond["C"] == (frozenset({("model", 0)}),)
    assert cond["gamma"] == (frozenset({("model", 0), ("kernel", 1)}),)
    assert cond["depth"] == (frozenset({("model", 1)}),)


def test_param_shared_by_two_of_three_branches_is_active_in_both():
    cond = compile_space(nested_space()).by_label["shared"].conditions
    assert set(cond) == {frozenset({("model", 0)}), frozenset({("model", 1)})}


def test_param_shared_by_every_branch_is_always_active():
    c = hp.randint("c", 10)
    space = compile_space(hp.choice("case", [{"x": hp.normal("x", 0, 1), "c": c},
                                             {"y": hp.uniform("y", 1, 3), "c": c}]))
    assert space.by_label["c"].conditions == ALWAYS


@pytest.mark.parametrize("seed", range(20))
def test_builder_matches_the_graph_evaluator(seed):
    expr = nested_space()
    space = compile_space(expr)
    row = space.sample(np.random.default_rng(seed), 1)[0]
    assert space.build(row) == space_eval(expr, row)


def test_rows_hold_exactly_the_active_labels():
    space = compile_space(nested_space())
    rows = space.sample(np.random.default_rng(0), 200)
    for row in rows:
        model = row["model"]
        assert ("C" in row) == (model == 0)
        assert ("depth" in row) == (model == 1)
        assert ("shared" in row) == (model in (0, 1))
        assert ("gamma" in row) == (model == 0 and row.get("kernel") == 1)
        assert 3 <= row["seed"] < 7


def test_vectorized_masks_agree_with_row_by_row_activity():
    space = compile_space(nested_space())
    cols = space.sample_columns(np.random.default_rng(1), 300)
    masks = space.active_masks(cols, 300)
    for i in range(300):
        values = {k: v[i] for k, v in cols.items()}
        for p in space.params:
            assert masks[p.label][i] == space.is_active(p, values)


def test_two_params_with_one_label_raise_duplicate_label_naming_it():
    with pytest.raises(DuplicateLabel, match="'x'"):
        compile_space([hp.uniform("x", 0, 1), hp.uniform("x", 0, 2)])


def test_bounds_depending_on_another_param_are_refused_clearly():
    with pytest.raises(BadSearchSpace, match="'b'.*depend"):
        compile_space(hp.uniform("b", 0, hp.uniform("a", 1, 2)))


def test_constant_expression_bounds_are_folded():
    space = compile_space(hp.uniform("x", scope.minimum(1, 2), as_node(3) + 1))
    dist = space.by_label["x"].dist
    assert (dist.low, dist.high) == (1.0, 4.0)


def as_node(x):
    from hqueue.pyll import as_apply

    return as_apply(x)


def test_log_params_live_on_a_log_internal_axis():
    space = compile_space(hp.loguniform("lr", math.log(1e-4), 0))
    dist = space.by_label["lr"].dist
    assert dist.log and dist.bounded
    assert dist.low == pytest.approx(math.log(1e-4))


def test_shared_non_pure_node_is_built_once_per_configuration():
    calls = []

    @scope.define
    def make_obj(x):
        calls.append(x)
        return object()

    obj = scope.make_obj(hp.uniform("u", 0, 1))
    space = compile_space({"a": obj, "b": obj})
    cfg = space.build({"u": 0.5})
    assert cfg["a"] is cfg["b"] and len(calls) == 1
    scope.undefine(make_obj)


def test_sample_uses_the_rng_it_is_given():
    expr = nested_space()
    a = sample(expr, rng=np.random.default_rng(7))
    b = sample(expr, rng=np.random.default_rng(7))
    assert a == b
