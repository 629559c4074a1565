"""hyperopt's expression language ("pyll"): ``scope``, ``as_apply``, ``rec_eval`` and friends.

Example:
    >>> from hqueue.pyll import scope, rec_eval
    >>> rec_eval(scope.maximum(2, 7))
    7
"""

from __future__ import annotations

from . import base, indexed, stochastic  # indexed: registers idxs_map, idxs_take, ...
from .base import (
    Apply,
    GarbageCollected,
    Lambda,
    Literal,
    PyllError,
    SymbolTable,
    SymbolTableEntry,
    as_apply,
    clone,
    clone_merge,
    dfs,
    pretty,
    rec_eval,
    scope,
    toposort,
)

__all__ = [
    "Apply", "GarbageCollected", "Lambda", "Literal", "PyllError", "SymbolTable",
    "SymbolTableEntry", "as_apply", "base", "clone", "clone_merge", "dfs", "indexed", "pretty",
    "rec_eval", "scope", "stochastic", "toposort",
]
