"""Scope functions over *indexed values*: the ``(idxs, vals)`` pairs of vectorized graphs.

A vectorized graph (:mod:`hqueue.vectorize`) computes each node for many trials at once: the
trial ids it is computed for (``idxs``) and one value per id (``vals``). These functions take,
map, split and merge such pairs. They are registered in ``scope`` under hyperopt's names
(``idxs_map``, ``idxs_take``, ``vchoice_split``, ``vchoice_merge``, ``uniq``), so graphs that
name them evaluate with :func:`~hqueue.pyll.base.rec_eval`.

Example:
    >>> from hqueue.pyll import rec_eval, scope
    >>> rec_eval(scope.idxs_map([1, 3], "add", ([1, 2, 3], [10, 20, 30]), ([1, 3], [1, 2])))
    [11, 32]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .graph import PyllError, scope

__all__ = ["idxs_map", "idxs_take", "uniq", "vchoice_merge", "vchoice_split"]


def _by_id(idxs: Sequence, vals: Sequence) -> dict:
    """``{idx: val}`` for a pair; a one-line error when the two lengths differ."""
    if len(idxs) != len(vals):
        raise PyllError(f"an (idxs, vals) pair has {len(idxs)} ids but {len(vals)} values")
    return dict(zip(idxs, vals))


def _value_at(table: dict, idx: Any, what: str, cmd: str) -> Any:
    try:
        return table[idx]
    except KeyError:
        raise PyllError(f"idxs_map({cmd!r}): {what} has no value for id {idx!r}") from None


@scope.define_pure
def idxs_map(idxs: Sequence, cmd: str, *args: tuple[Sequence, Sequence],
             **kwargs: tuple[Sequence, Sequence]) -> list:
    """The scope function ``cmd`` applied once per id of ``idxs``.

    Each argument is an ``(idxs, vals)`` pair that holds a value for (at least) every id of
    ``idxs``; the call for id ``i`` gets each argument's value at ``i``.

    Example:
        >>> idxs_map([0, 2], "neg", ([0, 1, 2], [5, 6, 7]))
        [-5, -7]
    """
    pos_tables = [_by_id(*pair) for pair in args]
    named_tables = {name: _by_id(*pair) for name, pair in kwargs.items()}
    fn = scope._impls[cmd]
    rval = []
    for idx in idxs:
        pos = [_value_at(t, idx, f"argument {k}", cmd) for k, t in enumerate(pos_tables)]
        named = {n: _value_at(t, idx, f"argument {n!r}", cmd) for n, t in named_tables.items()}
        rval.append(fn(*pos, **named))
    return rval


@scope.define_pure
def idxs_take(idxs: Sequence, vals: Sequence, which: Sequence) -> np.ndarray:
    """The values of the pair ``(idxs, vals)`` at the ids ``which`` (a subset of ``idxs``).

    Example:
        >>> idxs_take([4, 7, 9], ["a", "b", "c"], [9, 4]).tolist()
        ['c', 'a']
    """
    table = _by_id(idxs, vals)
    try:
        return np.asarray([table[w] for w in which])
    except KeyError as e:
        raise PyllError(f"idxs_take: id {e.args[0]!r} is not among the pair's ids") from None


@scope.define_pure
def uniq(lst: Sequence) -> list:
    """The elements of ``lst`` without repeats (by identity), in their first order.

    Example:
        >>> a, b = [1], [1]
        >>> len(uniq([a, b, a]))
        2
    """
    seen: set[int] = set()
    rval = []
    for item in lst:
        if id(item) not in seen:
            seen.add(id(item))
            rval.append(item)
    return rval


@scope.define_pure
def vchoice_split(idxs: Sequence, choices: Sequence, n_options: int) -> list[list]:
    """The ids of ``idxs`` grouped by the option each one chose: ``rval[k]`` chose ``k``.

    Example:
        >>> vchoice_split([10, 11, 12], [1, 0, 1], 3)
        [[11], [10, 12], []]
    """
    if len(idxs) != len(choices):
        raise ValueError("idxs and choices different len: "
                         f"{len(idxs)} ids but {len(choices)} choices")
    rval: list[list] = [[] for _ in range(n_options)]
    for idx, chosen in zip(idxs, choices):
        rval[chosen].append(idx)
    return rval


@scope.define_pure
def vchoice_merge(idxs: Sequence, choices: Sequence, *vals: tuple[Sequence, Sequence]) -> list:
    """Per id of ``idxs``, the value of the option it chose (``vals[k]`` is option ``k``'s
    ``(idxs, vals)`` pair): the inverse of :func:`vchoice_split`.

    Example:
        >>> vchoice_merge([10, 11], [1, 0], ([11], ["a"]), ([10], ["b"]))
        ['b', 'a']
    """
    if len(idxs) != len(choices):
        raise ValueError("idxs and choices different len: "
                         f"{len(idxs)} ids but {len(choices)} choices")
    tables = [_by_id(*pair) for pair in vals]
    return [tables[chosen][idx] for idx, chosen in zip(idxs, choices)]
