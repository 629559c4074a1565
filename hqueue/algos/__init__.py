"""Search algorithms. Each works on arrays (a :class:`~hqueue.history.History`) and returns
``{label: value}`` rows; :mod:`hqueue.algos.docs` turns rows into trial documents so every
algorithm keeps hyperopt's ``suggest(new_ids, domain, trials, seed)`` contract.

Example:
    >>> from hqueue.algos import rand, tpe, anneal, mix
"""

from __future__ import annotations

from ..lazy import lazy_submodules
from . import rand

# anneal, mix and tpe pull in SciPy: imported on first use (hqueue.lazy)
__getattr__, __dir__ = lazy_submodules(__name__, {"anneal", "mix", "tpe"}, globals())

__all__ = ["anneal", "mix", "rand", "tpe"]
