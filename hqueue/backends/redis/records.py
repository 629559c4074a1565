"""The experiment-level records in Redis, owned by one object: :class:`ExperimentRecords`.

Trials are the store's (:mod:`.store`); everything else an experiment has is here: the meta
hash (written once by the driver, parsed once into :class:`ExperimentOptions`, defaults once),
the signed domain blob, the experiments set, the driver's lease (:class:`DriverLock`), the
event stream of finished trials, and deleting the whole experiment (bounded batches).

Meta fields (a missing field takes the default shown):

========================  ===================================================================
``domain``                SHA-256 hex digest of the domain pickle (required to run a trial)
``lease_s``               lease length in seconds (30); heartbeats renew it every third of it
``max_retries``           claims before a repeatedly lost trial becomes ERROR (3)
``trial_timeout``         seconds a trial may run; empty means no limit
``max_attachment_bytes``  size cap of one attachment (64 MiB)
``queue``                 Celery queue of the experiment's tasks ("hqueue")
``pruner``                the pruner workers judge reports with, as JSON
                          (:mod:`hqueue.pruners.spec`); empty means the default ASHA
``created``               epoch seconds of the last publication
``space``                 the space's signature (JSON), to refuse another space
``segment``               the current segment (:mod:`.segments`; 0 when absent)
========================  ===================================================================

Example:
    >>> import fakeredis
    >>> records = ExperimentRecords(fakeredis.FakeRedis(), "exp1")
    >>> records.publish("ab12", b"signed blob", ExperimentOptions(lease_s=12.0))
    >>> records.options().lease_s, records.options().queue, records.domain_blob("ab12")
    (12.0, 'hqueue', b'signed blob')
    >>> list_experiments(records.client)
    ['exp1']
    >>> records.delete() > 0, list_experiments(records.client)
    (True, [])
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

from ...exceptions import HqueueError
from ...tasks import DEFAULT_QUEUE
from .damaged import guarded, naming
from .keys import EXPERIMENTS, ExperimentKeys
from .segments import parse_segment

if TYPE_CHECKING:
    from redis import Redis

logger = logging.getLogger(__name__)

DEFAULT_LEASE_S = 30.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_ATTACHMENT_BYTES = 64 * 2**20
DEFAULT_MAX_RESULT_BYTES = 64 * 2**20
REDIS_MAX_BULK_BYTES = 512 * 2**20 - 2**16  # Redis's default proto-max-bulk-len, less room
DELETE_BATCH = 500  # keys per DEL when an experiment is deleted


def load_script(name: str) -> str:
    """The text of ``scripts/<name>.lua`` after the shared prelude (``hq_do``/``hq_undo`` and
    ``hq_expect``: damaged keys refused as :mod:`hqueue.backends.redis.damaged` reports them).

    Example:
        >>> load_script("driver_lock").startswith("--")
        True
    """
    scripts = resources.files(__package__).joinpath("scripts")
    return scripts.joinpath("_prelude.lua").read_text() + \
        scripts.joinpath(f"{name}.lua").read_text()


def text(value: Any) -> str:
    """A Redis reply (bytes or str) as text.

    Example:
        >>> text(b"gpu"), text(3)
        ('gpu', '3')
    """
    return value.decode() if isinstance(value, bytes) else str(value)


class UnknownExperiment(HqueueError):
    """The experiment key names no experiment in this Redis."""


class DriverBusy(HqueueError):
    """Another driver is already running this experiment."""


@dataclass(frozen=True)
class ExperimentOptions:
    """The experiment's options as the driver published them (see the module docstring)."""

    digest: str | None = None
    lease_s: float = DEFAULT_LEASE_S
    max_retries: int = DEFAULT_MAX_RETRIES
    trial_timeout: float | None = None
    max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES
    queue: str = DEFAULT_QUEUE
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES
    pruner: str = ""  # a pruner spec as JSON (hqueue.pruners.spec); "" = the default ASHA
    segment: int = 0  # read only: the driver writes it when a segment starts (publish)

    def as_meta(self) -> dict[str, Any]:
        """The meta hash fields these options are written as (``domain`` and ``segment``
        aside)."""
        return {"queue": self.queue, "lease_s": self.lease_s, "max_retries": self.max_retries,
                "trial_timeout": "" if self.trial_timeout is None else self.trial_timeout,
                "max_attachment_bytes": self.max_attachment_bytes,
                "max_result_bytes": self.max_result_bytes, "pruner": self.pruner}


