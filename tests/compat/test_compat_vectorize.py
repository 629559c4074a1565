"""``hqueue.vectorize`` as hyperopt 0.3.0's ``hyperopt.vectorize``: the scope functions over
``(idxs, vals)`` pairs and :class:`VectorizeHelper`, checked value by value against the
one-configuration graph it vectorizes."""

from __future__ import annotations

import numpy as np
import pytest

from hqueue.pyll import as_apply, rec_eval, scope
from hqueue.pyll.base import dfs
from hqueue.pyll.stochastic import recursive_set_rng_kwarg
from hqueue.pyll_utils import hp_choice, hp_loguniform, hp_pchoice, hp_quniform, hp_uniform
from hqueue.vectorize import (
    VectorizeHelper,
    idxs_map,
    idxs_take,
    replace_repeat_stochastic,
    uniq,
    vchoice_merge,
    vchoice_split,
)


def _run(expr, n, seed=0):
    """Vectorize ``expr`` over ``range(n)``; returns (values, idxs, vals, helper)."""
    vh = VectorizeHelper(expr, scope.range(n), build=True)
    out = as_apply([vh.v_expr, vh.idxs_by_label(), vh.vals_by_label()])
    out = replace_repeat_stochastic(out)
    rng = as_apply(np.random.default_rng(seed))
    values, idxs, vals = rec_eval(recursive_set_rng_kwarg(out, rng))
    return values, idxs, vals, vh


def _one_by_one(expr, params, idxs, vals, tid):
    """``expr`` evaluated for trial ``tid`` with its hyperparameters fixed to the drawn ones."""
    memo = {}
    for label, node in params.items():
        where = list(idxs[label])
        if tid in where:
            memo[node] = vals[label][where.index(tid)]
    return rec_eval(expr, memo=memo)


def test_idxs_map_applies_the_function_per_id_with_each_arguments_value_there():
    out = idxs_map([3, 1], "sub", ([1, 2, 3], [10, 20, 30]), ([1, 3], [1, 2]))
    assert out == [28, 9]


def test_idxs_map_takes_named_arguments_by_id_too():
    seqs = ([0, 1], [["a", "b"], ["c", "d"]])
    out = rec_eval(scope.idxs_map([1, 0], "str_join", ([0, 1], ["-", "+"]), seq=seqs))
    assert out == ["c+d", "a-b"]


def test_idxs_take_returns_values_in_the_order_asked():
    assert idxs_take([5, 6, 7], [50, 60, 70], [7, 5]).tolist() == [70, 50]


def test_uniq_drops_repeats_by_identity_keeping_first_order():
    a, b = [1], [1]
    assert uniq([a, b, a, b]) == [a, b]
    assert uniq([a, b, a])[1] is b


def test_vchoice_split_groups_ids_by_chosen_option_and_merge_inverts_it():
    idxs, choices = [10, 11, 12, 13], [2, 0, 2, 1]
    split = vchoice_split(idxs, choices, 3)
    assert split == [[11], [13], [10, 12]]
    pairs = [(ids, [f"opt{k}:{i}" for i in ids]) for k, ids in enumerate(split)]
    assert vchoice_merge(idxs, choices, *pairs) == ["opt2:10", "opt0:11", "opt2:12", "opt1:13"]


def test_vchoice_split_refuses_ids_and_choices_of_different_lengths():
    with pytest.raises(ValueError, match="idxs and choices different len"):
        vchoice_split([1, 2], [0], 2)


def test_vectorized_uniform_gives_each_trial_its_own_draw():
    values, idxs, vals, _ = _run(hp_uniform("x", 0, 1) ** 2, 20)
    assert list(idxs["x"]) == list(range(20))
    assert np.allclose(values, np.asarray(vals["x"]) ** 2)
    assert len(set(np.round(vals["x"], 12))) == 20


def test_a_choice_activates_a_branch_only_for_the_trials_that_chose_it():
    x = hp_uniform("x", 0, 1)
    expr = hp_choice("c", [1, x, -x]) ** 2
    values, idxs, vals, vh = _run(expr, 40, seed=3)
    chose = dict(zip(idxs["c"], vals["c"]))
    assert sorted(idxs["x"]) == sorted(t for t, c in chose.items() if c != 0)
    assert 0 < len(idxs["x"]) < 40
    for tid in range(40):
        assert values[tid] == _one_by_one(expr, vh.params, idxs, vals, tid)


