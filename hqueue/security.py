"""Authenticated payloads: the shared secret, signed envelopes, the domain pickle, and a cache
that lets an objective load its data once per worker process.

Workers run code the driver sends them (the cloudpickled objective and space), so a worker
unpickles only bytes signed (HMAC-SHA256) with the secret it shares with the driver.

The secret (:func:`load_secret`):

- **One box**: nothing to set. The first driver or worker creates a random key file
  (``~/.config/hqueue/secret``, or under ``$XDG_CONFIG_HOME``, or ``$HQUEUE_SECRET_FILE``;
  mode 0600) and every process of that user on that box uses it.
- **Several machines**: set the same ``HQUEUE_SECRET`` for the driver and every worker, e.g.
  ``export HQUEUE_SECRET=$(cat ~/.config/hqueue/secret)`` on the driver's box and the same value
  in the workers' environment. Whoever knows the secret and can write to Redis can run code on
  the workers: treat it like a password.

The envelope written by :func:`sign` (version 1; integers big-endian)::

    magic     5 bytes  b"HQSIG"
    version   1 byte   1
    key id    8 bytes  HMAC-SHA256(secret, b"hqueue key id")[:8]   which secret signed
    context   8 bytes  SHA-256(context)[:8]                        what it was signed for
    length    8 bytes  len(payload)
    mac      32 bytes  HMAC-SHA256(secret, the 30 header bytes above
                                          || u32 len(context) || context || payload)
    payload

The MAC covers the whole header, so key id, context tag and length only serve to explain a
refusal (different secrets, replay under another experiment, truncation, modification).

Example:
    >>> blob = sign(b"payload", b"exp1", b"s3cret")
    >>> verify(blob, b"exp1", b"s3cret")
    b'payload'
    >>> verify(blob, b"exp2", b"s3cret")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    hqueue.security.SignatureError: payload was signed for a different experiment or purpose...
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import pickle
import secrets
import struct
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import cloudpickle

from .exceptions import BadArgument, HqueueError

__all__ = ["DomainTransferError", "SecretFileError", "SignatureError", "cached_per_process",
           "clear_process_cache", "domain_context", "dumps_domain", "key_fingerprint",
           "load_secret", "loads_domain", "process_cache", "secret_path", "sign", "verify"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

SECRET_ENV = "HQUEUE_SECRET"
SECRET_FILE_ENV = "HQUEUE_SECRET_FILE"
MAGIC = b"HQSIG"
VERSION = 1
_PREFIX = struct.Struct(">5sB8s8sQ")  # magic, version, key id, context tag, payload length
_MAC_SIZE = 32
HEADER_SIZE = _PREFIX.size + _MAC_SIZE
_U32 = struct.Struct(">I")
_MIN_SECRET = 16
_EMPTY_KEY_WAIT_S = 2.0  # how long an empty key file may be (a creator still writing it)


class SignatureError(HqueueError):
    """A payload failed authentication; the message says how to fix it.

    ``reason`` is one of ``"not_signed"``, ``"truncated"``, ``"version"``, ``"wrong_secret"``,
    ``"wrong_context"``, ``"modified"``, ``"digest"``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class SecretFileError(HqueueError):
    """The per-user key file is unsafe (readable by others) or unusable."""


class DomainTransferError(HqueueError):
    """The objective and space could not be pickled (driver) or loaded (worker)."""


