"""Checks of the problem suite (need hyperopt and optuna, hence they live in benchmarks/).

Run: ``.venv-bench/bin/python -m pytest benchmarks/test_problems.py``
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from benchmarks.peers import PeerUnavailable, load_library
from benchmarks.problems import KINDS, SUITE, Problem
from benchmarks.trial_stub import RandomTrial

hyperopt = pytest.importorskip("hyperopt")
optuna = pytest.importorskip("optuna")
optuna.logging.set_verbosity(optuna.logging.WARNING)

IDS = [p.name for p in SUITE]


def _random_optuna_configs(problem: Problem, n: int, seed: int = 0) -> list[RandomTrial]:
    rng = np.random.default_rng(seed)
    trials = []
    for _ in range(n):
        t = RandomTrial(rng)
        t.config = problem.optuna_config(t)  # type: ignore[attr-defined]
        trials.append(t)
    return trials


def _hyperopt_like_samples(mod, problem: Problem, n: int, seed: int = 0) -> list[tuple]:
    """(config given to the objective, label -> value) for n random-search trials."""
    configs: list = []

    def objective(config):
        configs.append(config)
        return 0.0

    trials = mod.Trials()
    mod.fmin(
        objective,
        problem.space(mod.hp),
        algo=mod.rand.suggest,
        max_evals=n,
        trials=trials,
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )
    values = [{k: v[0] for k, v in t["misc"]["vals"].items() if len(v)} for t in trials.trials]
    return list(zip(configs, values))


def test_suite_shape() -> None:
    assert len(SUITE) >= 9
    assert len({p.name for p in SUITE}) == len(SUITE)
    assert {p.kind for p in SUITE} == set(KINDS)
    assert sum(p.noise_sd > 0 for p in SUITE) >= 1


@pytest.mark.parametrize("problem", SUITE, ids=IDS)
def test_optimum_attained_at_argmin(problem: Problem) -> None:
    assert problem.objective(problem.argmin) == pytest.approx(problem.optimum, abs=1e-12)


@pytest.mark.parametrize("problem", SUITE, ids=IDS)
def test_random_search_never_below_optimum(problem: Problem) -> None:
    losses = [problem.objective(t.config) for t in _random_optuna_configs(problem, 400)]
    losses += [problem.objective(c) for c, _ in _hyperopt_like_samples(hyperopt, problem, 100)]
    assert min(losses) >= problem.optimum - 1e-12
    assert max(losses) > problem.optimum  # the problem is not flat


@pytest.mark.parametrize("problem", SUITE, ids=IDS)
def test_argmin_is_a_local_minimum(problem: Problem) -> None:
    """Continuous problems: a local optimiser started at argmin finds nothing lower."""
    from scipy.optimize import minimize

    labels = sorted(k for k, v in problem.argmin.items() if isinstance(v, float))
    if set(labels) != set(problem.argmin) or problem.name == "mixed_train":
        pytest.skip("not a purely continuous box problem")
    x0 = np.array([problem.argmin[k] for k in labels])
    res = minimize(
        lambda x: problem.objective(dict(zip(labels, x))),
        x0,
        method="Nelder-Mead",
        options={"initial_simplex": x0 + 1e-3 * np.vstack([np.zeros_like(x0), np.eye(len(x0))])},
    )
    assert res.fun >= problem.optimum - 1e-9


def _expected_optuna_distribution(node) -> tuple:
    """hyperopt parameter node -> (kind, low, high, log) on Optuna's scale."""
    args = [a.obj for a in node.pos_args]
    if node.name == "randint":  # hp.choice: an index over the options
        return ("categorical", tuple(range(args[0])))
    if node.name in ("uniform", "quniform"):
        return ("float", args[0], args[1], False)
    if node.name in ("loguniform", "qloguniform"):
        return ("float", math.exp(args[0]), math.exp(args[1]), True)
    raise AssertionError(f"distribution {node.name} not mapped in the test")


def _optuna_distribution(dist) -> tuple:
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return ("categorical", tuple(dist.choices))
    return ("float", dist.low, dist.high, dist.log)


@pytest.mark.parametrize("problem", SUITE, ids=IDS)
def test_labels_and_ranges_agree(problem: Problem) -> None:
    domain = hyperopt.Domain(lambda c: 0.0, problem.space(hyperopt.hp))
    expected = {k: _expected_optuna_distribution(v) for k, v in domain.params.items()}
    seen: dict[str, tuple] = {}
    for t in _random_optuna_configs(problem, 300):
        for name, dist in t.distributions.items():
            seen.setdefault(name, _optuna_distribution(dist))
    assert sorted(seen) == sorted(expected)
    for name, got in seen.items():
        want = expected[name]
        assert got[0] == want[0], name
        if got[0] == "float":
            assert got[1:3] == pytest.approx(want[1:3], rel=1e-9), name
            assert got[3] == want[3], name
        else:
            assert got == want, name


def _optuna_config_from_values(problem: Problem, values: dict):
    trial = optuna.trial.FixedTrial(values)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a value outside an Optuna distribution is a failure
        return problem.optuna_config(trial)


@pytest.mark.parametrize("library", ["hyperopt", "hqueue"])
@pytest.mark.parametrize("problem", SUITE, ids=IDS)
def test_same_values_give_same_config(problem: Problem, library: str) -> None:
    """Label values drawn by random search, replayed through Optuna, build the same config."""
    try:
        mod = load_library(library)
    except PeerUnavailable as exc:
        pytest.skip(str(exc))
    for config, values in _hyperopt_like_samples(mod, problem, 40, seed=1):
        assert _optuna_config_from_values(problem, values) == config
        assert problem.objective(config) >= problem.optimum - 1e-12


def test_noisy_observation_keeps_the_clean_value() -> None:
    problem = next(p for p in SUITE if p.noise_sd > 0)
    rng = np.random.default_rng(0)
    pairs = [problem.observe(problem.argmin, rng) for _ in range(2000)]
    noise = np.array([o - c for o, c in pairs])
    assert all(c == pytest.approx(problem.optimum) for _, c in pairs)
    assert noise.std() == pytest.approx(problem.noise_sd, rel=0.1)