def parse_options(fields: Mapping[Any, Any]) -> ExperimentOptions:
    """Options from the raw meta hash (bytes or str keys and values; bad numbers fall back to
    the defaults with a warning).

    Example:
        >>> parse_options({b"domain": b"ab12", b"trial_timeout": b"2.5"}).trial_timeout
        2.5
    """
    meta = {text(k): text(v).strip() for k, v in fields.items()}

    def number(name: str, kind: type, default: Any) -> Any:
        raw = meta.get(name, "")
        if raw in ("", "None"):
            return default
        try:
            return kind(float(raw)) if kind is int else kind(raw)
        except ValueError:
            logger.warning("experiment meta field %r=%r is not a number; using %r",
                           name, raw, default)
            return default

    lease_s = number("lease_s", float, DEFAULT_LEASE_S)
    timeout = number("trial_timeout", float, None)
    return ExperimentOptions(
        digest=meta.get("domain") or None,
        lease_s=lease_s if lease_s > 0 else DEFAULT_LEASE_S,
        max_retries=number("max_retries", int, DEFAULT_MAX_RETRIES),
        trial_timeout=timeout if timeout is not None and timeout > 0 else None,
        max_attachment_bytes=number("max_attachment_bytes", int, DEFAULT_MAX_ATTACHMENT_BYTES),
        queue=meta.get("queue") or DEFAULT_QUEUE,
        max_result_bytes=min(number("max_result_bytes", int, DEFAULT_MAX_RESULT_BYTES),
                             REDIS_MAX_BULK_BYTES),
        pruner=meta.get("pruner", ""),
        segment=parse_segment(meta),
    )


def parse_created(raw: str | None) -> datetime.datetime | None:
    """The meta ``created`` field as an aware UTC datetime (None when absent or not a number).

    Example:
        >>> parse_created("0").year, parse_created("x")
        (1970, None)
    """
    try:
        value = float(raw) if raw else None
    except ValueError:
        return None
    if value is None or not math.isfinite(value):
        return None
    return datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)


def list_experiments(client: Redis) -> list[str]:
    """The experiment keys in ``hq:experiments``, sorted.

    Example:
        >>> import fakeredis
        >>> client = fakeredis.FakeRedis()
        >>> _ = client.sadd("hq:experiments", "b", "a")
        >>> list_experiments(client)
        ['a', 'b']
    """
    return sorted(text(e) for e in client.smembers(EXPERIMENTS))


def require_experiment(client: Redis, exp_key: str | None) -> str:
    """``exp_key`` (None means "default") if the experiment exists, else
    :class:`UnknownExperiment` naming the known ones.

    Example:
        >>> import fakeredis
        >>> client = fakeredis.FakeRedis()
        >>> _ = client.sadd("hq:experiments", "exp1")
        >>> require_experiment(client, "exp1")
        'exp1'
        >>> try:
        ...     require_experiment(client, "typo")
        ... except UnknownExperiment as e:
        ...     print(e)
        no experiment 'typo' in this Redis; known experiments: exp1 (pass one with --exp-key)
    """
    key = ExperimentKeys(exp_key).exp_key
    known = list_experiments(client)
    if key in known:
        return key
    listed = ", ".join(known) if known else "none yet (run a search with RedisTrials first)"
    raise UnknownExperiment(f"no experiment {key!r} in this Redis; known experiments: "
                            f"{listed} (pass one with --exp-key)")


