"""fugue tune's ``test_optimization`` search over seeds ``0..N-1`` (the test fixes seed 0).

``HyperoptLocalOptimizer`` (TPE, 200 evaluations, ``no_progress_loss(50)``) minimizes
``a**2 + b**2 + 2`` over ``a = Rand(-10, 10)``, ``b = RandInt(-100, 100)``; the test wants
``a**2 < 2`` and ``b**2 < 2``. Run it in the fugue-tune environment
(``~/.cache/hqueue-compat/venv-fugue-tune``) with either library importable as the
optimizer's ``hyperopt``::

    PYTHONPATH=<run dir with the rewritten tune_hyperopt>:. python THIS_FILE 10   # hqueue
    PYTHONPATH=<hyperopt 0.3.0 and its dependencies> python THIS_FILE 10        # hyperopt
"""

from __future__ import annotations

import sys
from typing import Any

from tune import Rand, RandInt, Trial, noniterative_objective
from tune.noniterative.objective import validate_noniterative_objective
from tune_hyperopt import HyperoptLocalOptimizer
from tune_hyperopt import optimizer as tune_optimizer

try:  # the rewritten copy imports hqueue; the installed one imports hyperopt
    from hqueue.early_stop import no_progress_loss
except ImportError:
    from hyperopt.early_stop import no_progress_loss


@noniterative_objective
def objective(a: float, b: int, c: float) -> tuple[float, dict[str, Any]]:
    """The test's objective (its metadata included)."""
    return a**2 + b**2 + c, dict(a="x")


def main(n_seeds: int) -> None:
    """Print each seed's best point and whether the test's assertions hold there."""
    print("fmin from", tune_optimizer.fmin.__module__)
    passed = 0
    for seed in range(n_seeds):
        optimizer = HyperoptLocalOptimizer(
            max_iter=200, seed=seed,
            kwargs_func=lambda func, trial: dict(early_stop_fn=no_progress_loss(50)))
        trial = Trial("a", dict(a=Rand(-10.0, 10.0), b=RandInt(-100, 100), c=2.0),
                      metadata={})
        reports: list[Any] = []
        validate_noniterative_objective(objective, trial, reports.append, optimizer=optimizer)
        best = reports[0]
        a, b = best.params.simple_value["a"], best.params.simple_value["b"]
        ok = best.metric < 7 and a**2 < 2 and b**2 < 2
        passed += ok
        print(f"seed {seed}: best {best.metric:.3f} at a={a:.3f}, b={b}: "
              f"{'pass' if ok else 'FAIL'}")
    print(f"{passed}/{n_seeds} seeds pass")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