def test_a_nested_config_vectorizes_to_the_configurations_of_each_trial():
    p0 = hp_uniform("p0", 0, 1)
    p1 = hp_loguniform("p1", 2, 3)
    config = as_apply({
        "a": hp_choice("a", [-1, p0]),
        "b": hp_choice("b", [-2, p1, {"q": hp_quniform("q", 0, 10, 2), "p0": p0}]),
        "c": [3, p0],
    })
    configs, idxs, vals, vh = _run(config, 25, seed=7)
    assert len(configs) == 25
    for tid in range(25):
        expected = _one_by_one(config, vh.params, idxs, vals, tid)
        assert configs[tid]["a"] == expected["a"]
        assert configs[tid]["b"] == expected["b"]
        assert list(configs[tid]["c"]) == list(expected["c"])
    assert set(idxs["q"]) == {t for t, b in zip(idxs["b"], vals["b"]) if b == 2}


def test_a_branch_no_trial_chose_is_drawn_for_no_trial():
    expr = hp_pchoice("c", [(1.0, 0), (0.0, hp_uniform("x", 0, 1))])
    values, idxs, vals, _ = _run(expr, 8)
    assert list(values) == [0] * 8
    assert len(idxs["x"]) == 0 and len(vals["x"]) == 0


def test_random_draws_become_one_draw_per_batch_not_one_per_trial():
    vh = VectorizeHelper(hp_uniform("x", 0, 1) + hp_uniform("y", 0, 1), scope.range(5))
    names = [n.name for n in dfs(vh.v_expr)]
    assert names.count("uniform") == 2
    draws = [n for n in dfs(vh.v_expr) if n.name == "uniform"]
    assert all("size" in dict(d.named_args) for d in draws)
    maps = [n for n in dfs(vh.v_expr) if n.name == "idxs_map"]
    assert all(m.pos_args[1].obj != "uniform" for m in maps)


def test_vectorizing_leaves_the_original_graph_unchanged_and_still_evaluable():
    expr = hp_choice("c", [0, hp_uniform("x", 0, 1)])
    before = [(n, list(n.inputs())) for n in dfs(expr)]
    VectorizeHelper(expr, scope.range(4))
    assert [(n, list(n.inputs())) for n in dfs(expr)] == before
    memo = {next(n for n in dfs(expr) if n.name == "hyperopt_param"): 0}
    assert rec_eval(expr, memo=memo) == 0


def test_replace_repeat_stochastic_turns_an_idxs_map_of_a_draw_into_one_sized_draw():
    ids = scope.range(4)
    low = scope.asarray(scope.repeat(4, 0.0))
    high = scope.asarray(scope.repeat(4, 1.0))
    per_trial = scope.idxs_map(ids, "uniform", as_apply([ids, low]), as_apply([ids, high]))
    out, memo = replace_repeat_stochastic(scope.len(per_trial), return_memo=True)
    (draw,) = memo.values()
    assert draw.name == "uniform" and out.pos_args[0] is draw
    rng = as_apply(np.random.default_rng(0))
    assert rec_eval(recursive_set_rng_kwarg(out, rng)) == 4


def test_the_number_of_trials_can_be_given_at_evaluation_time():
    n = as_apply("N:TBA")
    vh = VectorizeHelper(as_apply({"x": hp_uniform("x", 0, 1)}), scope.range(n))
    rng = as_apply(np.random.default_rng(0))
    configs = rec_eval(recursive_set_rng_kwarg(vh.v_expr, rng), memo={n: 6})
    assert len(configs) == 6 and all(0 <= c["x"] <= 1 for c in configs)


@pytest.mark.hqueue_only
def test_idxs_map_names_the_missing_id_when_an_argument_lacks_it():
    with pytest.raises(ValueError, match=r"idxs_map\('neg'\).*no value for id 2"):
        idxs_map([1, 2], "neg", ([1], [5]))