class ExperimentRecords:
    """The experiment-level keys of one experiment (see the module docstring)."""

    def __init__(self, client: Redis, exp_key: str | None) -> None:
        self.client = client
        self.keys = ExperimentKeys(exp_key)
        self.exp_key = self.keys.exp_key

    # -- meta and domain ------------------------------------------------------------------
    def publish(self, digest: str, blob: bytes, options: ExperimentOptions,
                space: str = "", segment: int | None = None) -> None:
        """Store the signed domain (content-addressed; rewritten only when missing or damaged),
        write the meta hash (with the space's signature, JSON, and a new ``segment`` when
        given: one HSET, so the space and its segment change together) and register the
        experiment."""
        if self.client.get(self.keys.domain(digest)) != blob:
            self.client.set(self.keys.domain(digest), blob)
        extra: dict[str, Any] = {"space": space} if space else {}
        if segment is not None:
            extra["segment"] = int(segment)
        self.client.hset(self.keys.meta, mapping={**options.as_meta(), "domain": digest,
                                                  "created": time.time(), **extra})
        self.register()

    def meta(self) -> dict[str, str]:
        """The raw meta hash as text (empty before the first publication). Raises
        :class:`~hqueue.backends.redis.damaged.DamagedKey` when the meta key is not a hash."""
        with naming(self.keys.meta):
            raw = self.client.hgetall(self.keys.meta)
        return {text(k): text(v) for k, v in raw.items()}

    def meta_fields(self, *names: str) -> dict[str, str]:
        """Some fields of the meta hash as text (those present), in one HMGET.

        Example:
            >>> import fakeredis
            >>> records = ExperimentRecords(fakeredis.FakeRedis(), "e")
            >>> _ = records.client.hset(records.keys.meta, "segment", 2)
            >>> records.meta_fields("segment", "space")
            {'segment': '2'}
        """
        with naming(self.keys.meta):
            values = self.client.hmget(self.keys.meta, list(names))
        return {n: text(v) for n, v in zip(names, values) if v is not None}

    def options(self) -> ExperimentOptions:
        """The published options (the defaults where the meta hash has none)."""
        return parse_options(self.meta())

    def domain_blob(self, digest: str) -> bytes | None:
        """The signed domain stored under ``digest`` (None when missing)."""
        return self.client.get(self.keys.domain(digest))

    # -- the experiments set and deletion -------------------------------------------------
    def register(self) -> None:
        """Add the experiment to ``hq:experiments`` (what ``hqueue status`` lists)."""
        with naming(EXPERIMENTS):
            self.client.sadd(EXPERIMENTS, self.exp_key)

    def all_keys(self) -> list[bytes]:
        """Every Redis key of the experiment (``hq:{exp}:*``, by SCAN)."""
        from .attachments import glob_escape

        return list(self.client.scan_iter(match=glob_escape(self.keys.base) + ":*", count=1000))

    def delete(self) -> int:
        """Delete every key of the experiment, ``DELETE_BATCH`` keys per command, and its entry
        in ``hq:experiments``; returns how many keys were deleted."""
        keys, deleted = self.all_keys(), 0
        for i in range(0, len(keys), DELETE_BATCH):
            deleted += int(self.client.delete(*keys[i:i + DELETE_BATCH]))
        self.client.srem(EXPERIMENTS, self.exp_key)
        return deleted

    # -- the driver's lease and the event stream ------------------------------------------
    def driver_holder(self) -> str | None:
        """Id of the driver holding the experiment, or None."""
        holder = self.client.get(self.keys.driver)
        return None if holder is None else text(holder)

    def latest_event(self) -> Any:
        """Id of the last entry of the finished-trials stream ("0-0" when empty)."""
        with naming(self.keys.events):
            last = self.client.xrevrange(self.keys.events, count=1)
        return last[0][0] if last else "0-0"

    def wait_for_event(self, after: Any, block_s: float) -> Any:
        """Block until a trial finishes after event ``after`` (at most ``block_s``); the id of
        the last event read (``after`` when none came)."""
        with naming(self.keys.events):
            reply = self.client.xread({self.keys.events: after}, block=int(block_s * 1000),
                                      count=1000)
        return reply[0][1][-1][0] if reply else after

    def lock(self, ttl_s: float) -> DriverLock:
        """A :class:`DriverLock` on this experiment."""
        return DriverLock(self, ttl_s)


class HoldsKeys(Protocol):
    """Anything with an experiment's ``client`` and ``keys`` (records, a store, RedisTrials)."""

    client: Redis
    keys: ExperimentKeys