# -- the secret -----------------------------------------------------------------------------
def load_secret(env: Mapping[str, str] = os.environ) -> bytes:
    """The shared secret: ``HQUEUE_SECRET`` if set, else the per-user key file.

    The key file (see :func:`secret_path`) is created on first use with 32 random bytes written
    as hex, mode 0600, atomically: processes racing to create it all end up with one key.
    Surrounding whitespace is ignored, so ``HQUEUE_SECRET=$(cat KEYFILE)`` elsewhere gives the
    same secret as the file itself.

    Example:
        >>> load_secret({"HQUEUE_SECRET": "correct horse battery staple"})
        b'correct horse battery staple'
    """
    value = env.get(SECRET_ENV, "").strip()
    if value:
        if len(value.encode()) < _MIN_SECRET:
            logger.warning("%s is shorter than %d bytes: use a long random value, e.g. "
                           "`python -c 'import secrets; print(secrets.token_hex(32))'`",
                           SECRET_ENV, _MIN_SECRET)
        return value.encode()
    path = secret_path(env)
    try:
        try:
            return _read_key_file(path)
        except FileNotFoundError:
            _create_key_file(path)
        return _read_key_file(path)
    except OSError as exc:
        raise SecretFileError(f"cannot use the hqueue key file {path} ({exc}): set "
                              f"{SECRET_ENV}, or {SECRET_FILE_ENV} to a usable path") from exc


def secret_path(env: Mapping[str, str] = os.environ) -> Path:
    """Where the key file lives: ``$HQUEUE_SECRET_FILE``, else ``$XDG_CONFIG_HOME/hqueue/secret``,
    else ``~/.config/hqueue/secret``.

    Example:
        >>> str(secret_path({"HOME": "/home/ada"}))
        '/home/ada/.config/hqueue/secret'
    """
    explicit = env.get(SECRET_FILE_ENV, "")
    if explicit:
        return Path(explicit).expanduser()
    config = env.get("XDG_CONFIG_HOME", "")
    if not (config and os.path.isabs(config)):
        config = os.path.join(env.get("HOME") or str(Path.home()), ".config")
    return Path(config) / "hqueue" / "secret"


def key_fingerprint(secret: bytes) -> str:
    """A short public id of a secret, to compare driver and workers without showing it.

    Example:
        >>> key_fingerprint(b"s3cret") == key_fingerprint(b"s3cret") != key_fingerprint(b"x")
        True
    """
    return _key_id(secret).hex()


