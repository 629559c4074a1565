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
``queue``                 Celery queue of the experiment's tasks ("hqueue")
========================  ===================================================================

The signed domain blob is at ``hq:{exp}:domain:<digest>``. It is unpickled only after its
signature and digest check out, once per worker process and (experiment, digest).

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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..cache import process_cache
from ..exceptions import HqueueError
from ..security import load_secret, loads_domain

logger = logging.getLogger(__name__)

DEFAULT_QUEUE = "hqueue"
DEFAULT_LEASE_S = 30.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_ATTACHMENT_BYTES = 64 * 2**20


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
    )


def read_options(store: Any) -> ExperimentOptions:
    """The options of ``store``'s experiment (defaults when the meta hash is missing)."""
    return parse_options(store.client.hgetall(store.keys.meta))


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
        blob = store.client.get(store.keys.domain(digest))
        if blob is None:
            raise MissingDomain(f"the domain {digest[:12]} of experiment {exp_key!r} is not in "
                                "Redis (deleted, or evicted: run Redis with "
                                "maxmemory-policy noeviction); run the driver again")
        domain = loads_domain(blob, exp_key, secret or load_secret(), expected_digest=digest)
        logger.info("loaded the domain %s of experiment %r", digest[:12], exp_key)
        return domain

    return process_cache(("hqueue.worker.domain", exp_key, digest), build)
