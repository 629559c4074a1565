"""Search-space structure and the pyll expression language, as in hyperopt 0.3.0.

Covers nested containers, literals, conditional spaces (choice/pchoice), parameters shared
across branches, scope.int/float/minimum/maximum/call/switch/define, node arithmetic,
as_apply, rec_eval with and without a memo, and space_eval.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from hqueue import Trials, fmin, hp, pyll, rand, space_eval, tpe
from hqueue.pyll import Apply, Literal, as_apply, rec_eval, scope
from hqueue.pyll.stochastic import sample


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- containers


def test_list_space_evaluates_to_tuple():
    # hyperopt turns every list in a space into a pos_args node: samples come back as tuples
    value = sample([hp.uniform("a", 0, 1), hp.loguniform("b", 0, 1)], rng=rng())
    assert isinstance(value, tuple)
    assert len(value) == 2
    assert 0 <= value[0] <= 1 and 1 <= value[1] <= math.e


def test_tuple_space_evaluates_to_tuple():
    value = sample((hp.uniform("a", 0, 1), hp.loguniform("b", 0, 1)), rng=rng())
    assert isinstance(value, tuple) and len(value) == 2


def test_dict_space_evaluates_to_dict_with_same_keys():
    value = sample({"a": hp.uniform("a", 0, 1), "b": hp.loguniform("b", 0, 1)}, rng=rng())
    assert isinstance(value, dict)
    assert set(value) == {"a", "b"}


def test_dict_space_with_non_string_keys():
    value = sample({1: hp.choice("c", ["x"]), 2: "two"}, rng=rng())
    assert value == {1: "x", 2: "two"}


def test_nested_space_with_literals_from_paper():
    nested_space = [
        [{"case": 1, "a": hp.uniform("a", 0, 1)}, {"case": 2, "b": hp.loguniform("b", 0, 1)}],
        "extra literal string",
        hp.randint("r", 10),
    ]
    value = sample(nested_space, rng=rng())
    assert isinstance(value, tuple) and len(value) == 3
    inner, literal, r = value
    assert isinstance(inner, tuple)
    assert inner[0]["case"] == 1 and 0 <= inner[0]["a"] <= 1
    assert inner[1]["case"] == 2 and 1 <= inner[1]["b"] <= math.e
    assert literal == "extra literal string"
    assert isinstance(r, (int, np.integer)) and 0 <= r < 10


def test_literal_objects_pass_through_unchanged():
    sentinel = object()
    value = sample({"obj": sentinel, "none": None, "n": 3, "f": 2.5}, rng=rng())
    assert value["obj"] is sentinel
    assert value["none"] is None and value["n"] == 3 and value["f"] == 2.5


def test_nested_lists_all_become_tuples():
    value = sample({"a": [1, [2, (3, [4])]]}, rng=rng())
    assert value == {"a": (1, (2, (3, (4,))))}


def test_space_of_only_literals_evaluates_to_itself_modulo_lists():
    assert sample({"a": 1, "b": "x"}, rng=rng()) == {"a": 1, "b": "x"}


# --------------------------------------------------------------------------- conditional spaces


def _w_space_c():
    c = hp.randint("c", 10)
    return hp.choice(
        "case",
        [
            {"use_var": "x", "x": hp.normal("x", 0, 1), "c": c},
            {"use_var": "y", "y": hp.uniform("y", 1, 3), "c": c},
        ],
    )


def test_choice_conditional_sample_contains_only_active_branch():
    space = hp.choice(
        "case",
        [{"use_var": "x", "x": hp.normal("x", 0, 1)}, {"use_var": "y", "y": hp.uniform("y", 1, 3)}],
    )
    g = rng(1)
    seen = set()
    for _ in range(100):
        v = sample(space, rng=g)
        seen.add(v["use_var"])
        if v["use_var"] == "x":
            assert set(v) == {"use_var", "x"}
        else:
            assert set(v) == {"use_var", "y"} and 1 <= v["y"] <= 3
    assert seen == {"x", "y"}


def test_inactive_params_have_empty_vals_in_trials():
    trials = Trials()
    fmin(
        lambda p: p["x"] ** 2 if p["use_var"] == "x" else math.exp(p["y"]),
        _w_space_c(),
        algo=rand.suggest,
        max_evals=30,
        trials=trials,
        rstate=rng(0),
        show_progressbar=False,
    )
    cases = set()
    for t in trials.trials:
        vals, idxs = t["misc"]["vals"], t["misc"]["idxs"]
        assert set(vals) == {"case", "x", "y", "c"}
        assert set(idxs) == set(vals)
        case = vals["case"][0]
        cases.add(int(case))
        active, inactive = ("x", "y") if case == 0 else ("y", "x")
        assert len(vals[active]) == 1 and idxs[active] == [t["tid"]]
        assert vals[inactive] == [] and idxs[inactive] == []
    assert cases == {0, 1}


def test_param_shared_across_branches_is_always_active():
    trials = Trials()
    fmin(
        lambda p: float(p["c"]),
        _w_space_c(),
        algo=rand.suggest,
        max_evals=20,
        trials=trials,
        rstate=rng(0),
        show_progressbar=False,
    )
    for t in trials.trials:
        assert len(t["misc"]["vals"]["c"]) == 1
        assert t["result"]["loss"] == float(t["misc"]["vals"]["c"][0])
    assert len(trials.vals["c"]) == 20


def test_shared_param_has_same_value_in_every_place_it_appears():
    u = hp.uniform("u", 0, 1)
    space = {"first": u, "second": [u, {"third": u}]}
    g = rng(3)
    for _ in range(20):
        v = sample(space, rng=g)
        assert v["first"] == v["second"][0] == v["second"][1]["third"]


def test_pchoice_conditional_branches_in_trials():
    space = hp.pchoice(
        "case",
        [
            (0.8, {"use_var": "x", "x": hp.normal("x", 0, 1)}),
            (0.2, {"use_var": "y", "y": hp.uniform("y", 1, 3)}),
        ],
    )
    trials = Trials()
    fmin(
        lambda p: 0.0,
        space,
        algo=rand.suggest,
        max_evals=100,
        trials=trials,
        rstate=rng(0),
        show_progressbar=False,
    )
    cases = [int(v) for v in trials.vals["case"]]
    assert 0.65 <= cases.count(0) / 100 <= 0.95
    assert len(trials.vals["x"]) == cases.count(0)
    assert len(trials.vals["y"]) == cases.count(1)


def test_nested_choice_inside_choice():
    space = hp.choice(
        "outer",
        [
            {
                "kind": "a",
                "inner": hp.choice("inner", [{"k": "i0"}, {"k": "i1", "v": hp.uniform("v", 0, 1)}]),
            },
            {"kind": "b"},
        ],
    )
    trials = Trials()
    fmin(
        lambda p: 0.0,
        space,
        algo=rand.suggest,
        max_evals=40,
        trials=trials,
        rstate=rng(2),
        show_progressbar=False,
    )
    for t in trials.trials:
        vals = t["misc"]["vals"]
        if vals["outer"] == [1]:
            assert vals["inner"] == [] and vals["v"] == []
        elif vals["inner"] == [0]:
            assert vals["v"] == []
        else:
            assert len(vals["v"]) == 1


# --------------------------------------------------------------------------- scope functions


def test_scope_int_casts_to_python_int():
    v = sample(scope.int(hp.quniform("n", 10, 100, 10)), rng=rng())
    assert isinstance(v, int) and v % 10 == 0


def test_scope_float_casts_to_float():
    v = sample(scope.float(hp.randint("r", 10)), rng=rng())
    assert isinstance(v, float)


def test_scope_minimum_and_maximum():
    g = rng(0)
    for _ in range(50):
        lo = sample(scope.minimum(hp.uniform("u", 0, 10), 5), rng=g)
        hi = sample(scope.maximum(hp.uniform("u", 0, 10), 5), rng=g)
        assert lo <= 5 and hi >= 5
    assert sample(scope.minimum(hp.loguniform("b", 0, 1), 10), rng=g) <= math.e


def test_scope_call_with_args_from_paper():
    def foo(x):
        return str(x) * 3

    g = rng(0)
    values = {sample(scope.call(foo, args=(hp.randint("c", 5),)), rng=g) for _ in range(60)}
    assert values == {"000", "111", "222", "333", "444"}


def test_scope_call_with_kwargs():
    v = sample(scope.call(dict, kwargs={"a": hp.randint("c", 5), "b": "lit"}), rng=rng())
    assert set(v) == {"a", "b"} and v["b"] == "lit" and 0 <= v["a"] < 5


def test_scope_switch_with_literal_index():
    assert sample(scope.switch(1, "a", "b", "c")) == "b"
    assert rec_eval(scope.switch(0, "a", "b")) == "a"


def test_scope_switch_evaluates_only_selected_branch():
    calls = []

    def record(x):
        calls.append(x)
        return x

    expr = scope.switch(0, "picked", scope.call(record, args=("not evaluated",)))
    assert rec_eval(expr) == "picked"
    assert calls == []


def test_scope_switch_with_random_index():
    g = rng(0)
    values = {sample(scope.switch(hp.randint("i", 3), "a", "b", "c"), rng=g) for _ in range(60)}
    assert values == {"a", "b", "c"}


def test_scope_define_returns_the_function_itself():
    def compat_triple_str(x):
        return str(x) * 3

    defined = scope.define(compat_triple_str)
    assert defined is compat_triple_str
    assert compat_triple_str(0) == "000"  # still callable as usual (paper: prints "000")
    node = scope.compat_triple_str(hp.randint("cbase", 5))
    assert isinstance(node, Apply)
    g = rng(0)
    values = {sample({"c": node}, rng=g)["c"] for _ in range(60)}
    assert values == {"000", "111", "222", "333", "444"}


def test_scope_define_as_decorator():
    @scope.define
    def compat_add_one(x):
        return x + 1

    assert compat_add_one(1) == 2
    assert rec_eval(scope.compat_add_one(41)) == 42


def test_scope_define_pure():
    @scope.define_pure
    def compat_pure_double(x):
        return 2 * x

    assert compat_pure_double(2) == 4
    assert rec_eval(scope.compat_pure_double(scope.compat_pure_double(3))) == 12


def test_scope_define_rejects_a_different_function_with_a_taken_name():
    def compat_taken_name(x):
        return x

    scope.define(compat_taken_name)

    def other(x):
        return -x

    other.__name__ = "compat_taken_name"
    with pytest.raises(ValueError):
        scope.define(other)


def test_scope_defined_function_with_keyword_arguments():
    @scope.define
    def compat_kw_fn(a, b=2, c=3):
        return (a, b, c)

    assert rec_eval(scope.compat_kw_fn(1, c=30)) == (1, 2, 30)
    assert sample(scope.compat_kw_fn(1, c=hp.choice("cc", [30])), rng=rng()) == (1, 2, 30)


# --------------------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(
    "build, expected",
    [
        (lambda u: 1 + u, lambda x: 1 + x),
        (lambda u: u + 1, lambda x: x + 1),
        (lambda u: u - 1, lambda x: x - 1),
        (lambda u: 1 - u, lambda x: 1 - x),
        (lambda u: 2 * u, lambda x: 2 * x),
        (lambda u: u * 2, lambda x: x * 2),
        (lambda u: u / 2, lambda x: x / 2),
        (lambda u: 2 / u, lambda x: 2 / x),
        (lambda u: u**2, lambda x: x**2),
        (lambda u: 2**u, lambda x: 2**x),
        (lambda u: -u, lambda x: -x),
        (lambda u: u // 1, lambda x: x // 1),
        (lambda u: u + u, lambda x: x + x),
    ],
)
def test_node_arithmetic_builds_expressions(build, expected):
    u = hp.uniform("u", 1, 2)
    expr = build(u)
    assert isinstance(expr, Apply)
    value = sample({"u": u, "e": expr}, rng=rng(5))
    assert value["e"] == pytest.approx(expected(value["u"]))


def test_one_plus_lognormal_from_readme_is_above_one():
    g = rng(0)
    for _ in range(50):
        assert sample(1 + hp.lognormal("c1", 0, 1), rng=g) > 1


def test_expression_space_from_paper():
    def foo(x):
        return str(x) * 3

    expr_space = {
        "a": 1 + hp.uniform("a", 0, 1),
        "b": scope.minimum(hp.loguniform("b", 0, 1), 10),
        "c": scope.call(foo, args=(hp.randint("c", 5),)),
    }
    g = rng(0)
    for _ in range(30):
        v = sample(expr_space, rng=g)
        assert 1 <= v["a"] <= 2
        assert 1 <= v["b"] <= math.e
        assert v["c"] in {"000", "111", "222", "333", "444"}


# --------------------------------------------------------------------------- as_apply, rec_eval


def test_as_apply_wraps_python_objects():
    assert isinstance(as_apply(3), Literal)
    assert as_apply(3).obj == 3
    node = as_apply({"k": 1, "l": [1, 2]})
    assert isinstance(node, Apply)
    assert rec_eval(node) == {"k": 1, "l": (1, 2)}
    existing = hp.uniform("x", 0, 1)
    assert as_apply(existing) is existing


def test_literal_node_evaluates_to_its_object():
    assert rec_eval(Literal([1, 2])) == [1, 2]
    assert Literal("s").obj == "s"


def test_rec_eval_without_memo_evaluates_deterministic_expression():
    assert rec_eval(as_apply(1) + 2) == 3
    assert rec_eval(scope.int(as_apply(2.7))) == 2


def test_rec_eval_with_memo_substitutes_node_values():
    x = hp.uniform("x", 0, 1)
    space = as_apply({"y": x + 1, "z": [x, "lit"]})
    assert rec_eval(space, memo={x: 0.5}) == {"y": 1.5, "z": (0.5, "lit")}
    assert rec_eval(space, memo={x: 0.25}) == {"y": 1.25, "z": (0.25, "lit")}


def test_rec_eval_does_not_mutate_callers_memo():
    x = hp.uniform("x", 0, 1)
    memo = {x: 0.5}
    rec_eval(as_apply([x, x + 1]), memo=memo)
    assert list(memo) == [x]


# --------------------------------------------------------------------------- space_eval


def test_space_eval_with_choice_index():
    space = hp.choice(
        "a", [("case 1", 1 + hp.lognormal("c1", 0, 1)), ("case 2", hp.uniform("c2", -10, 10))]
    )
    assert space_eval(space, {"a": 1, "c2": 0.01}) == ("case 2", 0.01)
    assert space_eval(space, {"a": 0, "c1": 0.5}) == ("case 1", 1.5)


def test_space_eval_ignores_inactive_labels():
    space = hp.choice(
        "c", [{"t": "a", "v": hp.uniform("va", 0, 1)}, {"t": "b", "w": hp.randint("wb", 4)}]
    )
    assert space_eval(space, {"c": 1, "wb": 2, "va": 0.3}) == {"t": "b", "w": 2}


def test_space_eval_pchoice_index():
    assert space_eval(hp.pchoice("p", [(0.3, "x"), (0.7, "y")]), {"p": 1}) == "y"


def test_space_eval_on_nested_list_returns_tuples():
    space = [hp.uniform("a", 0, 1), "lit", (hp.randint("b", 3),)]
    assert space_eval(space, {"a": 0.5, "b": 2}) == (0.5, "lit", (2,))


def test_space_eval_on_single_parameter():
    assert space_eval(hp.uniform("a", 0, 1), {"a": 0.5}) == 0.5


def test_space_eval_with_numpy_scalars_from_argmin():
    space = {"n": scope.int(hp.quniform("n", 1, 10, 1)), "k": hp.choice("k", ["p", "q"])}
    v = space_eval(space, {"n": np.float64(3.0), "k": np.int64(1)})
    assert v == {"n": 3, "k": "q"}
    assert isinstance(v["n"], int)


def test_space_eval_of_fmin_result_reconstructs_best_point():
    space = {
        "kind": hp.choice("kind", [{"name": "lin"}, {"name": "sq", "s": hp.uniform("s", -1, 1)}]),
        "n": scope.int(hp.quniform("n", 1, 10, 1)),
    }
    trials = Trials()
    best = fmin(
        lambda p: p["n"] + (p["kind"]["s"] ** 2 if p["kind"]["name"] == "sq" else 5.0),
        space,
        algo=tpe.suggest,
        max_evals=30,
        trials=trials,
        rstate=rng(0),
        show_progressbar=False,
    )
    point = space_eval(space, best)
    assert point["kind"]["name"] in ("lin", "sq")
    best_loss = trials.best_trial["result"]["loss"]
    recomputed = point["n"] + (point["kind"]["s"] ** 2 if point["kind"]["name"] == "sq" else 5.0)
    assert recomputed == pytest.approx(best_loss)


def test_pyll_module_exposes_scope_and_helpers():
    assert pyll.scope is scope
    assert pyll.as_apply is as_apply
    assert pyll.rec_eval is rec_eval
    assert callable(pyll.stochastic.sample)


@pytest.mark.hqueue_only
def test_scope_define_with_name_registers_under_that_name():
    # The paper writes scope.define(DTree, name='DTree'); hyperopt 0.3.0 has no name= argument
    # (TypeError), hqueue accepts it and registers the callable under the given name.
    class CompatThing:
        def __init__(self, a, b=1):
            self.a, self.b = a, b

    returned = scope.define(CompatThing, name="CompatRenamedThing")
    assert returned is CompatThing
    obj = sample(scope.CompatRenamedThing(hp.randint("a", 3), b=hp.choice("b", [5])), rng=rng())
    assert isinstance(obj, CompatThing)
    assert 0 <= obj.a < 3 and obj.b == 5
