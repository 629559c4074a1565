"""What a worker reads about an experiment before running one of its trials: the options the
driver wrote in the experiment's meta hash, and the signed domain (objective + space).

The driver (``RedisTrials`` / ``publish_domain``) writes ``hq:{exp}:meta`` with these fields;
the worker only reads them (a missing field takes the default shown):

========================  ===================================================================
``domain``                SHA-256 hex digest of the domain pickle (required to run a trial)
``lease_s``               lease length in seconds (30); heartbeats renew it every third of it
``max_retries``           claims before a repeatedly lost trial becomes ERROR (3; the driver
                          enforces it, the worker only reports it)
``trial_timeout``         seconds a trial may run; empty means no limit
``max_attachment_bytes``  size cap of one attachment (64 MiB)
``max_result_bytes``      size cap of a trial's encoded result (64 MiB; never above Redis's
                          default ``proto-max-bulk-len`` of 512 MiB); a larger one is ERROR
``queue``                 Celery queue of the experiment's tasks ("hqueue")
========================  ===================================================================

The signed domain blob is at ``hq:{exp}:domain:<digest>``. It is unpickled only after its
signature and digest check out, once per worker process and (experiment, digest); a worker
keeps the :data:`MAX_DOMAINS` most recently used domains (an LRU), so a long-lived worker
serving many experiments does not grow without bound.

Example:
    >>> import fakeredis
    >>> from hqueue.backends.redis.store import TrialStore
    >>> store = TrialStore(fakeredis.FakeRedis(), "demo")
    >>> _ = store.client.hset(store.keys.meta, mapping={"lease_s": "12", "trial_timeout": ""})
    >>> opts = read_options(store)
    >>> opts.lease_s, opts.trial_timeout, opts.queue
    (12.0, None, 'hqueue')
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from ..backends.redis.damaged import as_damaged_key, naming
from ..cache import process_cache
from ..exceptions import HqueueError
from ..security import load_secret, loads_domain

logger = logging.getLogger(__name__)

DEFAULT_QUEUE = "hqueue"
DEFAULT_LEASE_S = 30.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_ATTACHMENT_BYTES = 64 * 2**20
DEFAULT_MAX_RESULT_BYTES = 64 * 2**20
REDIS_MAX_BULK_BYTES = 512 * 2**20 - 2**16  # Redis's default proto-max-bulk-len, less room
MAX_DOMAINS = 8  # domains a worker process keeps loaded (least recently used dropped)


class MissingDomain(HqueueError):
    """The experiment has no published domain, or its blob is gone from Redis."""


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


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_options(fields: Mapping[Any, Any]) -> ExperimentOptions:
    """Options from the raw meta hash (bytes or str keys and values; bad numbers fall back to
    the defaults with a warning).

    Example:
        >>> parse_options({b"domain": b"ab12", b"trial_timeout": b"2.5"}).trial_timeout
        2.5
    """
    meta = {_text(k): _text(v).strip() for k, v in fields.items()}

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
    )


def read_options(store: Any) -> ExperimentOptions:
    """The options of ``store``'s experiment (defaults when the meta hash is missing).

    Raises :class:`hqueue.backends.redis.damaged.DamagedKey` when the meta key is not a hash.
    """
    try:
        fields = store.client.hgetall(store.keys.meta)
    except Exception as exc:
        raise as_damaged_key(exc, store.keys.meta) or exc from None
    return parse_options(fields)


def load_domain(store: Any, digest: str | None, secret: bytes | None = None) -> Any:
    """The experiment's Domain, verified and unpickled once per process per (exp, digest).

    Raises :class:`MissingDomain`, or :class:`hqueue.security.SignatureError` (nothing is
    unpickled then) / :class:`hqueue.security.DomainTransferError` from ``loads_domain``.
    A load that failed is retried on the next call (fix the secret, no restart needed).

    Example:
        >>> import fakeredis
        >>> from hqueue.backends.redis.store import TrialStore
        >>> load_domain(TrialStore(fakeredis.FakeRedis(), "none"), None)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
          ...
        hqueue.worker.experiment.MissingDomain: experiment 'none' has no published domain...
    """
    exp_key = store.exp_key
    if not digest:
        raise MissingDomain(f"experiment {exp_key!r} has no published domain (meta field "
                            "'domain' is empty): start the search with fmin(..., "
                            "trials=RedisTrials(url, exp_key)) before sending its tasks")

    def build() -> Any:
        with naming(store.keys.domain(digest)):
            blob = store.client.get(store.keys.domain(digest))
        if blob is None:
            raise MissingDomain(f"the domain {digest[:12]} of experiment {exp_key!r} is not in "
                                "Redis (deleted, or evicted: run Redis with "
                                "maxmemory-policy noeviction); run the driver again")
        domain = loads_domain(blob, exp_key, secret or load_secret(), expected_digest=digest)
        logger.info("loaded the domain %s of experiment %r", digest[:12], exp_key)
        return domain

    domains = process_cache("hqueue.worker.domains", lambda: LRUCache(MAX_DOMAINS))
    return domains.get((exp_key, digest), build)


class LRUCache:
    """Values built on first use, the ``size`` most recently used kept (thread-safe; a
    factory that raises is called again next time; a forked child shares the parent's
    values).

    Example:
        >>> cache = LRUCache(2)
        >>> [cache.get(k, lambda: k * 10) for k in (1, 2, 1, 3)]
        [10, 20, 10, 30]
        >>> list(cache.keys())  # 2 was the least recently used
        [1, 3]
    """

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, factory: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = factory()  # outside the lock: a slow load does not block other keys
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._values)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
