"""Small immutable records describing one hyperparameter's prior distribution.

Samplers work with two kinds: :class:`Numeric` (the eight real-valued families, each a
uniform or normal prior on an *internal* axis that is ``log(x)`` for log-scaled ones, with an
optional quantization step ``q`` applied in value space) and :class:`Categorical`
(``choice``, ``pchoice`` and ``randint``).

Example:
    >>> import numpy as np
    >>> d = Numeric.from_hp("qloguniform", (0.0, 3.0, 1.0))
    >>> d.log, d.q, d.bounded
    (True, 1.0, True)
    >>> x = d.sample(np.random.default_rng(0), 5)
    >>> bool(np.all(x == np.round(x)))
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

NUMERIC_KINDS = (
    "uniform", "quniform", "loguniform", "qloguniform",
    "normal", "qnormal", "lognormal", "qlognormal",
)
CATEGORICAL_KINDS = ("randint", "categorical")
# smallest positive value a log-scaled quantized parameter maps to on the internal axis
LOG_FLOOR = 1e-12


@dataclass(frozen=True)
class Numeric:
    """A real-valued prior: uniform(low, high) or normal(mu, sigma) on the internal axis."""

    kind: str
    bounded: bool
    low: float  # internal-axis bounds (-inf/inf when unbounded)
    high: float
    mu: float  # prior centre and width on the internal axis (used by Parzen estimators)
    sigma: float
    q: float | None
    log: bool

    @classmethod
    def from_hp(cls, kind: str, args: tuple[float, ...]) -> Numeric:
        """Build from hyperopt's positional arguments, e.g. ``("quniform", (0, 10, 2))``."""
        q = float(args[2]) if kind.startswith("q") else None
        log = "log" in kind
        a, b = float(args[0]), float(args[1])
        if kind.endswith("uniform"):
            return cls(kind, True, a, b, 0.5 * (a + b), b - a, q, log)
        return cls(kind, False, -np.inf, np.inf, a, b, q, log)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws in value space (hyperopt's sampling semantics)."""
        if self.bounded:
            z = rng.uniform(self.low, self.high, n)
        else:
            z = rng.normal(self.mu, self.sigma, n)
        return self.from_internal(z)

    def sample_one(self, rng: np.random.Generator) -> float:
        """One draw as a Python float (the fast path for single suggestions)."""
        z = rng.uniform(self.low, self.high) if self.bounded else rng.normal(self.mu, self.sigma)
        x = math.exp(z) if self.log else float(z)
        if self.q is not None:
            x = float(round(x / self.q) * self.q)
        return x

    def from_internal(self, z: np.ndarray) -> np.ndarray:
        """Map internal-axis points to values (exp for log scales, then quantize)."""
        x = np.exp(z) if self.log else np.asarray(z, dtype=float)
        if self.q is not None:
            x = np.round(x / self.q) * self.q
        return x

    def to_internal(self, x: np.ndarray) -> np.ndarray:
        """Map values to the internal axis (log for log scales)."""
        x = np.asarray(x, dtype=float)
        return np.log(np.maximum(x, LOG_FLOOR)) if self.log else x

    def python_value(self, x: Any) -> float:
        """The value stored in trial documents (hyperopt stores floats)."""
        return float(x)


@dataclass(frozen=True)
class Categorical:
    """A prior over ``len(p)`` unordered options; values are ``offset + index``."""

    kind: str
    p: tuple[float, ...]
    offset: int = 0

    @property
    def size(self) -> int:
        return len(self.p)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws of option values."""
        if self.kind == "randint":
            return rng.integers(self.offset, self.offset + self.size, n)
        return rng.choice(self.size, size=n, p=np.asarray(self.p)) + self.offset

    def sample_one(self, rng: np.random.Generator) -> int:
        """One draw as a Python int."""
        if self.kind == "randint":
            return int(rng.integers(self.offset, self.offset + self.size))
        return int(np.searchsorted(np.cumsum(self.p), rng.uniform(0.0, sum(self.p)))
                   ) + self.offset

    def python_value(self, x: Any) -> int:
        return int(x)


Distribution = Numeric | Categorical
