"""Run one optimiser on one problem, the same way for every library.

Algorithm names are ``<library>_<method>``: ``hqueue_tpe``, ``hqueue_anneal``, ``hqueue_rand``,
``hyperopt_tpe``, ``hyperopt_anneal``, ``hyperopt_rand``, ``optuna_tpe`` (the default
``TPESampler(seed=seed)``), ``optuna_random`` and ``optuna_gp`` (``GPSampler(seed=seed)``,
Optuna's defaults; it needs torch, and is skipped when torch does not import). A *variant* is
a named hqueue TPE with keyword arguments passed through untouched:
``functools.partial(hqueue.tpe.suggest, **kwargs)``.

Seeding: hyperopt and hqueue get ``rstate=np.random.default_rng(seed)``; Optuna samplers get
``seed=seed``. The noise of noisy problems comes from a separate stream derived from the seed, so
every algorithm sees the same noise sequence for a given seed.

``HQUEUE_BENCH_MODULE`` (default ``hqueue``) names the module used for the ``hqueue_*`` algorithms;
setting it to ``hyperopt`` runs the hqueue adapter on hyperopt (a stand-in used to test the harness
before hqueue exists; reports say so in their header).

Example:
    >>> from benchmarks.problems import get_problem
    >>> r = run("hyperopt_rand", get_problem("branin"), budget=5, seed=0)
    >>> r.losses.shape
    (5,)
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from benchmarks.problems import Problem

HQUEUE_MODULE_ENV = "HQUEUE_BENCH_MODULE"
NOISE_STREAM = 0x5EED  # second entropy word of the noise generator's seed
LIBRARIES = ("hqueue", "hyperopt", "optuna")
METHODS = {
    "hqueue": ("tpe", "anneal", "rand"),
    "hyperopt": ("tpe", "anneal", "rand"),
    "optuna": ("tpe", "random", "gp"),
}
ALGOS = tuple(f"{lib}_{m}" for lib in LIBRARIES for m in METHODS[lib])


class PeerUnavailable(RuntimeError):
    """The library behind an algorithm cannot be imported (for example hqueue not built yet)."""


@dataclass(frozen=True)
class AlgoSpec:
    """What to run: a library, one of its methods and keyword arguments (JSON text)."""

    name: str
    library: str
    method: str
    kwargs_json: str = "{}"

    @property
    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments passed to the suggest function."""
        return json.loads(self.kwargs_json)


@dataclass(frozen=True)
class RunResult:
    """Losses per evaluation in evaluation order, and the wall time of the whole run."""

    losses: np.ndarray
    clean: np.ndarray
    seconds: float


def hqueue_module_name() -> str:
    """The module that plays hqueue (``hqueue`` unless the stand-in variable is set)."""
    return os.environ.get(HQUEUE_MODULE_ENV, "hqueue")


def is_stand_in() -> bool:
    """True when the ``hqueue_*`` algorithms actually run another module."""
    return hqueue_module_name() != "hqueue"


def load_library(library: str) -> ModuleType:
    """Import ``hqueue`` (or its stand-in), ``hyperopt`` or ``optuna``; raise PeerUnavailable."""
    module = hqueue_module_name() if library == "hqueue" else library
    try:
        mod = importlib.import_module(module)
        if library != "optuna":
            for name in ("fmin", "Trials", "hp", "tpe", "rand", "anneal"):
                getattr(mod, name)
    except Exception as exc:  # noqa: BLE001 - any import-time failure means "skip this peer"
        hint = " (install it with: .venv-bench/bin/pip install -e . --no-deps)" * (
            library == "hqueue"
        )
        raise PeerUnavailable(f"{module} is not importable: {exc!r}{hint}") from exc
    if library == "optuna":
        mod.logging.set_verbosity(mod.logging.WARNING)
    return mod


def check_available(spec: AlgoSpec) -> None:
    """Raise PeerUnavailable if ``spec`` cannot run here (its library, or torch for
    Optuna's GPSampler, does not import)."""
    load_library(spec.library)
    if spec.library == "optuna" and spec.method == "gp":
        try:
            importlib.import_module("torch")
        except Exception as exc:  # noqa: BLE001 - any import failure means "skip this peer"
            raise PeerUnavailable(f"optuna_gp needs torch, which is not importable: {exc!r}"
                                  ) from exc


