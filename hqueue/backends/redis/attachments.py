"""Attachments in Redis keys of their own (never inside trial documents), with a size cap.

One class serves the experiment's attachments (``RedisTrials.attachments``), a trial's
attachments seen from the driver (``trials.trial_attachments(doc)``) and from the running
objective (``ctrl.attachments``).

Example:
    >>> import fakeredis
    >>> from hqueue.backends.redis.keys import ExperimentKeys
    >>> keys = ExperimentKeys("demo")
    >>> att = RedisAttachments(fakeredis.FakeRedis(), lambda n: keys.trial_attachment(3, n),
    ...                        "trial 3", max_bytes=100)
    >>> att["weights"] = b"\\x00\\x01"
    >>> list(att), att["weights"]
    (['weights'], b'\\x00\\x01')
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

from ...exceptions import BadArgument, HqueueError


class AttachmentTooLarge(HqueueError, ValueError):
    """An attachment is larger than the experiment's ``max_attachment_bytes``."""


def glob_escape(text: str) -> str:
    """``text`` with Redis glob metacharacters escaped, for SCAN patterns."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


class RedisAttachments(MutableMapping):
    """Named byte strings, one Redis key each (``key_for(name)``), listed with SCAN.

    ``owner`` names whose attachments these are, in error messages ("trial 3"); ``guard``,
    when given, is called before every write (the worker uses it to refuse writes once the
    trial is no longer its own).
    """

    def __init__(self, client: Any, key_for: Callable[[str], str], owner: str,
                 max_bytes: int, guard: Callable[[], None] | None = None) -> None:
        self._client, self._key_for, self._owner = client, key_for, owner
        self._max, self._guard = int(max_bytes), guard
        self._prefix = key_for("")

    def _key(self, name: str) -> str:
        if not isinstance(name, str) or not name:
            raise BadArgument(f"attachment names are non-empty str, got {name!r}")
        return self._key_for(name)

    def __getitem__(self, name: str) -> bytes:
        value = self._client.get(self._key(name))
        if value is None:
            raise KeyError(name)
        return value

    def __setitem__(self, name: str, value: bytes | str) -> None:
        if isinstance(value, str):
            data = value.encode()
        elif isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
        else:
            raise BadArgument(f"attachment {name!r} must be bytes or str, got "
                              f"{type(value).__name__}: store pickle.dumps(obj)")
        if len(data) > self._max:
            raise AttachmentTooLarge(
                f"attachment {name!r} of {self._owner} is {len(data)} bytes, over the "
                f"{self._max}-byte cap (max_attachment_bytes); raise it with RedisTrials(..., "
                "max_attachment_bytes=N), or save large artifacts elsewhere and attach their "
                "path")
        if self._guard is not None:
            self._guard()
        self._client.set(self._key(name), data)

    def __delitem__(self, name: str) -> None:
        if self._guard is not None:
            self._guard()
        if not self._client.delete(self._key(name)):
            raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        n = len(self._prefix)
        for key in self._client.scan_iter(match=glob_escape(self._prefix) + "*", count=500):
            yield (key.decode() if isinstance(key, bytes) else key)[n:]

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(name) and bool(self._client.exists(self._key(name)))