class DriverLock:
    """A lease on the experiment so two drivers never feed one experiment by mistake.

    Taken with ``SET NX PX``; renewed and released by one script that checks the holder
    first, so a driver never extends or deletes another driver's lease. ``owner`` is anything
    with ``client`` and ``keys`` (an :class:`ExperimentRecords`, a ``RedisTrials``).

    The lease's value says who holds it (:func:`driver_token`: host, PID namespace, PID), so a
    driver that was killed (a notebook kernel restart, an OOM kill) is taken over at once by
    the next one on the same machine. A holder on another machine cannot be checked: the new
    driver waits for its lease to lapse (at most ``ttl_s``), saying so, and takes over then;
    a holder that keeps renewing is alive, and the new driver stops with :class:`DriverBusy`.
    """

    def __init__(self, owner: HoldsKeys, ttl_s: float) -> None:
        self.client, self.key = owner.client, owner.keys.driver
        self.ttl_ms = int(ttl_s * 1000)
        self.token = driver_token()
        self.script = guarded(self.client.register_script(load_script("driver_lock")))

    def acquire(self) -> None:
        """Take the lease: at once when it is free or its holder is a dead process on this
        machine; after waiting for it to lapse when the holder is elsewhere; else
        :class:`DriverBusy`."""
        if self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            return
        with naming(self.key):
            value = self.client.get(self.key)
        holder = text(value) if value is not None else ""
        if holder and holder_is_dead(holder):
            if int(self.script(keys=[self.key], args=[self.token, self.ttl_ms, "takeover",
                                                      holder])):
                logger.warning("took the experiment over from driver %s, whose process is "
                               "gone", holder)
                return
        elif holder and not holder_is_here(holder):
            logger.warning("experiment is held by driver %s on another machine: waiting up to "
                           "%d s for its lease to lapse (stop that driver, or use another "
                           "exp_key)", holder, math.ceil(self.ttl_ms / 1000))
            deadline = time.monotonic() + self.ttl_ms / 1000 + 0.5
            while time.monotonic() < deadline:
                if self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
                    return
                time.sleep(0.2)
        raise DriverBusy(f"experiment is already driven by another fmin (driver {holder!r}, "
                         "alive); stop it or use another exp_key")

    def renew(self) -> None:
        """Keep the lease (or retake it if it lapsed); DriverBusy if another driver took it
        while this one was cut off from Redis."""
        if not int(self.script(keys=[self.key], args=[self.token, self.ttl_ms, "renew"])):
            raise DriverBusy("another fmin took over this experiment while this driver was "
                             "cut off from Redis; this one stops (its trials are kept)")

    def release(self) -> None:
        """Give the lease up (never another driver's)."""
        try:
            self.script(keys=[self.key], args=[self.token, self.ttl_ms, "release"])
        except Exception as exc:  # leaving anyway: the lease lapses after its ttl
            logger.warning("could not release the experiment's driver lease (%s)", exc)


def driver_token() -> str:
    """Who holds a driver lease: ``host:pid-namespace:pid:random`` (the namespace tells two
    containers with one host name apart).

    Example:
        >>> holder_is_here(driver_token()), holder_is_dead(driver_token())
        (True, False)
    """
    return f"{socket.gethostname()}:{pid_namespace()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_here(token: str) -> bool:
    """Whether a lease token names a process on this machine (same host, same PID namespace)."""
    parts = token.split(":")
    return (len(parts) == 4 and parts[0] == socket.gethostname()
            and parts[1] == pid_namespace() and parts[2].isdigit())


def holder_is_dead(token: str) -> bool:
    """Whether a lease token names a process on this machine that no longer exists."""
    if not holder_is_here(token):
        return False
    try:
        os.kill(int(token.split(":")[2]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def pid_namespace() -> str:
    """This process's PID namespace (its inode; "-" where /proc does not say)."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "-"


def options_from(**values: Any) -> ExperimentOptions:
    """:class:`ExperimentOptions` from keyword values, ignoring unknown names.

    Example:
        >>> options_from(queue="gpu", lease_s=5.0, other=1).queue
        'gpu'
    """
    names = {f.name for f in dataclasses.fields(ExperimentOptions)}
    return ExperimentOptions(**{k: v for k, v in values.items() if k in names})
