"""msgpack encoding of trial documents and small values (results, partial results, times).

What round-trips, and how:

- ``str``, ``int`` (any size), ``float`` (NaN and infinities included), ``bool``, ``None``,
  ``bytes``, ``list`` and ``dict`` come back as themselves.
- ``tuple`` comes back as a ``tuple`` (an ext type), so ``misc['cmd']`` and any tuple in a
  result compare equal to the in-memory :class:`hqueue.Trials` documents.
- ``datetime.datetime`` round-trips exactly (microseconds included). Naive datetimes (the
  trial documents' naive UTC) come back naive; aware ones come back as the same instant in UTC.
- numpy scalars and arrays become plain Python values (:func:`hqueue.trial_doc.sonify`),
  ``bytearray``/``memoryview`` become ``bytes``, other subclasses of the types above (an
  ``IntEnum``, an ``OrderedDict``) become the base type.
- Anything else (a model object, a set) is refused with :class:`UnencodableValue`, naming
  where it sits in the document; store such objects as attachments instead.

A blob that is not valid (truncated, modified, not written by this codec) raises
:class:`CorruptTrialDocument`, never a raw msgpack error.

Example:
    >>> import datetime
    >>> doc = {"tid": 3, "misc": {"cmd": ("domain_attachment", "FMinIter_Domain")},
    ...        "book_time": datetime.datetime(2024, 5, 1, 12, 0, 0, 125000)}
    >>> decode_doc(encode_doc(doc)) == doc
    True
    >>> decode_value(encode_value((1, b"x")))
    (1, b'x')
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Mapping
from typing import Any

import msgpack

from ...exceptions import HqueueError
from ...trial_doc import sonify

__all__ = ["CorruptTrialDocument", "UnencodableValue", "decode_doc", "decode_value",
           "encode_doc", "encode_value"]

# ext type codes (never change one: documents already stored in Redis use them)
EXT_NAIVE_DATETIME = 1  # >q microseconds since 1970-01-01, naive (UTC by convention)
EXT_AWARE_DATETIME = 2  # >q microseconds since 1970-01-01T00:00Z, decoded in UTC
EXT_TUPLE = 3  # a msgpack array of the items
EXT_BIG_INT = 4  # two's complement big-endian bytes of an int outside the 64-bit range

_EPOCH = datetime.datetime(1970, 1, 1)
_EPOCH_UTC = _EPOCH.replace(tzinfo=datetime.timezone.utc)
_MICROSECOND = datetime.timedelta(microseconds=1)
_INT64 = struct.Struct(">q")
_SUPPORTED = "str, int, float, bool, None, bytes, list, tuple, dict, datetime, numpy values"


class CorruptTrialDocument(HqueueError, ValueError):
    """A stored blob is not a valid encoded trial document or value.

    ``key`` and ``tid`` say which one, when the caller knew.
    """

    def __init__(self, reason: str, key: str | None = None, tid: Any = None) -> None:
        where = "".join([f" at {key!r}" if key is not None else "",
                         f" (tid {tid})" if tid is not None else ""])
        super().__init__(
            f"corrupt trial data{where}: {reason}; it was truncated, modified, or written by "
            "something other than hqueue's codec: delete the key or restore it from a backup"
        )
        self.reason = reason
        self.key = key
        self.tid = tid


class UnencodableValue(HqueueError, TypeError):
    """A value of a type trial documents cannot hold (see the module docstring)."""


def encode_doc(doc: Mapping) -> bytes:
    """A trial document (or any part of one) as msgpack bytes.

    Example:
        >>> decode_doc(encode_doc({"tid": 0, "state": 1}))
        {'tid': 0, 'state': 1}
    """
    if not isinstance(doc, Mapping):
        raise UnencodableValue(f"a trial document must be a mapping, got {type(doc).__name__}")
    return _pack(sonify(dict(doc)), "doc")


def decode_doc(data: bytes, key: str | None = None, tid: Any = None) -> dict:
    """The document encoded by :func:`encode_doc`; ``key``/``tid`` only label errors.

    Example:
        >>> decode_doc(b"\\x81")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
          ...
        hqueue.backends.redis.codec.CorruptTrialDocument: corrupt trial data: ...
    """
    doc = _unpack(data, key, tid)
    if not isinstance(doc, dict):
        raise CorruptTrialDocument(f"expected a document (a map), found {type(doc).__name__}",
                                   key, tid)
    return doc


def encode_value(value: Any) -> bytes:
    """A small value (a result, a datetime, an error tuple) as msgpack bytes.

    Example:
        >>> decode_value(encode_value({"loss": 0.5, "status": "ok"}))
        {'loss': 0.5, 'status': 'ok'}
    """
    value = sonify(value)
    _check_nesting(value)
    return _pack(value, "value")


def decode_value(data: bytes, key: str | None = None, tid: Any = None) -> Any:
    """The value encoded by :func:`encode_value`; ``key``/``tid`` only label errors."""
    return _unpack(data, key, tid)


#: Containers a stored value may nest (MongoDB's limit for hyperopt's documents): readers of a
#: trial (the driver's deep copies, JSON export, the dashboard) recurse over it.
MAX_NESTING = 100


def _check_nesting(value: Any) -> None:
    """Refuse a value whose dicts, lists and tuples nest deeper than :data:`MAX_NESTING`."""
    level: list[Any] = [value]
    for _ in range(MAX_NESTING + 1):
        level = [child for obj in level if isinstance(obj, (dict, list, tuple))
                 for child in (obj.values() if isinstance(obj, dict) else obj)]
        if not level:
            return
    raise UnencodableValue(f"the value nests dicts/lists more than {MAX_NESTING} levels deep; "
                           "store a flatter structure, or save it as an attachment")


# -- packing --------------------------------------------------------------------------------
def _pack(obj: Any, root: str) -> bytes:
    try:
        return _packb(obj)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _unencodable(obj, root, exc) from None


def _packb(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True, strict_types=True, default=_default)


def _default(obj: Any) -> Any:
    """Called by msgpack (strict types) for everything it does not pack natively."""
    if isinstance(obj, datetime.datetime):
        return _datetime_ext(obj)
    if isinstance(obj, tuple):
        return msgpack.ExtType(EXT_TUPLE, _packb(list(obj)))
    if isinstance(obj, int):
        return _int(obj)
    for base in (float, str, bytes, list):
        if isinstance(obj, base):
            return base(obj)
    if isinstance(obj, (bytearray, memoryview)):
        return bytes(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _int(value: int) -> Any:
    value = int(value)
    if -(2**63) <= value < 2**64:
        return value
    size = (value.bit_length() + 8) // 8
    return msgpack.ExtType(EXT_BIG_INT, value.to_bytes(size, "big", signed=True))


def _datetime_ext(value: datetime.datetime) -> msgpack.ExtType:
    if value.tzinfo is None or value.utcoffset() is None:
        micros = (value.replace(tzinfo=None) - _EPOCH) // _MICROSECOND
        return msgpack.ExtType(EXT_NAIVE_DATETIME, _INT64.pack(micros))
    micros = (value - _EPOCH_UTC) // _MICROSECOND
    return msgpack.ExtType(EXT_AWARE_DATETIME, _INT64.pack(micros))


def _unencodable(obj: Any, root: str, exc: Exception) -> UnencodableValue:
    path, bad = _find_unsupported(obj, root)
    what = f"{path} (a {type(bad).__name__})" if path else f"{root} ({exc})"
    return UnencodableValue(
        f"cannot store {what} in a trial document: trial documents hold only {_SUPPORTED}; "
        "convert it, or save large or custom objects as attachments "
        "(ctrl.attachments[name] = pickle.dumps(obj))"
    )


def _find_unsupported(obj: Any, path: str) -> tuple[str | None, Any]:
    """The path and value of the first thing in ``obj`` the codec cannot encode."""
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            found = _find_unsupported(v, f"{path}[{k!r}]")
            if found[0] is not None:
                return found
        return None, None
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            found = _find_unsupported(v, f"{path}[{i}]")
            if found[0] is not None:
                return found
        return None, None
    plain = (str, int, float, bytes, bytearray, memoryview, datetime.datetime, type(None))
    return (None, None) if isinstance(obj, plain) else (path, obj)


# -- unpacking ------------------------------------------------------------------------------
def _unpack(data: bytes, key: str | None, tid: Any) -> Any:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CorruptTrialDocument(f"expected bytes, found {type(data).__name__}", key, tid)
    try:
        return _unpackb(data)
    except Exception as exc:  # any failure of untrusted bytes is corruption, by contract
        raise CorruptTrialDocument(f"{type(exc).__name__}: {exc}", key, tid) from exc


def _unpackb(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=False,
                           ext_hook=_ext_hook, timestamp=0)


def _ext_hook(code: int, data: bytes) -> Any:
    if code == EXT_NAIVE_DATETIME:
        return _EPOCH + datetime.timedelta(microseconds=_INT64.unpack(data)[0])
    if code == EXT_AWARE_DATETIME:
        return _EPOCH_UTC + datetime.timedelta(microseconds=_INT64.unpack(data)[0])
    if code == EXT_TUPLE:
        items = _unpackb(data)
        if not isinstance(items, list):
            raise ValueError("tuple ext does not hold an array")
        return tuple(items)
    if code == EXT_BIG_INT:
        if not data:
            raise ValueError("empty big int ext")
        return int.from_bytes(data, "big", signed=True)
    raise ValueError(f"unknown ext type {code}")
