"""``hqueue.utils``: the helpers of hyperopt's ``utils`` module that code built on hyperopt
calls (Ray Tune's searcher uses ``use_obj_for_literal_in_memo`` and ``coarse_utcnow``).

Example:
    >>> import numpy as np
    >>> fast_isin(np.array([1, 2, 3]), np.array([3, 1])).tolist()
    [True, False, True]
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from .base import pmin_sampled
from .pyll.base import Apply, Literal, dfs

__all__ = [
    "coarse_utcnow", "fast_isin", "get_closest_dir", "get_most_recent_inds", "path_split_all",
    "pmin_sampled", "temp_dir", "use_obj_for_literal_in_memo", "working_dir",
]


def fast_isin(X: np.ndarray, Y: np.ndarray) -> np.ndarray:  # noqa: N803
    """Boolean array: ``X[i] in Y`` for each ``i``."""
    return np.isin(np.asarray(X), np.asarray(Y))


def get_most_recent_inds(obj: Iterable[Mapping[str, Any]]) -> np.ndarray:
    """Indices of the highest ``version`` of each ``_id`` among documents, sorted by ``_id``.

    Example:
        >>> get_most_recent_inds([{"_id": 0, "version": 1}, {"_id": 0, "version": 2}]).tolist()
        [1]
    """
    docs = list(obj)
    ids = np.asarray([d["_id"] for d in docs])
    versions = np.asarray([int(d["version"]) for d in docs])
    order = np.lexsort((versions, ids))
    sorted_ids = ids[order]
    last = np.append(sorted_ids[1:] != sorted_ids[:-1], True)
    return order[last]


def use_obj_for_literal_in_memo(expr: Apply, obj: Any, lit: Any, memo: dict) -> dict:
    """Set ``memo[node] = obj`` for every literal node of ``expr`` whose value is ``lit``."""
    for node in dfs(expr):
        if isinstance(node, Literal):
            try:
                if node.obj == lit:
                    memo[node] = obj
            except ValueError:  # e.g. arrays: ambiguous truth value
                pass
    return memo


def coarse_utcnow() -> datetime.datetime:
    """Now in UTC, naive, truncated to the millisecond (as MongoDB stores times)."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@contextlib.contextmanager
def working_dir(dir: str) -> Iterator[None]:  # noqa: A002
    """Change into ``dir`` for the duration of the block."""
    cwd = os.getcwd()
    os.chdir(dir)
    try:
        yield
    finally:
        os.chdir(cwd)


def path_split_all(path: str) -> Iterator[str]:
    """The components of ``path``, first to last."""
    parts = []
    while True:
        path, name = os.path.split(path)
        if not name:
            break
        parts.append(name)
    return reversed(parts)


def get_closest_dir(workdir: str) -> tuple[str, str]:
    """``(deepest existing directory on the way to workdir, the first missing component)``."""
    closest, missing = "", ""
    for part in path_split_all(workdir):
        missing = part
        if not os.path.isdir(os.path.join(closest, part)):
            break
        closest = os.path.join(closest, part)
    if closest == workdir:
        raise ValueError(f"get_closest_dir: {workdir!r} already exists")
    return closest, missing


@contextlib.contextmanager
def temp_dir(dir: str, erase_after: bool = False,  # noqa: A002
             with_sentinel: bool = True) -> Iterator[None]:
    """Create ``dir`` if missing for the block; with ``erase_after``, remove what was created.

    With ``with_sentinel`` a ``<first missing component>.inuse`` file marks the directory while
    it is in use, and empty parents created for it are removed up to that point.
    """
    created = False
    sentinel = None
    if not os.path.exists(dir):
        if os.pardir in dir:
            raise RuntimeError(f"workdir contains os.pardir ('..'): {dir!r}")
        if erase_after and with_sentinel:
            closest, name = get_closest_dir(dir)
            sentinel = os.path.join(closest, name + ".inuse")
            open(sentinel, "w").close()
        os.makedirs(dir)
        created = True
    elif not os.path.isdir(dir):
        raise NotADirectoryError(dir)
    yield
    if erase_after and created:
        shutil.rmtree(dir)
        if sentinel is not None:
            os.mkdir(dir)
            os.removedirs(dir)  # the empty parents made for dir, up to the sentinel's
            os.remove(sentinel)