def _create_key_file(path: Path) -> None:
    """Write a fresh key next to ``path`` and link it into place; the first link wins."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        _write_key(fd)
        try:
            os.link(tmp, path)
            logger.info("created the hqueue key file %s", path)
        except FileExistsError:
            pass  # another process created it first: everyone uses that one
        except OSError:  # no hard links on this file system: create in place
            _create_in_place(path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _create_in_place(path: Path) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    _write_key(fd)


def _write_key(fd: int) -> None:
    with os.fdopen(fd, "wb") as f:
        if hasattr(os, "fchmod"):
            os.fchmod(f.fileno(), 0o600)
        f.write(secrets.token_hex(32).encode() + b"\n")
        f.flush()
        os.fsync(f.fileno())


def _read_key_file(path: Path) -> bytes:
    """The key in ``path``; waits briefly while a racing creator is still writing it."""
    deadline = time.monotonic() + _EMPTY_KEY_WAIT_S
    while True:
        with open(path, "rb") as f:
            _check_permissions(path, os.fstat(f.fileno()))
            key = f.read().strip()
        if key:
            return key
        if time.monotonic() > deadline:
            raise SecretFileError(f"the hqueue key file {path} is empty: delete it (a new key "
                                  "is created on next use) or write the shared secret into it")
        time.sleep(0.02)


def _check_permissions(path: Path, st: os.stat_result) -> None:
    if os.name == "nt" or not st.st_mode & 0o077:
        return
    raise SecretFileError(
        f"the hqueue key file {path} is accessible to other users (mode "
        f"{st.st_mode & 0o777:o}); whoever can read it can run code on your workers: "
        f"run `chmod 600 {path}`"
    )


# -- signed envelopes -----------------------------------------------------------------------
def sign(payload: bytes, context: bytes, secret: bytes) -> bytes:
    """``payload`` in a signed envelope bound to ``context`` (see the module docstring).

    Example:
        >>> sign(b"data", b"exp1", b"s3cret")[:6]
        b'HQSIG\\x01'
    """
    context, secret = _as_bytes(context, "context"), _check_secret(secret)
    prefix = _PREFIX.pack(MAGIC, VERSION, _key_id(secret), _context_tag(context), len(payload))
    return prefix + _mac(secret, prefix, context, payload) + bytes(payload)


def verify(blob: bytes, context: bytes, secret: bytes) -> bytes:
    """The payload of an envelope made by :func:`sign` with the same context and secret.

    Raises :class:`SignatureError` (never returns unauthenticated bytes) when the blob is not
    signed, truncated, of another envelope version, signed with another secret, signed for
    another context, or modified.

    Example:
        >>> verify(sign(b"data", b"exp1", b"s3cret"), b"exp1", b"s3cret")
        b'data'
    """
    context, secret = _as_bytes(context, "context"), _check_secret(secret)
    view = memoryview(blob)
    if bytes(view[:len(MAGIC)]) != MAGIC:
        raise _not_signed(view)
    if len(view) < HEADER_SIZE:
        raise _truncated(len(view), HEADER_SIZE)
    _, version, key_id, tag, length = _PREFIX.unpack(view[:_PREFIX.size])
    if version != VERSION:
        raise SignatureError("version", f"payload uses signature envelope version {version}; "
                             f"this hqueue reads version {VERSION}: run the same hqueue "
                             "version on the driver and the workers")
    payload = view[HEADER_SIZE:]
    if len(payload) < length:
        raise _truncated(len(view), HEADER_SIZE + length)
    expected = _mac(secret, view[:_PREFIX.size], context, payload)
    if len(payload) == length and hmac.compare_digest(expected, view[_PREFIX.size:HEADER_SIZE]):
        return bytes(payload)
    raise _mismatch(secret, key_id, context, tag)


def _mac(secret: bytes, prefix: bytes | memoryview, context: bytes,
         payload: bytes | memoryview) -> bytes:
    mac = hmac.new(secret, prefix, hashlib.sha256)
    mac.update(_U32.pack(len(context)))
    mac.update(context)
    mac.update(payload)
    return mac.digest()


def _key_id(secret: bytes) -> bytes:
    return hmac.new(_check_secret(secret), b"hqueue key id", hashlib.sha256).digest()[:8]


def _context_tag(context: bytes) -> bytes:
    return hashlib.sha256(context).digest()[:8]


def _as_bytes(value: bytes | str, name: str) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise BadArgument(f"{name} must be bytes or str, got {type(value).__name__}")


def _check_secret(secret: bytes) -> bytes:
    if not isinstance(secret, (bytes, bytearray)) or not secret:
        raise BadArgument("the secret must be non-empty bytes: use hqueue.security.load_secret()")
    return bytes(secret)


def _not_signed(view: memoryview) -> SignatureError:
    raw_pickle = "; it looks like a raw pickle" if bytes(view[:1]) == b"\x80" else ""
    return SignatureError("not_signed", f"payload is not signed by hqueue{raw_pickle}: refusing "
                          "to unpickle it. Workers only accept payloads stored by an hqueue "
                          "driver: submit the experiment with hqueue.fmin / RedisTrials")


def _truncated(got: int, needed: int) -> SignatureError:
    return SignatureError("truncated", f"signed payload is truncated ({got} bytes, expected "
                          f"{needed}): it was cut in storage or transit; run the driver again "
                          "to store it anew")


def _mismatch(secret: bytes, key_id: bytes, context: bytes, tag: bytes) -> SignatureError:
    if not hmac.compare_digest(key_id, _key_id(secret)):
        return SignatureError(
            "wrong_secret", f"the driver and this worker use different secrets (payload signed "
            f"with key {key_id.hex()}, this process has {key_fingerprint(secret)}): set the same "
            f"{SECRET_ENV} on both")
    if tag != _context_tag(context):
        return SignatureError(
            "wrong_context", "payload was signed for a different experiment or purpose and is "
            "refused here (a replay, or keys copied between experiments): run the driver again "
            "for this experiment")
    return SignatureError(
        "modified", "payload was modified after it was signed: refusing it. Check who can "
        "write to Redis (require a password or ACL user) and run the driver again")


# -- the domain -----------------------------------------------------------------------------
_BY_VALUE_LOCK = threading.Lock()


def domain_context(exp_key: str) -> bytes:
    """The signing context of an experiment's domain (binds the blob to ``exp_key``).

    Example:
        >>> domain_context("exp1")
        b'hqueue/domain\\x00exp1'
    """
    if not isinstance(exp_key, str):
        raise BadArgument(f"exp_key must be a str, got {type(exp_key).__name__}")
    return b"hqueue/domain\x00" + exp_key.encode()


def dumps_domain(domain: Domain, exp_key: str, secret: bytes,
                 by_value: Iterable[ModuleType] = ()) -> tuple[str, bytes]:
    """``(digest, signed_blob)``: the cloudpickled domain, signed for ``exp_key``.

    ``digest`` is the SHA-256 hex of the pickle (its content address). Functions defined in
    ``__main__`` or a notebook travel by value; pass the modules of your own project that the
    workers cannot import as ``by_value`` to ship them too.

    Example:
        >>> digest, blob = dumps_domain({"fn": abs}, "exp1", b"s3cret")
        >>> loads_domain(blob, "exp1", b"s3cret", expected_digest=digest)
        {'fn': <built-in function abs>}
    """
    context = domain_context(exp_key)
    pickled = _pickle(domain, tuple(by_value))
    return hashlib.sha256(pickled).hexdigest(), sign(pickled, context, secret)


def loads_domain(blob: bytes, exp_key: str, secret: bytes,
                 expected_digest: str | None = None) -> Any:
    """The domain in ``blob``; unpickled only after the signature (and digest) check out.

    Example:
        >>> loads_domain(pickle.dumps("x"), "exp1", b"s3cret")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
          ...
        hqueue.security.SignatureError: domain of experiment 'exp1': payload is not signed...
    """
    try:
        payload = verify(blob, domain_context(exp_key), secret)
    except SignatureError as exc:
        raise SignatureError(exc.reason, f"domain of experiment {exp_key!r}: {exc}") from None
    if expected_digest is not None:
        digest = hashlib.sha256(payload).hexdigest()
        if not hmac.compare_digest(digest, expected_digest.lower()):
            raise SignatureError("digest", f"domain of experiment {exp_key!r} has digest "
                                 f"{digest}, not {expected_digest}: it is stored under the "
                                 "wrong key; run the driver again to store it anew")
    try:
        return cloudpickle.loads(payload)
    except Exception as exc:
        raise DomainTransferError(
            f"the objective of experiment {exp_key!r} cannot be loaded on this worker "
            f"({type(exc).__name__}: {exc}): install the modules it imports on the worker, or "
            "ship your own modules with dumps_domain(..., by_value=[module])") from exc


def _pickle(domain: Domain, by_value: tuple[ModuleType, ...]) -> bytes:
    with _BY_VALUE_LOCK:
        known = cloudpickle.list_registry_pickle_by_value()
        added = [m for m in by_value if m.__name__ not in known]
        for module in added:
            cloudpickle.register_pickle_by_value(module)
        try:
            return cloudpickle.dumps(domain, protocol=pickle.DEFAULT_PROTOCOL)
        except Exception as exc:
            raise DomainTransferError(
                f"the objective or search space cannot be sent to workers ({type(exc).__name__}"
                f": {exc}): it must not hold open files, locks, connections or GPU handles; "
                "create those inside the objective (see process_cache)") from exc
        finally:
            for module in added:
                cloudpickle.unregister_pickle_by_value(module)


# the per-process cache moved to hqueue.cache; re-exported for callers of this module
from .cache import cached_per_process, clear_process_cache, process_cache  # noqa: E402

if TYPE_CHECKING:
    from .domain import Domain
