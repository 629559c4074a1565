"""The two usages documented in Ray Tune's ``HyperOptSearch`` docstring (a Tune search space,
and a hyperopt space passed directly; both with ``points_to_evaluate``), run on a trainable
with a known optimum. Run by ``tests/hyperopt_suite`` with ``hyperopt`` aliased to hqueue;
exits non-zero when a check fails.
"""

from __future__ import annotations

import ray
from hyperopt import hp
from ray import tune
from ray.tune.search.hyperopt import HyperOptSearch

BEST = [{"width": 10, "height": 0, "activation": "relu"}]


def trainable(config: dict) -> None:
    bonus = 5 if config["activation"] == "relu" else 0
    tune.report({"mean_loss": (config["width"] - 3) ** 2 / 10 + abs(config["height"]) - bonus})


def run(search: HyperOptSearch, param_space: dict | None) -> list[dict]:
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=search, num_samples=12),
        param_space=param_space or {},
    )
    results = tuner.fit()
    configs = [r.config for r in results]
    assert len(configs) == 12, configs
    assert any(c == BEST[0] for c in configs), "points_to_evaluate was not evaluated"
    return configs


def main() -> None:
    ray.init(num_cpus=2, configure_logging=False, include_dashboard=False)
    tune_space = {
        "width": tune.uniform(0, 20),
        "height": tune.uniform(-100, 100),
        "activation": tune.choice(["relu", "tanh"]),
    }
    run(HyperOptSearch(metric="mean_loss", mode="min", points_to_evaluate=BEST), tune_space)
    hp_space = {
        "width": hp.uniform("width", 0, 20),
        "height": hp.uniform("height", -100, 100),
        "activation": hp.choice("activation", ["relu", "tanh"]),
    }
    run(HyperOptSearch(hp_space, metric="mean_loss", mode="min", points_to_evaluate=BEST), None)
    print("ray-tune HyperOptSearch documented usages: OK")


if __name__ == "__main__":
    main()
