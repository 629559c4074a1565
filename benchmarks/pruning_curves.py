"""Tabulate the learning curves of the ``pruning`` benchmark (run once; the result is committed).

Three grids of real training runs on datasets bundled with scikit-learn, every configuration
trained to the end and its validation loss recorded after every epoch (or boosting round):

- ``sgd_digits``: ``SGDClassifier`` (log loss) with ``partial_fit``, 27 epochs, validation
  error rate; alpha x eta0 x learning-rate schedule x averaging.
- ``mlp_digits``: ``MLPClassifier`` with ``partial_fit``, 27 epochs, validation log loss;
  width x learning rate x L2 x batch size.
- ``gb_cancer``: ``GradientBoostingClassifier`` on breast cancer, 81 rounds read with
  ``staged_predict_proba``, validation log loss; learning rate x depth x subsample x
  max_features.

Each grid is a full factorial design, so a configuration is a tuple of level indices
(``numpy.ravel_multi_index`` over ``dims``). Output: ``benchmarks/data/pruning_curves.npz``
with, per problem ``P``, ``P__curves`` (configs x steps, float32), ``P__dims`` and
``P__params`` (JSON: level values per dimension).

Example:
    nice -n 10 python -m benchmarks.pruning_curves   # a few minutes on one core
"""

from __future__ import annotations

import itertools
import json
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "data" / "pruning_curves.npz"


def _split(loader: Callable, seed: int = 0) -> tuple[np.ndarray, ...]:
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = loader(return_X_y=True)
    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(x_tr)
    return scaler.transform(x_tr), scaler.transform(x_va), y_tr, y_va


def _grid(params: dict[str, Sequence]) -> list[dict]:
    names = list(params)
    return [dict(zip(names, values)) for values in itertools.product(*params.values())]


def _log_loss(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    from sklearn.metrics import log_loss

    return float(log_loss(y, np.clip(proba, 1e-7, 1.0), labels=classes))


def sgd_digits(steps: int = 27) -> tuple[dict, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import SGDClassifier

    x_tr, x_va, y_tr, y_va = _split(load_digits)
    classes = np.unique(y_tr)
    params = {"alpha": [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1],
              "eta0": [1e-4, 1e-3, 1e-2, 1e-1, 1.0],
              "learning_rate": ["constant", "invscaling"], "average": [False, True]}
    curves = []
    for cfg in _grid(params):
        model = SGDClassifier(loss="log_loss", random_state=0, **cfg)
        rng = np.random.default_rng(0)
        row = []
        for _ in range(steps):
            order = rng.permutation(len(y_tr))
            model.partial_fit(x_tr[order], y_tr[order], classes=classes)
            row.append(1.0 - model.score(x_va, y_va))
        curves.append(row)
    return params, np.asarray(curves)


def mlp_digits(steps: int = 27) -> tuple[dict, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    x_tr, x_va, y_tr, y_va = _split(load_digits)
    classes = np.unique(y_tr)
    params = {"width": [8, 32, 128], "learning_rate_init": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
              "alpha": [1e-5, 1e-2, 1.0], "batch_size": [32, 256]}
    curves = []
    for cfg in _grid(params):
        width = cfg.pop("width")
        model = MLPClassifier(hidden_layer_sizes=(width,), random_state=0, **cfg)
        row = []
        for _ in range(steps):
            model.partial_fit(x_tr, y_tr, classes=classes)
            row.append(_log_loss(y_va, model.predict_proba(x_va), classes))
        curves.append(row)
    return params, np.asarray(curves)


def gb_cancer(steps: int = 81) -> tuple[dict, np.ndarray]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier

    x_tr, x_va, y_tr, y_va = _split(load_breast_cancer)
    classes = np.unique(y_tr)
    params = {"learning_rate": [0.003, 0.01, 0.03, 0.1, 0.3, 1.0], "max_depth": [1, 2, 4, 8],
              "subsample": [0.5, 1.0], "max_features": [0.2, 1.0]}
    curves = []
    for cfg in _grid(params):
        model = GradientBoostingClassifier(n_estimators=steps, random_state=0, **cfg)
        model.fit(x_tr, y_tr)
        curves.append([_log_loss(y_va, p, classes) for p in model.staged_predict_proba(x_va)])
    return params, np.asarray(curves)


PROBLEMS = {"sgd_digits": sgd_digits, "mlp_digits": mlp_digits, "gb_cancer": gb_cancer}


def main() -> None:
    """Train every configuration of every grid and write the ``.npz``."""
    warnings.filterwarnings("ignore")
    arrays: dict[str, np.ndarray] = {}
    for name, build in PROBLEMS.items():
        t0 = time.perf_counter()
        params, curves = build()
        dims = np.asarray([len(v) for v in params.values()])
        assert curves.shape[0] == int(np.prod(dims))
        arrays[f"{name}__curves"] = curves.astype(np.float32)
        arrays[f"{name}__dims"] = dims
        arrays[f"{name}__params"] = np.asarray(json.dumps(params))
        print(f"{name}: {curves.shape[0]} configs x {curves.shape[1]} steps, "
              f"best final {np.nanmin(curves[:, -1]):.4f}, {time.perf_counter() - t0:.0f} s")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
