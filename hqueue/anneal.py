"""``hqueue.anneal``: hyperopt-compatible module path for the anneal algorithm.

Example:
    >>> from hqueue import anneal
    >>> callable(anneal.suggest)
    True
"""

from __future__ import annotations

from .algos.anneal import *  # noqa: F403
from .algos.anneal import suggest

__all__ = ["suggest"]
