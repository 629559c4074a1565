"""The Redis broker transport of hqueue workers: kombu's, except that a message on the queue
that is not a Celery task (bytes that are not JSON, a bare JSON list, an envelope without its
fields) is logged and dropped instead of stopping the worker.

kombu's Redis channel pops a message with BRPOP and decodes it inside its event loop; a
decoding error there is not caught and ends the worker ("Unrecoverable error"). The message is
already popped when that happens, so dropping it loses nothing a driver needs: a trial whose
task was lost is re-sent by the driver (its queued timestamp goes stale).

:func:`install` points kombu's ``redis`` and ``rediss`` aliases (``unix://`` URLs become
``redis+socket://``, so they are covered too) at :class:`Transport`; :func:`hqueue.worker.app.
make_app` calls it.

Example:
    >>> install()
    >>> from kombu.transport import resolve_transport
    >>> resolve_transport("redis") is Transport
    True
"""

from __future__ import annotations

import logging
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, _transport_cache
from kombu.transport import redis as kombu_redis

logger = logging.getLogger(__name__)

ALIASES = ("redis", "rediss")


class Channel(kombu_redis.Channel):
    """kombu's Redis channel; an undecodable message is logged and dropped."""

    def _brpop_read(self, **options: Any) -> Any:
        try:
            return super()._brpop_read(**options)
        except (kombu_redis.Empty, *self.connection_errors):
            raise
        except Exception as exc:  # the popped message is not a Celery task message
            logger.error("dropped a message on the broker queue that is not a Celery task "
                         "(%s: %s); something other than hqueue pushed it", type(exc).__name__,
                         exc)
            return True


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with :class:`Channel`; a decoded message without the fields of
    kombu's envelope is logged and dropped before it reaches the consumer (where a missing
    field raises KeyError, which kombu takes for a lost connection)."""

    Channel = Channel

    def _deliver(self, message: Any, queue: Any) -> Any:
        if not is_envelope(message):
            logger.error("dropped a message on the broker queue that is not a Celery task "
                         "(%s); something other than hqueue pushed it", _preview(message))
            return None
        return super()._deliver(message, queue)


def is_envelope(message: Any) -> bool:
    """Whether a decoded broker message has the fields kombu's consumer reads.

    Example:
        >>> is_envelope([1, 2]), is_envelope({"body": "", "properties": {"delivery_tag": "t"}})
        (False, True)
    """
    if not isinstance(message, dict) or "body" not in message:
        return False
    properties = message.get("properties")
    return isinstance(properties, dict) and "delivery_tag" in properties


def _preview(message: Any) -> str:
    text = repr(message)
    return text if len(text) <= 80 else text[:77] + "..."


def install() -> None:
    """Make kombu's ``redis``/``rediss`` transports this one (idempotent)."""
    path = f"{__name__}:Transport"
    for alias in ALIASES:
        if TRANSPORT_ALIASES.get(alias) != path:
            TRANSPORT_ALIASES[alias] = path
            _transport_cache.pop(alias, None)
