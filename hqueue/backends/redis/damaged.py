"""Damaged Redis keys: a key of the wrong type, or a counter that holds no integer.

No store script half-applies a change over a damaged key (``scripts/_prelude.lua``: the
per-trial scripts find it by the write that fails and undo their earlier writes, the others
check their keys' types first), so a damaged key fails the one call with an error naming the
key, instead of a half-applied script or a bare ``WRONGTYPE`` that names none.
:func:`guarded` turns those replies into :class:`DamagedKey`.

Example:
    >>> import redis
    >>> err = redis.exceptions.ResponseError("HQDAMAGED hq:{e}:seq is a hash, expected a counter")
    >>> str(as_damaged_key(err))  # doctest: +ELLIPSIS
    'Redis key hq:{e}:seq is a hash, expected a counter: ...'
    >>> as_damaged_key(err).key
    'hq:{e}:seq'
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from ...exceptions import HqueueError

_MARK = "HQDAMAGED "

logger = logging.getLogger(__name__)


class DamagedKey(HqueueError):
    """A Redis key of an experiment is of the wrong type or holds a value hqueue cannot use;
    ``key`` is its name (None when the reply named none).

    Example:
        >>> DamagedKey("Redis key hq:{e}:seq is damaged", key="hq:{e}:seq").key
        'hq:{e}:seq'
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (str(self), self.key)


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
        key = what.split(" ", 1)[0] or key
    elif "WRONGTYPE" in text:
        what = f"{key or 'an experiment key'} holds the wrong kind of value"
    else:
        return None
    return DamagedKey(f"Redis key {what}: it was changed by something other than hqueue; "
                      "delete it (or restore it from a backup) to repair the experiment", key)


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


class DamageNotes:
    """The damaged keys a reader (``hqueue status``, the dashboard) met, by name, so one
    damaged experiment is shown as damaged while the others are read as usual.

    :meth:`read` runs one read of a key: on :class:`DamagedKey` it notes the key (logging a
    warning the first time) and returns ``default``; on success it forgets the key (repaired).

    Example:
        >>> import fakeredis
        >>> client, notes = fakeredis.FakeRedis(), DamageNotes("e")
        >>> _ = client.set("hq:{e}:changes", "x")
        >>> def read():
        ...     with naming("hq:{e}:changes"):
        ...         return client.zcard("hq:{e}:changes")
        >>> notes.read("hq:{e}:changes", read, 0), sorted(notes.keys)
        (0, ['hq:{e}:changes'])
        >>> _ = client.delete("hq:{e}:changes")
        >>> notes.read("hq:{e}:changes", read, 0), sorted(notes.keys)
        (0, [])
    """

    def __init__(self, exp_key: str) -> None:
        self.exp_key = exp_key
        self.keys: dict[str, str] = {}  # key -> the error that named it

    def read(self, key: str, read: Callable[[], Any], default: Any) -> Any:
        """``read()``, or ``default`` (the key noted) when ``key`` is damaged."""
        try:
            value = read()
        except DamagedKey as damaged:
            self.note(key, damaged)
            return default
        self.keys.pop(key, None)
        return value

    def reply(self, key: str, value: Any, default: Any) -> Any:
        """A pipeline's reply for ``key`` (``execute(raise_on_error=False)``): ``value``, or
        ``default`` when it is the error of a damaged key (other errors are raised)."""
        if not isinstance(value, Exception):
            self.keys.pop(key, None)
            return value
        damaged = as_damaged_key(value, key)
        if damaged is None:
            raise value
        self.note(key, damaged)
        return default

    def note(self, key: str, damaged: DamagedKey) -> None:
        """Remember that ``key`` is damaged (a warning is logged the first time)."""
        if key not in self.keys:
            logger.warning("experiment %r: %s", self.exp_key, damaged)
        self.keys[key] = str(damaged)
