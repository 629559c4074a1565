"""The benchmark problem suite: one search space written twice (hyperopt-style and Optuna).

Each :class:`Problem` carries ``space(hp)`` (takes ``hyperopt.hp`` or ``hqueue.hp`` and returns the
space), ``optuna_config(trial)`` (an Optuna define-by-run function that builds the *same*
configuration object from the same labels, ranges, log scales and rounding), the noise-free
``objective(config)``, the known ``optimum`` and a configuration ``argmin`` that attains it.

Conventions shared by both sides of every problem:

* ``hp.uniform(l, a, b)``        <-> ``suggest_float(l, a, b)``
* ``hp.loguniform(l, log a, log b)`` <-> ``suggest_float(l, a, b, log=True)``
* ``hp.quniform(l, a, b, q)``    <-> ``suggest_float(l, a, b, step=q)`` (only used where ``a`` and
  ``b`` are multiples of ``q``, so both sides take exactly the values ``a, a+q, ..., b``)
* ``hp.qloguniform(l, log a, log b, q)`` <-> ``suggest_float(l, a, b, log=True)`` then
  ``np.round(v / q) * q`` (hyperopt's own rounding rule)
* ``hp.choice(l, options)``      <-> ``suggest_categorical(l, [0, 1, ...])`` then build that option

Example:
    >>> from hyperopt import hp
    >>> from hyperopt.pyll import stochastic
    >>> p = get_problem("branin")
    >>> config = stochastic.sample(p.space(hp), rng=np.random.default_rng(0))
    >>> sorted(config), p.objective(config) >= p.optimum
    (['x0', 'x1'], True)
    >>> abs(p.objective(p.argmin) - p.optimum) < 1e-12
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from benchmarks import functions as fn

KINDS = ("smooth-low", "smooth-high", "deceptive", "mixed", "conditional", "noisy")


@dataclass(frozen=True)
class Problem:
    """One benchmark problem; see the module docstring for the field contracts."""

    name: str
    kind: str
    space: Callable[[ModuleType], Any]
    optuna_config: Callable[[Any], Any]
    objective: Callable[[Any], float]
    optimum: float
    argmin: Any
    noise_sd: float = 0.0
    log_regret: bool = False
    description: str = ""

    def observe(self, config: Any, rng: np.random.Generator) -> tuple[float, float]:
        """Return ``(observed loss, noise-free loss)``; they differ only for noisy problems."""
        clean = float(self.objective(config))
        if self.noise_sd == 0.0:
            return clean, clean
        return clean + self.noise_sd * float(rng.standard_normal()), clean


def _round_to(value: float, q: float) -> float:
    """hyperopt's quantisation rule: ``round(value / q) * q`` (round-half-even)."""
    return float(np.round(value / q) * q)


def _vector(config: dict[str, Any], n: int) -> list[float]:
    return [float(config[f"x{i}"]) for i in range(n)]


def _box_space(n: int, low: float, high: float) -> Callable[[ModuleType], Any]:
    def space(hp: ModuleType) -> dict[str, Any]:
        return {f"x{i}": hp.uniform(f"x{i}", low, high) for i in range(n)}

    return space


def _box_optuna(n: int, low: float, high: float) -> Callable[[Any], Any]:
    def config(trial: Any) -> dict[str, float]:
        return {f"x{i}": trial.suggest_float(f"x{i}", low, high) for i in range(n)}

    return config


def _vector_config(values: Any) -> dict[str, float]:
    return {f"x{i}": float(v) for i, v in enumerate(values)}


# ---------------------------------------------------------------- smooth, low and high dimension
BRANIN = Problem(
    name="branin",
    kind="smooth-low",
    space=lambda hp: {"x0": hp.uniform("x0", -5.0, 10.0), "x1": hp.uniform("x1", 0.0, 15.0)},
    optuna_config=lambda t: {
        "x0": t.suggest_float("x0", -5.0, 10.0),
        "x1": t.suggest_float("x1", 0.0, 15.0),
    },
    objective=lambda c: fn.branin(_vector(c, 2)),
    optimum=fn.BRANIN_MIN,
    argmin={"x0": math.pi, "x1": 2.275},
    description="Branin-Hoo, 2-D, three global minima.",
)

