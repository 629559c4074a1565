"""Property-based tests: random nested spaces, every sampler, every draw inside its support,
conditional labels present exactly when their branch is active."""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hqueue import Trials, anneal, fmin, hp, rand, space_eval, tpe
from hqueue.algos.tpe import suggest as tpe_suggest
from hqueue.space import Categorical, compile_space

_counter = itertools.count()


def _label() -> str:
    return f"p{next(_counter)}"


bounds = st.tuples(st.floats(-50, 50), st.floats(0.01, 50)).map(lambda t: (t[0], t[0] + t[1]))
qs = st.sampled_from([0.5, 1.0, 2.0, 5.0])


@st.composite
def leaf(draw):
    kind = draw(st.sampled_from(["uniform", "quniform", "loguniform", "qloguniform", "normal",
                                 "qnormal", "lognormal", "qlognormal", "randint", "randint2",
                                 "uniformint"]))
    low, high = draw(bounds)
    label = _label()
    if kind == "uniform":
        return hp.uniform(label, low, high)
    if kind == "quniform":
        return hp.quniform(label, low, high, draw(qs))
    if kind == "loguniform":
        return hp.loguniform(label, low / 20, high / 20)
    if kind == "qloguniform":
        return hp.qloguniform(label, 0, 0.1 + abs(high) / 20, draw(qs))
    if kind == "normal":
        return hp.normal(label, low, high - low)
    if kind == "qnormal":
        return hp.qnormal(label, low, high - low, draw(qs))
    if kind == "lognormal":
        return hp.lognormal(label, low / 50, 1.0)
    if kind == "qlognormal":
        return hp.qlognormal(label, 1.0, 0.5, draw(qs))
    if kind == "randint":
        return hp.randint(label, draw(st.integers(1, 10)))
    if kind == "randint2":
        lo = draw(st.integers(-5, 5))
        return hp.randint(label, lo, lo + draw(st.integers(1, 6)))
    return hp.uniformint(label, math.floor(low), math.floor(low) + draw(st.integers(1, 20)))


def spaces():
    return st.recursive(
        leaf() | st.sampled_from(["lit", 3, None]),
        lambda inner: st.one_of(
            st.dictionaries(st.sampled_from("abcd"), inner, min_size=1, max_size=3),
            st.lists(inner, min_size=1, max_size=3),
            st.lists(inner, min_size=1, max_size=3).map(lambda opts: hp.choice(_label(), opts)),
            st.lists(inner, min_size=2, max_size=2).map(
                lambda opts: hp.pchoice(_label(), [(0.3, opts[0]), (0.7, opts[1])])),
        ),
        max_leaves=8,
    )


def assert_in_support(space, row):
    for label, value in row.items():
        dist = space.by_label[label].dist
        if isinstance(dist, Categorical):
            assert dist.offset <= value < dist.offset + dist.size
            continue
        if dist.q is not None:
            assert abs(value / dist.q - round(value / dist.q)) < 1e-6
        if dist.bounded and dist.q is None:
            lo = math.exp(dist.low) if dist.log else dist.low
            hi = math.exp(dist.high) if dist.log else dist.high
            assert lo - 1e-9 * abs(lo) <= value <= hi + 1e-9 * abs(hi)
        if dist.log:
            assert value >= 0


def assert_activity(space, row):
    for p in space.params:
        assert (p.label in row) == space.is_active(p, row)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spaces(), st.integers(0, 2**31 - 1))
def test_prior_samples_are_in_support_and_build_like_the_graph(expr, seed):
    space = compile_space(expr)
    for row in space.sample(np.random.default_rng(seed), 5):
        assert_in_support(space, row)
        assert_activity(space, row)
        assert space.build(row) == space_eval(expr, row)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spaces(), st.integers(0, 2**31 - 1),
       st.sampled_from([tpe.suggest, anneal.suggest, rand.suggest,
                        lambda *a, **k: tpe_suggest(*a, multivariate=True, **k)]))
def test_every_algorithm_suggests_inside_the_support(expr, seed, algo):
    trials = Trials()
    space = compile_space(expr)
    rng = np.random.default_rng(seed)

    def loss(cfg):
        return float(rng.normal())

    fmin(loss, expr, algo=lambda ids, d, t, s: algo(ids, d, t, s), max_evals=25,
         trials=trials, rstate=np.random.default_rng(seed), show_progressbar=False)
    for t in trials.trials:
        row = {k: v[0] for k, v in t["misc"]["vals"].items() if v}
        assert_in_support(space, row)
        assert_activity(space, row)
