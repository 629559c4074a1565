"""hp.* distributions sampled with hqueue.pyll.stochastic.sample, as hyperopt 0.3.0 does.

Each test draws N values with one fixed-seed Generator and checks support, return type,
quantization and (loosely) the distribution's shape. Tolerances are several standard errors
wide so any correct sampler passes, not just hyperopt's exact random stream.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from hqueue import hp
from hqueue.pyll.stochastic import sample

N = 2000


def draws(space, n: int = N, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [sample(space, rng=rng) for _ in range(n)]


def is_real_scalar(v) -> bool:
    """hyperopt returns Python floats (np.float64 is tolerated: it subclasses float)."""
    return isinstance(v, (float, np.floating)) and np.ndim(v) == 0


def is_int_scalar(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def on_grid(values, q: float) -> bool:
    arr = np.asarray(values, dtype=float)
    return bool(np.allclose(arr / q, np.round(arr / q), atol=1e-9))


# --------------------------------------------------------------------------- uniform family


def test_uniform_returns_float_within_bounds():
    xs = draws(hp.uniform("x", -2, 3))
    assert all(is_real_scalar(x) for x in xs)
    assert min(xs) >= -2 and max(xs) <= 3
    assert np.mean(xs) == pytest.approx(0.5, abs=0.15)
    # roughly flat: each fifth of the interval holds about a fifth of the draws
    counts, _ = np.histogram(xs, bins=5, range=(-2, 3))
    assert all(abs(c / N - 0.2) < 0.04 for c in counts)


def test_uniform_accepts_keyword_bounds():
    xs = draws(hp.uniform("x", low=10, high=11), n=200)
    assert min(xs) >= 10 and max(xs) <= 11


def test_quniform_returns_float_multiple_of_q():
    xs = draws(hp.quniform("x", 0, 10, 2.5))
    assert all(is_real_scalar(x) and not isinstance(x, (int, np.integer)) for x in xs)
    assert set(xs) <= {0.0, 2.5, 5.0, 7.5, 10.0}
    assert on_grid(xs, 2.5)
    # round(uniform(0, 10) / 2.5) * 2.5: the two end points get half the mass of inner points
    freq = Counter(xs)
    assert freq[5.0] / N == pytest.approx(0.25, abs=0.04)
    assert freq[0.0] / N == pytest.approx(0.125, abs=0.03)
    assert freq[10.0] / N == pytest.approx(0.125, abs=0.03)


def test_quniform_integer_q_still_returns_float():
    xs = draws(hp.quniform("x", 10, 100, 10), n=300)
    assert all(isinstance(x, float) for x in xs)
    assert all(float(x).is_integer() for x in xs)
    assert set(xs) <= {float(v) for v in range(10, 101, 10)}


def test_loguniform_is_exp_of_uniform():
    low, high = math.log(1.0), math.log(100.0)
    xs = draws(hp.loguniform("x", low, high))
    assert all(is_real_scalar(x) for x in xs)
    assert min(xs) >= 1.0 and max(xs) <= 100.0
    logs = np.log(xs)
    assert np.mean(logs) == pytest.approx(math.log(10.0), abs=0.1)
    assert np.median(xs) == pytest.approx(10.0, rel=0.15)


def test_qloguniform_returns_float_multiple_of_q():
    xs = draws(hp.qloguniform("x", 0, math.log(100.0), 5))
    assert all(is_real_scalar(x) for x in xs)
    assert on_grid(xs, 5)
    assert min(xs) >= 0 and max(xs) <= 100
    # exp(U(0, log 100)) < 2.5 happens with probability log(2.5)/log(100) ~ 0.2 -> rounds to 0
    zero_rate = sum(1 for x in xs if x == 0) / N
    assert zero_rate == pytest.approx(math.log(2.5) / math.log(100), abs=0.04)


# --------------------------------------------------------------------------- normal family


def test_normal_mean_and_std():
    xs = draws(hp.normal("x", 3, 2))
    assert all(is_real_scalar(x) for x in xs)
    assert np.mean(xs) == pytest.approx(3, abs=0.15)
    assert np.std(xs) == pytest.approx(2, abs=0.15)
    assert min(xs) < 0 < max(xs) - 6  # unbounded: both tails reached


def test_qnormal_returns_float_multiple_of_q():
    xs = draws(hp.qnormal("x", 0, 10, 3))
    assert all(is_real_scalar(x) for x in xs)
    assert on_grid(xs, 3)
    assert min(xs) < 0 < max(xs)
    assert np.mean(xs) == pytest.approx(0, abs=0.8)
    assert np.std(xs) == pytest.approx(10, abs=0.8)


def test_lognormal_is_exp_of_normal():
    xs = draws(hp.lognormal("x", 0, 0.5))
    assert all(is_real_scalar(x) for x in xs)
    assert min(xs) > 0
    logs = np.log(xs)
    assert np.mean(logs) == pytest.approx(0, abs=0.05)
    assert np.std(logs) == pytest.approx(0.5, abs=0.05)


def test_qlognormal_returns_nonnegative_float_multiple_of_q():
    xs = draws(hp.qlognormal("x", 0, 1, 1))
    assert all(is_real_scalar(x) for x in xs)
    assert on_grid(xs, 1)
    assert min(xs) >= 0
    # exp(N(0,1)) < 0.5 (prob ~0.244) rounds to 0: zero is in the support
    zero_rate = sum(1 for x in xs if x == 0) / N
    assert zero_rate == pytest.approx(0.244, abs=0.04)


def test_qlognormal_with_q_two_is_even():
    xs = draws(hp.qlognormal("x", 2, 0.5, 2), n=500)
    assert all(float(x) % 2 == 0 for x in xs)


# --------------------------------------------------------------------------- integers


def test_randint_upper_returns_int_in_zero_to_upper_exclusive():
    xs = draws(hp.randint("x", 5))
    assert all(is_int_scalar(x) for x in xs)
    assert set(xs) == {0, 1, 2, 3, 4}
    freq = Counter(int(x) for x in xs)
    assert all(abs(freq[k] / N - 0.2) < 0.04 for k in range(5))


def test_randint_low_high_returns_int_in_low_to_high_exclusive():
    xs = draws(hp.randint("x", 3, 7))
    assert all(is_int_scalar(x) for x in xs)
    assert set(xs) == {3, 4, 5, 6}
    freq = Counter(int(x) for x in xs)
    assert all(abs(freq[k] / N - 0.25) < 0.04 for k in range(3, 7))


def test_uniformint_returns_int_including_both_bounds():
    xs = draws(hp.uniformint("x", 1, 5))
    assert all(is_int_scalar(x) for x in xs)
    # uniformint is int(quniform(low, high, q=1)): both bounds reachable, with half mass
    assert set(xs) == {1, 2, 3, 4, 5}
    freq = Counter(int(x) for x in xs)
    assert freq[3] / N == pytest.approx(0.25, abs=0.04)
    assert freq[1] / N == pytest.approx(0.125, abs=0.03)
    assert freq[5] / N == pytest.approx(0.125, abs=0.03)


# --------------------------------------------------------------------------- categorical


def test_choice_returns_the_option_objects_uniformly():
    marker = object()
    xs = draws(hp.choice("x", ["a", 7, marker]))
    assert {type(x) for x in xs} == {str, int, object}
    assert any(x is marker for x in xs)  # literals are passed through, not copied
    freq = Counter("m" if x is marker else x for x in xs)
    assert set(freq) == {"a", 7, "m"}
    assert all(abs(c / N - 1 / 3) < 0.04 for c in freq.values())


def test_choice_accepts_tuple_of_options():
    xs = draws(hp.choice("x", ("lo", "hi")), n=200)
    assert set(xs) == {"lo", "hi"}


def test_choice_option_can_be_a_nested_expression():
    xs = draws(hp.choice("x", [hp.uniform("u", 10, 11), "fixed"]), n=400)
    nums = [x for x in xs if x != "fixed"]
    assert nums and len(nums) < len(xs)
    assert all(is_real_scalar(x) and 10 <= x <= 11 for x in nums)


def test_pchoice_frequencies_follow_probabilities():
    xs = draws(hp.pchoice("x", [(0.1, "rare"), (0.6, "common"), (0.3, "mid")]))
    freq = Counter(xs)
    assert freq["rare"] / N == pytest.approx(0.1, abs=0.03)
    assert freq["common"] / N == pytest.approx(0.6, abs=0.04)
    assert freq["mid"] / N == pytest.approx(0.3, abs=0.04)


def test_pchoice_zero_probability_option_never_drawn():
    xs = draws(hp.pchoice("x", [(0.0, "never"), (1.0, "always")]), n=300)
    assert set(xs) == {"always"}


# --------------------------------------------------------------------------- labels, seeds


def test_label_must_be_a_string():
    with pytest.raises(TypeError):
        hp.uniform(3, 0, 1)


def test_uniform_low_not_below_high_raises_value_error():
    with pytest.raises(ValueError):
        hp.uniform("x", 2, 1)


def test_sample_with_same_seed_is_reproducible():
    space = {"a": hp.uniform("a", 0, 1), "b": hp.randint("b", 100), "c": hp.normal("c", 0, 1)}
    a = draws(space, n=20, seed=42)
    b = draws(space, n=20, seed=42)
    c = draws(space, n=20, seed=43)
    assert a == b
    assert a != c


def test_sample_without_rng_works():
    x = sample(hp.uniform("x", 0, 1))
    assert 0 <= x <= 1


def test_distribution_node_is_a_pyll_apply():
    from hqueue.pyll import Apply

    for node in [
        hp.uniform("a", 0, 1),
        hp.quniform("b", 0, 1, 0.5),
        hp.loguniform("c", 0, 1),
        hp.qloguniform("d", 0, 1, 1),
        hp.normal("e", 0, 1),
        hp.qnormal("f", 0, 1, 1),
        hp.lognormal("g", 0, 1),
        hp.qlognormal("h", 0, 1, 1),
        hp.randint("i", 3),
        hp.randint("j", 1, 3),
        hp.uniformint("k", 0, 3),
        hp.choice("l", [1, 2]),
        hp.pchoice("m", [(0.5, 1), (0.5, 2)]),
    ]:
        assert isinstance(node, Apply)
