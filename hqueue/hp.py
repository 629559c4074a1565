"""``hqueue.hp``: hyperopt's hyperparameter constructors (see :mod:`hqueue.space.hp`).

Example:
    >>> from hqueue import hp
    >>> node = hp.uniform("x", -1, 1)
"""

from __future__ import annotations

from .space.hp import (
    choice,
    lognormal,
    loguniform,
    normal,
    pchoice,
    qlognormal,
    qloguniform,
    qnormal,
    quniform,
    randint,
    uniform,
    uniformint,
)

__all__ = [
    "choice", "lognormal", "loguniform", "normal", "pchoice", "qlognormal", "qloguniform",
    "qnormal", "quniform", "randint", "uniform", "uniformint",
]
