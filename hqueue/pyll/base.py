"""``hqueue.pyll.base``: the names hyperopt users import from ``hyperopt.pyll.base``.

The language lives in :mod:`.graph` (nodes, ``scope``, evaluation), :mod:`.symbols` (the
registry of functions by name), :mod:`.printing` (numbered printing), :mod:`.traverse`
(walking, copying, :class:`Lambda`) and :mod:`.functions` (the functions graphs call); this
module gathers them under hyperopt's module path.

Example:
    >>> from hqueue.pyll.base import Literal, scope, rec_eval
    >>> str(Literal(5))
    '0 Literal{5}'
    >>> rec_eval(scope.max(1, 4))
    4
"""

from __future__ import annotations

from .functions import (
    Raise,
    array_union,
    array_union1,
    asarray,
    bincount,
    call,
    call_method,
    call_method_pure,
    callpipe1,
    copy_call_method_pure,
    curtime,
    hyperopt_param,
    identity,
    kwswitch,
    partial,
    pos_args,
    repeat,
    str_join,
    switch,
)
from .graph import (
    RANDOM_NODES,
    Apply,
    GarbageCollected,
    Literal,
    MissingArgument,
    SymbolTable,
    UndefinedValue,
    apply,
    as_apply,
    rec_eval,
    scope,
)
from .printing import pretty
from .symbols import PyllError, SymbolTableEntry
from .traverse import Lambda, clone, clone_merge, dfs, p0, p1, p2, p3, p4, toposort

__all__ = [
    "RANDOM_NODES", "Apply", "GarbageCollected", "Lambda", "Literal", "MissingArgument",
    "PyllError", "Raise", "SymbolTable", "SymbolTableEntry", "UndefinedValue", "apply",
    "array_union", "array_union1", "as_apply", "asarray", "bincount", "call", "call_method",
    "call_method_pure", "callpipe1", "clone", "clone_merge", "copy_call_method_pure",
    "curtime", "dfs", "hyperopt_param", "identity", "kwswitch", "p0", "p1", "p2", "p3", "p4",
    "partial",
    "pos_args", "pretty", "rec_eval", "repeat", "scope", "str_join", "switch", "toposort",
]