HARTMANN6 = Problem(
    name="hartmann6",
    kind="smooth-low",
    space=_box_space(6, 0.0, 1.0),
    optuna_config=_box_optuna(6, 0.0, 1.0),
    objective=lambda c: fn.hartmann6(_vector(c, 6)),
    optimum=fn.HARTMANN6_MIN,
    argmin=_vector_config(fn.HARTMANN6_ARGMIN),
    description="Hartmann 6-D on the unit cube, multimodal.",
)

ROSENBROCK10 = Problem(
    name="rosenbrock10",
    kind="smooth-high",
    space=_box_space(10, -2.048, 2.048),
    optuna_config=_box_optuna(10, -2.048, 2.048),
    objective=lambda c: fn.rosenbrock(_vector(c, 10)),
    optimum=0.0,
    argmin=_vector_config([1.0] * 10),
    log_regret=True,
    description="Rosenbrock 10-D on [-2.048, 2.048]^10; regret spans decades, reported as log10.",
)

# A fixed, irregular shift so the optimum is neither at the centre nor on a grid.
ACKLEY_SHIFT = tuple(round(4.0 * math.sin(1.7 * i + 0.3), 4) for i in range(20))

ACKLEY20 = Problem(
    name="ackley20",
    kind="smooth-high",
    space=_box_space(20, -10.0, 10.0),
    optuna_config=_box_optuna(20, -10.0, 10.0),
    objective=lambda c: fn.ackley(_vector(c, 20), ACKLEY_SHIFT),
    optimum=0.0,
    argmin=_vector_config(ACKLEY_SHIFT),
    description="Ackley 20-D on [-10, 10]^20, shifted by a fixed vector in [-4, 4]^20.",
)

# ---------------------------------------------------------------- deceptive
DECEPTIVE1D = Problem(
    name="deceptive1d",
    kind="deceptive",
    space=lambda hp: {"x": hp.uniform("x", 0.0, 1.0)},
    optuna_config=lambda t: {"x": t.suggest_float("x", 0.0, 1.0)},
    objective=lambda c: fn.two_basins(float(c["x"]), 0.3, 0.85, 0.004),
    optimum=-2.0,
    argmin={"x": 0.85},
    description="Broad basin (min -1) at 0.3 and a narrow deep one (min -2, ~1% wide) at 0.85.",
)

# ---------------------------------------------------------------- mixed: a training-run surrogate
_OPTIMIZERS = ("adam", "sgd", "rmsprop")
_OPT_BASE_LR = {"adam": 1e-3, "sgd": 3e-2, "rmsprop": 3e-4}
_OPT_PENALTY = {"adam": 0.0, "sgd": 0.25, "rmsprop": 0.1}


def _train_space(hp: ModuleType) -> dict[str, Any]:
    return {
        "lr": hp.loguniform("lr", math.log(1e-5), math.log(1.0)),
        "batch": hp.qloguniform("batch", math.log(16), math.log(1024), 16),
        "units": hp.quniform("units", 16, 256, 16),
        "dropout": hp.uniform("dropout", 0.0, 0.7),
        "optimizer": hp.choice("optimizer", list(_OPTIMIZERS)),
    }


def _train_optuna(t: Any) -> dict[str, Any]:
    return {
        "lr": t.suggest_float("lr", 1e-5, 1.0, log=True),
        "batch": _round_to(t.suggest_float("batch", 16, 1024, log=True), 16),
        "units": t.suggest_float("units", 16, 256, step=16),
        "dropout": t.suggest_float("dropout", 0.0, 0.7),
        "optimizer": _OPTIMIZERS[t.suggest_categorical("optimizer", [0, 1, 2])],
    }


def _train_loss(c: dict[str, Any]) -> float:
    """Best learning rate scales with batch size and depends on the optimizer."""
    opt, batch = c["optimizer"], float(c["batch"])
    best_lr = _OPT_BASE_LR[opt] * batch / 64.0
    return (
        (math.log10(float(c["lr"])) - math.log10(best_lr)) ** 2
        + 0.25 * math.log2(batch / 64.0) ** 2
        + ((float(c["units"]) - 128.0) / 96.0) ** 2
        + 2.0 * (float(c["dropout"]) - 0.2) ** 2
        + _OPT_PENALTY[opt]
    )


MIXED_TRAIN = Problem(
    name="mixed_train",
    kind="mixed",
    space=_train_space,
    optuna_config=_train_optuna,
    objective=_train_loss,
    optimum=0.0,
    argmin={"lr": 1e-3, "batch": 64.0, "units": 128.0, "dropout": 0.2, "optimizer": "adam"},
    description="lr (log), batch (qlog), units (q), dropout, optimizer (choice) with interactions.",
)

