"""Search algorithms. Each works on arrays (a :class:`~hqueue.history.History`) and returns
``{label: value}`` rows; :mod:`hqueue.algos.docs` turns rows into trial documents so every
algorithm keeps hyperopt's ``suggest(new_ids, domain, trials, seed)`` contract.

Example:
    >>> from hqueue.algos import rand, tpe, anneal, mix
"""

from __future__ import annotations

from . import anneal, mix, rand, tpe

__all__ = ["anneal", "mix", "rand", "tpe"]