def library_version(library: str) -> str:
    """Version string for reports; says so when a library is missing or stood in for."""
    try:
        mod = load_library(library)
    except PeerUnavailable:
        return "not importable"
    version = getattr(mod, "__version__", "unknown")
    if library == "hqueue" and is_stand_in():
        return f"STAND-IN: {hqueue_module_name()} {version}"
    if library == "hqueue":
        return f"{version} (sources {source_hash(mod)})"
    return str(version)


def source_hash(mod: ModuleType) -> str:
    """A short hash of a package's ``.py`` files: tells apart two builds of one version."""
    root = Path(mod.__file__ or "").resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def parse_algo(name: str) -> AlgoSpec:
    """``"hyperopt_tpe"`` -> ``AlgoSpec``; raises ValueError listing the valid names."""
    library, _, method = name.partition("_")
    if name not in ALGOS:
        raise ValueError(f"unknown algorithm {name!r}; choose from {', '.join(ALGOS)}")
    return AlgoSpec(name=name, library=library, method=method)


def parse_variant(text: str) -> AlgoSpec:
    """``'NAME={"gamma": 0.2}'`` -> an hqueue TPE spec with those keyword arguments."""
    name, sep, payload = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"--variant wants NAME='{{json kwargs}}', got {text!r}")
    if name in ALGOS:
        raise ValueError(f"variant name {name!r} clashes with a built-in algorithm name")
    kwargs = json.loads(payload) if payload.strip() else {}
    if not isinstance(kwargs, dict):
        raise ValueError(f"variant {name!r}: the JSON must be an object, got {payload!r}")
    return AlgoSpec(
        name=name, library="hqueue", method="tpe", kwargs_json=json.dumps(kwargs, sort_keys=True)
    )


def hyperopt_suggest(mod: ModuleType, spec: AlgoSpec) -> Callable[..., Any]:
    """The ``algo=`` callable for hyperopt/hqueue: ``partial(mod.<method>.suggest, **kwargs)``."""
    suggest = getattr(mod, spec.method).suggest
    return functools.partial(suggest, **spec.kwargs) if spec.kwargs else suggest


def optuna_sampler(optuna: ModuleType, spec: AlgoSpec, seed: int) -> Any:
    """The Optuna sampler for a spec, seeded; the TPE sampler keeps Optuna's defaults."""
    if spec.method == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **spec.kwargs)
    if spec.method == "gp":
        return optuna.samplers.GPSampler(seed=seed, **spec.kwargs)
    return optuna.samplers.RandomSampler(seed=seed)


def run(algo: str | AlgoSpec, problem: Problem, budget: int, seed: int) -> RunResult:
    """Minimise ``problem`` for ``budget`` evaluations; losses come back in evaluation order."""
    spec = parse_algo(algo) if isinstance(algo, str) else algo
    mod = load_library(spec.library)
    noise_rng = np.random.default_rng([seed, NOISE_STREAM])
    losses: list[float] = []
    clean: list[float] = []

    def observe(config: Any) -> float:
        observed, noise_free = problem.observe(config, noise_rng)
        losses.append(observed)
        clean.append(noise_free)
        return observed

    start = time.perf_counter()
    if spec.library == "optuna":
        _run_optuna(mod, spec, problem, budget, seed, observe)
    else:
        _run_hyperopt_like(mod, spec, problem, budget, seed, observe)
    seconds = time.perf_counter() - start
    if len(losses) != budget:
        raise RuntimeError(f"{spec.name} on {problem.name}: {len(losses)} of {budget} evaluations")
    return RunResult(np.asarray(losses), np.asarray(clean), seconds)


def _run_hyperopt_like(
    mod: ModuleType,
    spec: AlgoSpec,
    problem: Problem,
    budget: int,
    seed: int,
    observe: Callable[[Any], float],
) -> None:
    mod.fmin(
        observe,
        problem.space(mod.hp),
        algo=hyperopt_suggest(mod, spec),
        max_evals=budget,
        trials=mod.Trials(),
        rstate=np.random.default_rng(seed),
        show_progressbar=False,
    )


def _run_optuna(
    optuna: ModuleType,
    spec: AlgoSpec,
    problem: Problem,
    budget: int,
    seed: int,
    observe: Callable[[Any], float],
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(
            direction="minimize", sampler=optuna_sampler(optuna, spec, seed)
        )
        study.optimize(lambda trial: observe(problem.optuna_config(trial)), n_trials=budget)
