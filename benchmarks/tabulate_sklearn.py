"""Tabulate two real training problems once, from scikit-learn on its bundled datasets.

``python -m benchmarks.tabulate_sklearn`` trains every configuration of two grids several
times (each time on a different random stratified train/validation split, the "training
seed") and writes ``benchmarks/data/sklearn_tables.npz``: per problem, the grid values of each
hyperparameter and a ``(grid sizes..., seeds)`` array of validation losses. The real-problem
benchmark (:mod:`benchmarks.real_problems`) reads one seed per evaluation. Run it once (a few
minutes on one core); the table is committed, so the benchmark never trains anything.

- ``svc_digits``: ``SVC`` on ``load_digits`` (standardized), kernel x C x gamma; loss:
  validation error rate.
- ``hgb_cancer``: ``HistGradientBoostingClassifier`` on ``load_breast_cancer``,
  learning_rate x max_leaf_nodes x min_samples_leaf x l2_regularization (100 boosting
  iterations, no early stopping); loss: validation log-loss.

Example:
    >>> from benchmarks.tabulate_sklearn import GRIDS
    >>> sorted(GRIDS)
    ['hgb_cancer', 'svc_digits']
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SEEDS = 4
TABLE_PATH = Path(__file__).resolve().parent / "data" / "sklearn_tables.npz"

GRIDS: dict[str, dict[str, list[Any]]] = {
    "svc_digits": {
        "kernel": ["rbf", "poly", "sigmoid"],
        "C": [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0],
        "gamma": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0],
    },
    "hgb_cancer": {
        "learning_rate": [0.01, 0.03, 0.1, 0.3, 1.0],
        "max_leaf_nodes": [2, 4, 8, 16, 32],
        "min_samples_leaf": [1, 5, 20, 80],
        "l2_regularization": [0.0, 1.0, 10.0],
    },
}


def _loss(problem: str, config: dict[str, Any], seed: int) -> float:
    from sklearn.datasets import load_breast_cancer, load_digits
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if problem == "svc_digits":
        x, y = load_digits(return_X_y=True)
        model = make_pipeline(StandardScaler(), SVC(**config, max_iter=200_000))
    else:
        x, y = load_breast_cancer(return_X_y=True)
        model = HistGradientBoostingClassifier(max_iter=100, early_stopping=False,
                                               random_state=seed, **config)
    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=1 / 3, stratify=y,
                                              random_state=seed)
    model.fit(x_tr, y_tr)
    if problem == "svc_digits":
        return float(np.mean(model.predict(x_va) != y_va))
    return float(log_loss(y_va, model.predict_proba(x_va)))


def tabulate(problem: str, seeds: int = SEEDS) -> np.ndarray:
    """The ``(grid sizes..., seeds)`` loss table of one problem."""
    import warnings

    grid = GRIDS[problem]
    names = list(grid)
    shape = [len(v) for v in grid.values()]
    table = np.empty((*shape, seeds))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SVC's max_iter and convergence warnings
        for index in itertools.product(*(range(n) for n in shape)):
            config = {n: grid[n][i] for n, i in zip(names, index)}
            for seed in range(seeds):
                table[(*index, seed)] = _loss(problem, config, seed)
    return table


def main() -> int:
    """Tabulate every grid and write the compressed table file."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    arrays: dict[str, np.ndarray] = {}
    for problem, grid in GRIDS.items():
        start = time.perf_counter()
        arrays[f"{problem}/losses"] = tabulate(problem)
        for name, values in grid.items():
            arrays[f"{problem}/values/{name}"] = np.asarray(values)
        print(f"{problem}: {arrays[f'{problem}/losses'].shape} in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    TABLE_PATH.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(TABLE_PATH, **arrays)
    print(f"wrote {TABLE_PATH} ({TABLE_PATH.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
