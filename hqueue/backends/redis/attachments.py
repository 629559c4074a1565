"""Attachments in Redis keys of their own (never inside trial documents), with a size cap.

One class serves the experiment's attachments (``RedisTrials.attachments``), a trial's
attachments seen from the driver (``trials.trial_attachments(doc)``) and from the running
objective (``ctrl.attachments``).

How a value is stored:

- up to ``chunk_bytes`` (4 MiB): one string at the attachment's key, as is;
- larger: in pieces of ``chunk_bytes``, each a string key of its own
  (``hq:{exp}:chunk:<version>:<i>``, see :mod:`.keys`), written one by one so no single
  command holds Redis for long; then the attachment's key becomes a small hash, the manifest
  ``{version, chunks, size}``, switched in one atomic script (``attach_swap.lua``). A reader
  follows the manifest it read; the chunks of a version are deleted only after the manifest
  moved on, and a reader that finds one gone reads the new manifest again, so it never sees a
  half-written or mixed value. Overwriting or deleting a value deletes its old chunks. Chunks
  carry a 24 h expiry until their manifest is switched in, so a writer that dies mid-write
  leaves nothing behind for long.

Example:
    >>> import fakeredis
    >>> from hqueue.backends.redis.keys import ExperimentKeys
    >>> keys = ExperimentKeys("demo")
    >>> att = RedisAttachments(fakeredis.FakeRedis(), lambda n: keys.trial_attachment(3, n),
    ...                        "trial 3", max_bytes=100, chunk_bytes=8)
    >>> att["weights"] = b"\\x00\\x01"
    >>> att["log"] = "twenty bytes of text"  # 3 chunks of at most 8 bytes
    >>> sorted(att), att["weights"], att["log"]
    (['log', 'weights'], b'\\x00\\x01', b'twenty bytes of text')
    >>> del att["log"]
    >>> list(att)
    ['weights']
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, MutableMapping
from importlib import resources
from typing import TYPE_CHECKING, Any

from ...exceptions import BadArgument, HqueueError
from .damaged import naming
from .keys import ExperimentKeys

if TYPE_CHECKING:
    from redis import Redis

CHUNK_BYTES = 4 * 2**20  # values larger than this are stored in chunks of this size
ORPHAN_TTL_MS = 24 * 3600 * 1000  # expiry of chunks not (yet) switched in
READ_ATTEMPTS = 8  # manifest re-reads when a concurrent overwrite deleted the chunks read


class AttachmentTooLarge(HqueueError, ValueError):
    """An attachment is larger than the experiment's ``max_attachment_bytes``."""


class CorruptAttachment(HqueueError):
    """A chunked attachment's manifest points at chunks that are gone."""


