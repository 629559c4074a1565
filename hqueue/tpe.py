"""``hqueue.tpe``: hyperopt-compatible module path for the tpe algorithm.

Example:
    >>> from hqueue import tpe
    >>> callable(tpe.suggest)
    True
"""

from __future__ import annotations

from .algos.tpe import *  # noqa: F403
from .algos.tpe import HYPEROPT_SETTINGS, suggest

__all__ = ["HYPEROPT_SETTINGS", "suggest"]
