"""What a worker reads about an experiment before running one of its trials: the options the
driver wrote in the experiment's meta hash, and the signed domain (objective + space).

The meta hash and its defaults are owned by :mod:`hqueue.backends.redis.records` (its
docstring lists the fields); :class:`ExperimentOptions` and :func:`parse_options` are
re-exported here for the worker's code.
A worker keeps the :data:`MAX_DOMAINS` most recently used domains (an LRU), so a long-lived
worker serving many experiments does not grow without bound.

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
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from ..backends.redis.damaged import naming
from ..backends.redis.records import (  # noqa: F401  (re-exported for the worker's modules)
    DEFAULT_LEASE_S,
    DEFAULT_MAX_ATTACHMENT_BYTES,
    DEFAULT_MAX_RESULT_BYTES,
    DEFAULT_MAX_RETRIES,
    REDIS_MAX_BULK_BYTES,
    ExperimentOptions,
    ExperimentRecords,
    parse_options,
)
from ..cache import process_cache
from ..exceptions import HqueueError
from ..security import load_secret, loads_domain
from ..tasks import DEFAULT_QUEUE  # noqa: F401  (re-exported: worker/ctrl.py imports it here)

if TYPE_CHECKING:
    from ..backends.redis.store import TrialStore

logger = logging.getLogger(__name__)

MAX_DOMAINS = 8  # domains a worker process keeps loaded (least recently used dropped)



class MissingDomain(HqueueError):
    """The experiment has no published domain, or its blob is gone from Redis."""


def read_options(store: TrialStore) -> ExperimentOptions:
    """The options of ``store``'s experiment (defaults when the meta hash is missing).

    Raises :class:`hqueue.backends.redis.damaged.DamagedKey` when the meta key is not a hash.
    """
    return ExperimentRecords(store.client, store.exp_key).options()


def load_domain(store: TrialStore, digest: str | None, secret: bytes | None = None) -> Any:
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
            blob = ExperimentRecords(store.client, exp_key).domain_blob(digest)
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