# ---------------------------------------------------------------- mixed: 10 parameters
_ACTS = ("relu", "tanh", "gelu")
_ACT_SHIFT = {"relu": 0.0, "tanh": 1.0, "gelu": -1.0}
_ACT_PENALTY = {"relu": 0.0, "tanh": 0.15, "gelu": 0.05}
_WIDTHS = (1, 2, 4, 8)
_WIDTH_PENALTY = {1: 0.3, 2: 0.1, 4: 0.0, 8: 0.2}
_U_TARGET = (1.5, -2.0, 0.5, 3.0)


def mixed10_space(hp: ModuleType) -> dict[str, Any]:
    """4 uniform, 2 loguniform, 1 quniform, 1 qloguniform and 2 choice parameters."""
    space: dict[str, Any] = {f"u{i}": hp.uniform(f"u{i}", -5.0, 5.0) for i in range(4)}
    space["l0"] = hp.loguniform("l0", math.log(1e-4), math.log(1.0))
    space["l1"] = hp.loguniform("l1", math.log(1e-2), math.log(1e2))
    space["q0"] = hp.quniform("q0", 0, 20, 1)
    space["ql0"] = hp.qloguniform("ql0", math.log(1), math.log(1000), 1)
    space["act"] = hp.choice("act", list(_ACTS))
    space["width"] = hp.choice("width", list(_WIDTHS))
    return space


def mixed10_optuna(t: Any) -> dict[str, Any]:
    """Optuna twin of :func:`mixed10_space`."""
    config: dict[str, Any] = {f"u{i}": t.suggest_float(f"u{i}", -5.0, 5.0) for i in range(4)}
    config["l0"] = t.suggest_float("l0", 1e-4, 1.0, log=True)
    config["l1"] = t.suggest_float("l1", 1e-2, 1e2, log=True)
    config["q0"] = t.suggest_float("q0", 0, 20, step=1)
    config["ql0"] = _round_to(t.suggest_float("ql0", 1, 1000, log=True), 1)
    config["act"] = _ACTS[t.suggest_categorical("act", [0, 1, 2])]
    config["width"] = _WIDTHS[t.suggest_categorical("width", [0, 1, 2, 3])]
    return config


def mixed10_loss(c: dict[str, Any]) -> float:
    """Quadratic bowls in natural/log units; the activation shifts u0, u1, the width moves l1."""
    shift = _ACT_SHIFT[c["act"]]
    targets = (_U_TARGET[0] + shift, _U_TARGET[1] + shift, _U_TARGET[2], _U_TARGET[3])
    u_term = sum((float(c[f"u{i}"]) - targets[i]) ** 2 for i in range(4)) / 10.0
    width = int(c["width"])
    return (
        u_term
        + (math.log10(float(c["l0"])) + 2.5) ** 2
        + 0.5 * (math.log10(float(c["l1"])) - (0.5 * math.log2(width) - 1.0)) ** 2
        + ((float(c["q0"]) - 7.0) / 5.0) ** 2
        + 0.3 * (math.log10(max(float(c["ql0"]), 1.0)) - 2.0) ** 2
        + _ACT_PENALTY[c["act"]]
        + _WIDTH_PENALTY[width]
    )


MIXED10 = Problem(
    name="mixed10",
    kind="mixed",
    space=mixed10_space,
    optuna_config=mixed10_optuna,
    objective=mixed10_loss,
    optimum=0.0,
    argmin={
        **{f"u{i}": _U_TARGET[i] for i in range(4)},
        "l0": 10**-2.5,
        "l1": 1.0,
        "q0": 7.0,
        "ql0": 100.0,
        "act": "relu",
        "width": 4,
    },
    description="10 parameters: 4 uniform, 2 loguniform, quniform, qloguniform, 2 choice.",
)

# ---------------------------------------------------------------- conditional (tree-structured)
_MODELS = ("linear", "tree", "svm")
_KERNELS = ("rbf", "poly")


