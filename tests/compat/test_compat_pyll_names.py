"""hyperopt.pyll.base / pyll.stochastic names beyond the core language, as in hyperopt 0.3.0:
``Lambda`` and ``p0``, ``partial``/``callpipe1``, ``kwswitch``/``Raise``, the numbered node
printing, ``Apply.arg`` with ``MissingArgument``, and the extra scope builtins."""

from __future__ import annotations

import numpy as np
import pytest

from hqueue.pyll import as_apply, rec_eval, scope
from hqueue.pyll.base import (
    Lambda,
    Literal,
    MissingArgument,
    UndefinedValue,
    apply,
    asarray,
    bincount,
    clone_merge,
    dfs,
    identity,
    p0,
    repeat,
    str_join,
)
from hqueue.pyll.stochastic import recursive_set_rng_kwarg, sample


def test_literal_prints_as_numbered_line():
    assert str(Literal(5)) == "0 Literal{5}"


def test_graph_prints_one_numbered_line_per_node():
    text = str(as_apply(1) + 2)
    assert text.splitlines() == ["0 add", "1   Literal{1}", "2   Literal{2}"]


def test_shared_node_is_printed_once_then_referenced():
    x = scope.uniform(0, 1)
    lines = str(as_apply([x, x])).splitlines()
    assert sum("uniform" in ln for ln in lines) == 2 and "[line:1]" in lines[-1]


def test_lambda_clones_its_body_with_the_argument():
    double = Lambda("double_it", [("x", p0)], expr=p0 * 2)
    assert rec_eval(double(21)) == 42
    assert p0.obj is UndefinedValue


def test_recursive_lambda_in_scope_evaluates_lazily():
    scope.define(Lambda("compat_fact", [("x", p0)],
                        expr=scope.switch(p0 > 1, 1, p0 * apply("compat_fact", p0 - 1))))
    assert rec_eval(scope.compat_fact(5)) == 120


def test_partial_fills_the_last_argument_when_called():
    add2 = scope.partial("add", 2)
    assert rec_eval(add2(3)) == 5
    with pytest.raises(NotImplementedError):
        rec_eval(add2())


def test_callpipe1_chains_functions_returning_graphs():
    pipe = scope.callpipe1([scope.partial("add", 2), lambda a: scope.sub(a, 9)], 5)
    assert rec_eval(pipe) == -2


def test_kwswitch_evaluates_only_the_named_branch():
    key = Literal()
    node = scope.kwswitch(key, a="A", b="B", bad=scope.Raise(KeyError, "never"))
    assert rec_eval(node, memo={key: "b"}) == "B"
    with pytest.raises(KeyError):
        rec_eval(node, memo={key: "bad"})


def test_switch_index_out_of_range_is_an_error():
    with pytest.raises((IndexError, ValueError)):
        rec_eval(scope.switch(3, "a", "b"))


def test_arg_binds_parameter_names_and_marks_defaults_missing():
    node = scope.randint(5)
    assert node.arg["low"].obj == 5
    assert node.arg["high"] is MissingArgument or node.arg["high"] == MissingArgument


def test_builtins_min_max_and_map_and_tan():
    assert rec_eval(scope.min(3, 1, 2)) == 1
    assert rec_eval(scope.max([3, 1, 2])) == 3
    assert rec_eval(scope.tan(0.0)) == 0.0
    assert list(rec_eval(scope.map(abs, as_apply((-1, 2))))) == [1, 2]


def test_module_level_helpers():
    assert bincount(np.array([3, 4, 4]), offset=3, minlength=3).tolist() == [1, 2, 0]
    assert bincount(np.arange(3) + 3, minlength=7).tolist() == [0, 0, 0, 1, 1, 1, 0]
    assert asarray([1, 2], dtype=float).dtype == np.float64
    assert repeat(2, "x") == ["x", "x"]
    assert str_join("-", ["a", "b"]) == "a-b"
    assert identity(7) == 7


def test_curtime_returns_time_and_object():
    stamp, obj = rec_eval(scope.curtime("x"))
    assert obj == "x" and stamp > 0


def test_call_method_pure():
    assert rec_eval(scope.call_method_pure(("a", "b"), "index", "b")) == 1


def test_clone_merge_merges_equal_literals_only_when_asked():
    a, b, c = as_apply((2, 3, 2))
    d = (a + b) * (c + b)
    assert len(dfs(clone_merge(d, merge_literals=False))) == len(dfs(d))
    assert len(dfs(clone_merge(d, merge_literals=True))) < len(dfs(d))
    assert rec_eval(clone_merge(d, merge_literals=True)) == rec_eval(d)


def test_one_of_and_choice_sample_one_option():
    rng = np.random.default_rng(0)
    draws = {sample(scope.one_of("a", "b"), rng=rng) for _ in range(30)}
    assert draws == {"a", "b"}
    assert sample(scope.choice([7]), rng=rng) == 7


def test_rng_from_seed_is_a_generator_node():
    gen = rec_eval(scope.rng_from_seed(3))
    assert gen.integers(100) == np.random.default_rng(3).integers(100)


def test_recursive_set_rng_kwarg_makes_sampling_repeatable():
    space = as_apply([scope.uniform(0, 1), scope.normal(0, 1)])
    recursive_set_rng_kwarg(space, np.random.default_rng(5))
    first = rec_eval(space)
    recursive_set_rng_kwarg(space, np.random.default_rng(5))
    assert rec_eval(space) == first