def glob_escape(text: str) -> str:
    """``text`` with Redis glob metacharacters escaped, for SCAN patterns.

    Example:
        >>> glob_escape("a*b")
        'a\\\\*b'
    """
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _load_swap_script(client: Redis) -> Any:
    source = resources.files(__package__).joinpath("scripts", "attach_swap.lua").read_text()
    return client.register_script(source)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisAttachments(MutableMapping):
    """Named byte strings, one Redis key each (``key_for(name)``), listed with SCAN.

    ``owner`` names whose attachments these are, in error messages ("trial 3"); ``guard``,
    when given, is called before every write (the worker uses it to refuse writes once the
    trial is no longer its own). Values over ``chunk_bytes`` are stored in chunks (see the
    module docstring).
    """

    def __init__(self, client: Redis, key_for: Callable[[str], str], owner: str,
                 max_bytes: int, guard: Callable[[], None] | None = None,
                 chunk_bytes: int = CHUNK_BYTES) -> None:
        if chunk_bytes < 1:
            raise BadArgument(f"chunk_bytes must be >= 1, got {chunk_bytes}")
        self._client, self._key_for, self._owner = client, key_for, owner
        self._max, self._guard, self._chunk = int(max_bytes), guard, int(chunk_bytes)
        self._prefix = key_for("")
        self._swap = _load_swap_script(client)

    # -- keys -----------------------------------------------------------------------------
    def _key(self, name: str) -> str:
        if not isinstance(name, str) or not name:
            raise BadArgument(f"attachment names are non-empty str, got {name!r}")
        return self._key_for(name)

    def _chunk_keys(self, key: str, version: str, n: int) -> list[str]:
        """The chunk keys of ``version``: in the experiment of ``key`` (same hash tag)."""
        if "{" in key and "}" in key:
            exp_key = key[key.index("{") + 1:key.index("}")]
            keys = ExperimentKeys(exp_key)
            return [keys.attachment_chunk(version, i) for i in range(n)]
        return [f"{key}\x00chunk:{version}:{i}" for i in range(n)]  # a key_for without tag

    # -- reading --------------------------------------------------------------------------
    def __getitem__(self, name: str) -> bytes:
        from redis.exceptions import ResponseError  # lazily: ``import hqueue`` needs no redis

        key = self._key(name)
        for _ in range(READ_ATTEMPTS):
            try:
                value = self._client.get(key)
            except ResponseError as exc:  # WRONGTYPE: the key holds a chunked value's manifest
                if "WRONGTYPE" not in str(exc):
                    raise
            else:
                if value is None:
                    raise KeyError(name)
                return value
            with naming(key):  # neither a string nor a manifest hash: damaged
                value = self._read_chunked(key)
            if value is not None:
                return value
        raise CorruptAttachment(
            f"attachment {name!r} of {self._owner} at {key!r}: its chunks kept disappearing "
            f"while read ({READ_ATTEMPTS} tries: overwritten that often meanwhile, or deleted "
            "by something other than hqueue); read it again or write it anew")

    def _read_chunked(self, key: str) -> bytes | None:
        """The value of a manifest, or None when it changed before its chunks were read.

        The manifest is WATCHed and the chunks read in one MULTI, so the read is a consistent
        snapshot in two round trips: an overwrite (which swaps the manifest and deletes the old
        chunks atomically) in between makes EXEC fail instead of returning a mixed value."""
        from redis.exceptions import WatchError

        with self._client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)
                version, n, size = pipe.hmget(key, "version", "chunks", "size")
                if version is None or n is None or size is None:
                    return None
                pipe.multi()
                for chunk_key in self._chunk_keys(key, _text(version), int(n)):
                    pipe.get(chunk_key)
                parts = pipe.execute()
            except WatchError:
                return None  # overwritten or deleted meanwhile: read the manifest again
        if any(part is None for part in parts):
            return None  # chunks deleted by something other than hqueue
        value = b"".join(parts)
        return value if len(value) == int(size) else None

    def size(self, name: str) -> int:
        """The size in bytes of attachment ``name`` without reading it (KeyError if absent).

        Use this, not ``STRLEN``: a chunked value's key holds its manifest, not its bytes.

        Example:
            >>> import fakeredis
            >>> att = RedisAttachments(fakeredis.FakeRedis(), lambda n: f"hq:{{e}}:attach:exp:{n}",
            ...                        "experiment e", max_bytes=100, chunk_bytes=4)
            >>> att["a"], att["b"] = b"abc", b"0123456789"
            >>> att.size("a"), att.size("b")
            (3, 10)
        """
        from redis.exceptions import ResponseError

        key = self._key(name)
        try:
            n = int(self._client.strlen(key))
        except ResponseError as exc:  # WRONGTYPE: a chunked value's manifest
            if "WRONGTYPE" not in str(exc):
                raise
            size = self._client.hget(key, "size")
            if size is None:
                raise KeyError(name) from None
            return int(size)
        if n == 0 and not self._client.exists(key):
            raise KeyError(name)
        return n

    def __iter__(self) -> Iterator[str]:
        n = len(self._prefix)
        for key in self._client.scan_iter(match=glob_escape(self._prefix) + "*", count=500):
            yield (key.decode() if isinstance(key, bytes) else key)[n:]

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(name) and bool(self._client.exists(self._key(name)))

    # -- writing --------------------------------------------------------------------------
    def __setitem__(self, name: str, value: bytes | str) -> None:
        data = self._bytes(name, value)
        if self._guard is not None:
            self._guard()
        key = self._key(name)
        if len(data) <= self._chunk:
            self._switch(key, "inline", data)
            return
        version = uuid.uuid4().hex
        view, step = memoryview(data), self._chunk
        chunk_keys = self._chunk_keys(key, version, -(-len(data) // step))
        try:
            for i, chunk_key in enumerate(chunk_keys):
                self._client.set(chunk_key, view[i * step:(i + 1) * step], px=ORPHAN_TTL_MS)
            self._switch(key, "chunked", version, len(data), chunk_keys=chunk_keys)
        except BaseException:
            try:
                self._client.unlink(*chunk_keys)
            except Exception:  # they expire on their own
                pass
            raise

    def __delitem__(self, name: str) -> None:
        if self._guard is not None:
            self._guard()
        if not self._switch(self._key(name), "delete"):
            raise KeyError(name)

    def _bytes(self, name: str, value: Any) -> bytes:
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
        return data

    def _switch(self, key: str, mode: str, value: bytes | str = b"", size: int = 0,
                chunk_keys: list[str] | None = None) -> bool:
        """Replace or delete the value at ``key`` atomically, then delete the chunks of the
        value it replaced; True if there was one."""
        existed, old_version, old_n = self._swap(keys=[key, *(chunk_keys or [])],
                                                 args=[mode, value, size])
        if int(existed) < 0:
            raise CorruptAttachment(f"attachment at {key!r} of {self._owner}: chunks expired "
                                    "or were deleted before the write completed; write it again")
        if int(old_n) > 0:
            self._client.unlink(*self._chunk_keys(key, _text(old_version), int(old_n)))
        return bool(int(existed))
