"""``hqueue.rand``: hyperopt-compatible module path for the rand algorithm.

Example:
    >>> from hqueue import rand
    >>> callable(rand.suggest)
    True
"""

from __future__ import annotations

from .algos.rand import *  # noqa: F403
from .algos.rand import suggest

__all__ = ["suggest"]
