"""``hqueue.mix``: hyperopt-compatible module path for the mix algorithm.

Example:
    >>> from hqueue import mix
    >>> callable(mix.suggest)
    True
"""

from __future__ import annotations

from .algos.mix import *  # noqa: F403
from .algos.mix import suggest

__all__ = ["suggest"]