def _cond_space(hp: ModuleType) -> dict[str, Any]:
    log = math.log
    svm_kernel = hp.choice(
        "svm_kernel",
        [
            {"name": "rbf", "gamma": hp.loguniform("svm_gamma", log(1e-4), log(10.0))},
            {"name": "poly", "degree": hp.quniform("svm_degree", 2, 5, 1)},
        ],
    )
    return {
        "model": hp.choice(
            "model",
            [
                {"type": "linear", "alpha": hp.loguniform("linear_alpha", log(1e-6), log(10.0))},
                {
                    "type": "tree",
                    "depth": hp.quniform("tree_depth", 1, 12, 1),
                    "min_leaf": hp.qloguniform("tree_min_leaf", log(1), log(100), 1),
                },
                {
                    "type": "svm",
                    "C": hp.loguniform("svm_C", log(1e-3), log(1e3)),
                    "kernel": svm_kernel,
                },
            ],
        )
    }


def _cond_optuna(t: Any) -> dict[str, Any]:
    model = _MODELS[t.suggest_categorical("model", [0, 1, 2])]
    if model == "linear":
        alpha = t.suggest_float("linear_alpha", 1e-6, 10.0, log=True)
        return {"model": {"type": "linear", "alpha": alpha}}
    if model == "tree":
        return {
            "model": {
                "type": "tree",
                "depth": t.suggest_float("tree_depth", 1, 12, step=1),
                "min_leaf": _round_to(t.suggest_float("tree_min_leaf", 1, 100, log=True), 1),
            }
        }
    c = t.suggest_float("svm_C", 1e-3, 1e3, log=True)
    kernel_name = _KERNELS[t.suggest_categorical("svm_kernel", [0, 1])]
    if kernel_name == "rbf":
        kernel = {"name": "rbf", "gamma": t.suggest_float("svm_gamma", 1e-4, 10.0, log=True)}
    else:
        kernel = {"name": "poly", "degree": t.suggest_float("svm_degree", 2, 5, step=1)}
    return {"model": {"type": "svm", "C": c, "kernel": kernel}}


def _cond_loss(c: dict[str, Any]) -> float:
    """linear: broad, best 0.3; tree: broad local optimum 0.2; svm-rbf: global 0 in a funnel."""
    m = c["model"]
    if m["type"] == "linear":
        return 0.3 + 0.01 * (math.log10(float(m["alpha"])) + 2.0) ** 2
    if m["type"] == "tree":
        depth, leaf = float(m["depth"]), max(float(m["min_leaf"]), 1.0)
        return 0.2 + 0.01 * (depth - 7.0) ** 2 + 0.05 * (math.log10(leaf) - 1.0) ** 2
    log_c = math.log10(float(m["C"]))
    k = m["kernel"]
    if k["name"] == "poly":
        return 0.6 + 0.05 * (float(k["degree"]) - 3.0) ** 2 + 0.01 * log_c**2
    d2 = (log_c - 1.5) ** 2 + (math.log10(float(k["gamma"])) + 2.5) ** 2
    return 1.0 - math.exp(-d2 / 2.0)


CONDITIONAL = Problem(
    name="conditional",
    kind="conditional",
    space=_cond_space,
    optuna_config=_cond_optuna,
    objective=_cond_loss,
    optimum=0.0,
    argmin={"model": {"type": "svm", "C": 10**1.5, "kernel": {"name": "rbf", "gamma": 10**-2.5}}},
    description="choice of 3 models (nested kernel choice); the tree branch is a broad local "
    "optimum (0.2), the svm/rbf branch holds the global one (0).",
)

# ---------------------------------------------------------------- noisy
NOISY_HARTMANN3 = Problem(
    name="noisy_hartmann3",
    kind="noisy",
    space=_box_space(3, 0.0, 1.0),
    optuna_config=_box_optuna(3, 0.0, 1.0),
    objective=lambda c: fn.hartmann3(_vector(c, 3)),
    optimum=fn.HARTMANN3_MIN,
    argmin=_vector_config(fn.HARTMANN3_ARGMIN),
    noise_sd=0.1,
    description="Hartmann 3-D plus N(0, 0.1^2) noise; regret is the noise-free value of the "
    "point with the best observed (noisy) loss.",
)

SUITE: tuple[Problem, ...] = (
    BRANIN,
    HARTMANN6,
    ROSENBROCK10,
    ACKLEY20,
    DECEPTIVE1D,
    MIXED_TRAIN,
    MIXED10,
    CONDITIONAL,
    NOISY_HARTMANN3,
)
PROBLEMS: dict[str, Problem] = {p.name: p for p in SUITE}


def get_problem(name: str) -> Problem:
    """Look a problem up by name, with the list of valid names in the error."""
    try:
        return PROBLEMS[name]
    except KeyError:
        raise KeyError(f"unknown problem {name!r}; choose from {', '.join(PROBLEMS)}") from None
