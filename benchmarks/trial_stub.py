"""A stand-in for ``optuna.Trial`` that samples at random and records what was asked.

It lets the harness run a problem's ``optuna_config`` without a study: the tests use it to
list labels and ranges, and ``suggest_latency`` uses it to fill an Optuna study with a random
history quickly (``params`` and ``distributions`` feed ``optuna.trial.create_trial``).

Example:
    >>> import numpy as np
    >>> t = RandomTrial(np.random.default_rng(0))
    >>> x = t.suggest_float("x", 1e-3, 1.0, log=True)
    >>> sorted(t.params) == ["x"] and t.distributions["x"].log
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


class RandomTrial:
    """Implements the ``suggest_*`` calls the problem suite uses, sampling uniformly."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self.params: dict[str, Any] = {}
        self.distributions: dict[str, Any] = {}

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        """Uniform on ``[low, high]`` (on the grid when ``step``, in log space when ``log``)."""
        from optuna.distributions import FloatDistribution

        if step is not None:
            n = int(round((high - low) / step))
            value = float(low + step * self._rng.integers(0, n + 1))
        elif log:
            value = float(math.exp(self._rng.uniform(math.log(low), math.log(high))))
            value = min(max(value, low), high)
        else:
            value = float(self._rng.uniform(low, high))
        self._record(name, value, FloatDistribution(low, high, log=log, step=step))
        return value

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        """Uniform integer on ``low..high`` (inclusive); ``log`` is recorded, not honoured."""
        from optuna.distributions import IntDistribution

        value = int(low + step * self._rng.integers(0, (high - low) // step + 1))
        self._record(name, value, IntDistribution(low, high, log=log, step=step))
        return value

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        """One of ``choices`` with equal probability."""
        from optuna.distributions import CategoricalDistribution

        value = choices[int(self._rng.integers(0, len(choices)))]
        self._record(name, value, CategoricalDistribution(list(choices)))
        return value

    def _record(self, name: str, value: Any, distribution: Any) -> None:
        if name in self.params:
            raise ValueError(f"parameter {name!r} suggested twice in one trial")
        self.params[name] = value
        self.distributions[name] = distribution
