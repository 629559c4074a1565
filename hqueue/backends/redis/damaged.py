"""Damaged Redis keys: a key of the wrong type, or a counter that holds no integer.

Every store script checks the types of the keys it touches before it writes anything (the
``hq_expect`` prelude in ``scripts/_prelude.lua``), so a damaged key fails the one call with
an error naming the key, instead of a half-applied script or a bare ``WRONGTYPE`` that names
none. :func:`guarded` turns those replies into :class:`DamagedKey`.

Example:
    >>> import redis
    >>> err = redis.exceptions.ResponseError("HQDAMAGED hq:{e}:seq is a hash, expected a counter")
    >>> str(as_damaged_key(err))  # doctest: +ELLIPSIS
    'Redis key hq:{e}:seq is a hash, expected a counter: ...'
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from ...exceptions import HqueueError

_MARK = "HQDAMAGED "


class DamagedKey(HqueueError):
    """A Redis key of an experiment is of the wrong type or holds a value hqueue cannot use."""


def as_damaged_key(exc: Exception, key: str | None = None) -> DamagedKey | None:
    """The :class:`DamagedKey` a Redis error reply stands for, or None for any other error.

    ``key`` names the key for a plain ``WRONGTYPE`` reply (which names none).

    Example:
        >>> import redis
        >>> as_damaged_key(redis.exceptions.ResponseError("ERR unknown command")) is None
        True
    """
    text = str(exc)
    if _MARK in text:
        what = text[text.index(_MARK) + len(_MARK):]
    elif "WRONGTYPE" in text:
        what = f"{key or 'an experiment key'} holds the wrong kind of value"
    else:
        return None
    return DamagedKey(f"Redis key {what}: it was changed by something other than hqueue; "
                      "delete it (or restore it from a backup) to repair the experiment")


def guarded(script: Callable[..., Any]) -> Callable[..., Any]:
    """``script`` (a registered Lua script), raising :class:`DamagedKey` for damaged keys.

    Example:
        >>> guarded(lambda keys, args, client: 1)(keys=[], args=[])
        1
    """
    import redis

    def call(keys: Any = None, args: Any = None, client: Any = None) -> Any:
        try:
            return script(keys=keys, args=args, client=client)
        except redis.exceptions.ResponseError as exc:
            damaged = as_damaged_key(exc)
            if damaged is not None:
                raise damaged from None
            raise

    return call


@contextlib.contextmanager
def naming(key: str) -> Iterator[None]:
    """Run plain Redis commands on ``key``, raising :class:`DamagedKey` naming it if it has
    the wrong type.

    Example:
        >>> import fakeredis
        >>> client = fakeredis.FakeRedis()
        >>> _ = client.set("hq:{e}:seq", "x")
        >>> with naming("hq:{e}:seq"):  # doctest: +ELLIPSIS
        ...     client.hgetall("hq:{e}:seq")
        Traceback (most recent call last):
          ...
        hqueue.backends.redis.damaged.DamagedKey: Redis key hq:{e}:seq holds the wrong kind...
    """
    try:
        yield
    except Exception as exc:
        damaged = as_damaged_key(exc, key)
        if damaged is None:
            raise
        raise damaged from None
