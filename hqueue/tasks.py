"""How a trial travels to a worker: one Celery task ``hqueue.run_trial(exp_key, tid)`` on the
experiment's queue, and the one function that sends trials' tasks (:func:`dispatch`).

This module is below both the driver side (``RedisTrials``, the CLI) and the worker side
(``hqueue.worker.app``): the storage layer never builds the worker's Celery app, it is handed a
:data:`TaskSender`. Celery is imported only when a sender is built, so ``import hqueue`` works
without it.

Example:
    >>> sent = []
    >>> class Store:  # anything with exp_key and mark_sent (a TrialStore)
    ...     exp_key = "exp1"
    ...     def mark_sent(self, tids): sent.append(("marked", list(tids)))
    >>> dispatch(Store(), [3, 4], "hqueue", lambda exp, tid, queue: sent.append((exp, tid)))
    >>> sent
    [('exp1', 3), ('exp1', 4), ('marked', [3, 4])]
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, urlsplit

from .backends.redis.sentinel import SentinelURL, is_sentinel_url

if TYPE_CHECKING:
    from celery import Celery

logger = logging.getLogger(__name__)

TASK_NAME = "hqueue.run_trial"
#: the Celery queue of an experiment's tasks unless ``RedisTrials(queue=...)`` says otherwise
DEFAULT_QUEUE = "hqueue"
VISIBILITY_TIMEOUT_S = 12 * 3600
#: about five minutes of retries (kombu's ``ensure``) before a task send gives up
PUBLISH_RETRY_POLICY = {"max_retries": 150, "interval_start": 0.0, "interval_step": 0.5,
                        "interval_max": 2.0}

#: where the Celery broker is when it is not the trial store's Redis (``RedisTrials(broker_url=)``
#: and ``hqueue worker --broker-url`` take precedence)
BROKER_URL_ENV = "HQUEUE_BROKER_URL"
REDIS_SCHEMES = frozenset({"redis", "rediss", "unix", "redis+socket", "redis+sentinel",
                           "sentinel"})

#: ``send(exp_key, tid, queue)``: sends the Celery task of one trial
TaskSender = Callable[[str, int, str], None]


class SentMarker(Protocol):
    """What :func:`dispatch` needs of a store: its experiment and where to note a send."""

    exp_key: str

    def mark_sent(self, tids: Iterable[int]) -> None: ...


def dispatch(store: SentMarker, tids: Iterable[int], queue: str, send: TaskSender,
             mark_sent: bool = True) -> None:
    """Send the task of each trial in ``tids`` to ``queue`` and record when (the driver re-sends
    trials whose task may have been lost). Every place that sends a trial's task calls this.
    A sender with a ``batch()`` context (:class:`CelerySender`) sends them all in one
    round trip to the broker. ``mark_sent=False`` skips the record when the caller has just
    created the trials (``create.lua`` stamps them queued at that time).

    Example:
        >>> dispatch(store, [0, 1], "hqueue", celery_sender(url))  # doctest: +SKIP
    """
    tids = [int(t) for t in tids]
    if not tids:
        return
    batch = getattr(send, "batch", None)  # a CelerySender: the sends in one pipeline
    with batch() if batch is not None else contextlib.nullcontext():
        for tid in tids:
            send(store.exp_key, tid, queue)
    if mark_sent:
        store.mark_sent(tids)


def broker_url(url: str) -> str:
    """The kombu spelling of a Redis URL (``unix://`` becomes ``redis+socket://``, a
    ``redis+sentinel://`` URL kombu's ``sentinel://h1:p1;sentinel://h2:p2/DB``).

    Example:
        >>> broker_url("unix://:pw@/tmp/redis.sock")
        'redis+socket://:pw@/tmp/redis.sock?virtual_host=0'
        >>> broker_url("redis+sentinel://h1:26379,h2:26380/mymaster/1")
        'sentinel://h1:26379/1;sentinel://h2:26380/1'
    """
    if is_sentinel_url(url):
        return SentinelURL.parse(url).kombu_url()
    if not url.startswith("unix://"):
        return url
    parts = urlsplit(url)
    db = parse_qs(parts.query).get("db", ["0"])[0]
    auth = parts.netloc  # "[user][:password]@" or ""
    return f"redis+socket://{auth}{parts.path}?virtual_host={db}"


def resolve_broker(url: str, broker: str | None = None) -> str:
    """The Celery broker's URL: ``broker`` if given, else ``$HQUEUE_BROKER_URL``, else the
    trial store's ``url`` (one Redis for both).

    Example:
        >>> resolve_broker("redis://h:6379/0", "amqp://guest@mq:5672//")
        'amqp://guest@mq:5672//'
    """
    return broker or os.environ.get(BROKER_URL_ENV) or url


def is_redis_broker(url: str) -> bool:
    """Whether ``url`` names a Redis broker (else another kombu transport, e.g. RabbitMQ).

    Example:
        >>> is_redis_broker("unix:///tmp/r.sock"), is_redis_broker("amqp://mq//")
        (True, False)
    """
    return url.split(":", 1)[0] in REDIS_SCHEMES


def broker_config(url: str) -> dict[str, Any]:
    """The Celery settings every hqueue app shares (the worker's and the driver's sender):
    broker, transport options, serializers, publish retries, TLS. ``url`` is the broker's
    (a Redis URL, or another kombu broker such as ``amqp://``).

    Example:
        >>> broker_config("redis://h:6379/0")["task_serializer"]
        'json'
    """
    redis_options = {
        # hqueue tracks delivery itself (leases; the driver re-sends trials queued too long),
        # so kombu's emulated acks (a MULTI/EXEC into its `unacked` hash and index when a
        # worker takes a message, another when it acks: 8 Redis commands per task) buy
        # nothing: a message a worker took but had not started is put back on a clean
        # shutdown by kombu either way (kept in memory), and one lost with a killed worker is
        # re-sent by the driver, as before (the visibility timeout below never fired first)
        "ack_emulation": False,
        "visibility_timeout": VISIBILITY_TIMEOUT_S,
        "socket_keepalive": True,
        "socket_connect_timeout": 10,
        "health_check_interval": 25,
        # without it, after a connection reset the remote-control pub/sub read could
        # block forever and the worker ignore SIGTERM (BRPOP replies within 1 s anyway)
        "socket_timeout": 10,
    }
    config: dict[str, Any] = dict(
        broker_url=broker_url(url),
        broker_connection_retry_on_startup=True,
        broker_transport_options=redis_options if is_redis_broker(url) else {},
        task_serializer="json", accept_content=["json"], result_serializer="json",
        task_ignore_result=True,
        task_default_queue=DEFAULT_QUEUE, task_default_exchange=DEFAULT_QUEUE,
        task_default_routing_key=DEFAULT_QUEUE,
        # sending a task rides out a Redis restart as long as the store's clients do
        task_publish_retry_policy=PUBLISH_RETRY_POLICY,
    )
    if is_sentinel_url(url):  # the master group travels as a transport option
        config["broker_transport_options"].update(
            SentinelURL.parse(url).kombu_transport_options())
    if url.startswith("rediss://") and "ssl_" not in urlsplit(url).query:
        config["broker_use_ssl"] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    return config


class CelerySender:
    """``send(exp_key, tid, queue)`` through a Celery ``app``; the sends made inside
    :meth:`batch` (what :func:`dispatch` does) are written to the broker in one pipeline
    (kombu's ``Producer.batch``: one round trip for a top-up's tasks, not one per task).

    Example:
        >>> send = CelerySender(make_app(url))  # doctest: +SKIP
        >>> with send.batch():  # doctest: +SKIP
        ...     send("exp1", 0, DEFAULT_QUEUE); send("exp1", 1, DEFAULT_QUEUE)
    """

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._local = threading.local()  # .producer and .sent while a batch is open

    def __call__(self, exp_key: str, tid: int, queue: str) -> None:
        producer = getattr(self._local, "producer", None)
        self.app.send_task(TASK_NAME, args=[exp_key, int(tid)], queue=queue, producer=producer)
        if producer is not None:
            self._local.sent.append((exp_key, int(tid), queue))

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Send the tasks of the ``with`` body in one pipeline when it ends. If that write
        fails (kombu: delivery uncertain) each task is sent again on its own, with the
        publish retries; a trial delivered twice runs once (its claim refuses the second)."""
        if getattr(self._local, "producer", None) is not None:  # nested: the outer one sends
            yield
            return
        sent: list[tuple[str, int, str]] = []
        body_done = False
        try:
            with self.app.producer_or_acquire() as producer:
                self._local.producer, self._local.sent = producer, sent
                try:
                    with producer.batch():
                        yield
                        body_done = True
                finally:
                    self._local.producer = None
        except Exception as exc:  # writing the batch failed: kombu's BatchPublishError, ...
            if not body_done or not sent:  # the body's own error, or nothing to send again
                raise
            logger.warning("sending %d task(s) in one batch failed (%s: %s); sending them one "
                           "by one", len(sent), type(exc).__name__, exc)
            for exp_key, tid, queue in sent:
                self(exp_key, tid, queue)


def app_sender(app: Celery) -> TaskSender:
    """``send(exp_key, tid, queue)`` through a Celery ``app`` (a :class:`CelerySender`).

    Example:
        >>> send = app_sender(make_app(url))  # doctest: +SKIP
    """
    return CelerySender(app)


_SENDERS: dict[str, TaskSender] = {}
_SENDERS_LOCK = threading.Lock()


def celery_sender(url: str, broker: str | None = None) -> TaskSender:
    """A sender over a send-only Celery app whose broker is ``broker``, else
    ``$HQUEUE_BROKER_URL``, else the Redis at ``url`` (one per broker and process: it holds
    the broker connection pool). It registers no task and no worker signal.

    Example:
        >>> send = celery_sender("redis://localhost:6379/0")  # doctest: +SKIP
        >>> send("exp1", 0, DEFAULT_QUEUE)  # doctest: +SKIP
    """
    url = resolve_broker(url, broker)
    with _SENDERS_LOCK:
        if url not in _SENDERS:
            from celery import Celery

            app = Celery("hqueue-driver", set_as_current=False)
            app.conf.update(broker_config(url))
            _SENDERS[url] = app_sender(app)
        return _SENDERS[url]
