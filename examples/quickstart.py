"""A small search with hqueue: a conditional space, TPE, and the best configuration.

Run it with ``./scripts/example`` (or ``python examples/quickstart.py`` once hqueue is installed).
"""

from __future__ import annotations

import math

import numpy as np

from hqueue import STATUS_OK, Trials, fmin, hp, space_eval, tpe

space = {
    "optimizer": hp.choice("optimizer", [
        {"name": "sgd", "lr": hp.loguniform("sgd_lr", math.log(1e-4), math.log(1.0)),
         "momentum": hp.uniform("momentum", 0.0, 0.99)},
        {"name": "adam", "lr": hp.loguniform("adam_lr", math.log(1e-5), math.log(1e-1))},
    ]),
    "layers": hp.uniformint("layers", 1, 6),
    "dropout": hp.quniform("dropout", 0.0, 0.5, 0.05),
}


def objective(cfg: dict) -> dict:
    """A stand-in for a training run: a smooth, conditional validation loss."""
    opt = cfg["optimizer"]
    if opt["name"] == "sgd":
        loss = (math.log10(opt["lr"]) + 1.5) ** 2 + 0.5 * (opt["momentum"] - 0.9) ** 2 + 0.3
    else:
        loss = (math.log10(opt["lr"]) + 3.0) ** 2 + 0.1
    loss += 0.05 * (cfg["layers"] - 4) ** 2 + (cfg["dropout"] - 0.2) ** 2
    return {"loss": loss, "status": STATUS_OK}


if __name__ == "__main__":
    trials = Trials()
    best = fmin(objective, space, algo=tpe.suggest, max_evals=200, trials=trials,
                rstate=np.random.default_rng(0))
    print("best point (choices as indices):", best)
    print("best configuration:", space_eval(space, best))
    print(f"best loss: {trials.best_trial['result']['loss']:.4f} after {len(trials)} trials")
