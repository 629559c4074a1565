"""The Celery app of hqueue workers and its one task, ``hqueue.run_trial(exp_key, tid)``.

The broker is the same Redis as the trial store. The app is set up for long tasks whose
delivery hqueue tracks itself: a task message is acknowledged as soon as a worker takes it
(``task_acks_late=False``), a worker takes one message at a time and only when it has a free
process (``worker_prefetch_multiplier=1``, ``worker_disable_prefetch``), and a trial whose
worker dies is recovered by its lease (the driver requeues it and re-sends its task), never by
the transport's visibility timeout (set to 12 h so it never fires first).

On SIGTERM or Ctrl-C a worker hands its running trials back to the queue (see
:mod:`hqueue.worker.shutdown`).

Example:
    >>> app = make_app("redis://localhost:6379/0")
    >>> app.conf.task_default_queue, TASK_NAME in app.tasks
    ('hqueue', True)
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from celery import Celery
from kombu import Exchange, Queue

from ..backends.redis.sentinel import SentinelURL, is_sentinel_url
from ..cache import process_cache
from . import beacon, shutdown
from .ctrl import TaskSender
from .experiment import DEFAULT_QUEUE

logger = logging.getLogger(__name__)

TASK_NAME = "hqueue.run_trial"
VISIBILITY_TIMEOUT_S = 12 * 3600
#: about five minutes of retries (kombu's ``ensure``) before a task send gives up
PUBLISH_RETRY_POLICY = {"max_retries": 150, "interval_start": 0.0, "interval_step": 0.5,
                        "interval_max": 2.0}


def make_app(url: str, *, queues: Sequence[str] | None = None) -> Celery:
    """A Celery app over the Redis at ``url`` with the ``hqueue.run_trial`` task registered.

    ``url`` is ``redis://``, ``rediss://`` (TLS; certificates are verified unless the URL
    says ``?ssl_cert_reqs=none``) or ``unix:///path/redis.sock?db=N``. ``queues`` are the
    queues a worker started from this app consumes (default: "hqueue").

    Example:
        >>> make_app("unix:///run/redis.sock?db=2").conf.broker_url
        'redis+socket:///run/redis.sock?virtual_host=2'
    """
    app = Celery("hqueue", set_as_current=False)
    app.conf.update(
        broker_url=broker_url(url),
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT_S,
            "socket_keepalive": True,
            "socket_connect_timeout": 10,
            "health_check_interval": 25,
            # without it, after a connection reset the remote-control pub/sub read could
            # block forever and the worker ignore SIGTERM (BRPOP replies within 1 s anyway)
            "socket_timeout": 10,
        },
        task_serializer="json", accept_content=["json"], result_serializer="json",
        task_ignore_result=True, task_acks_late=False, task_track_started=False,
        task_default_queue=DEFAULT_QUEUE, task_default_exchange=DEFAULT_QUEUE,
        task_default_routing_key=DEFAULT_QUEUE,
        worker_prefetch_multiplier=1, worker_disable_prefetch=True,
        worker_max_tasks_per_child=None,
        # sending a task rides out a Redis restart as long as the store's clients do
        task_publish_retry_policy=PUBLISH_RETRY_POLICY,
        # only acts on late-acknowledged tasks; hqueue acks early and its leases decide
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    if is_sentinel_url(url):
        app.conf.broker_transport_options.update(SentinelURL.parse(url).kombu_transport_options())
    if url.startswith("rediss://") and "ssl_" not in urlsplit(url).query:
        app.conf.broker_use_ssl = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    if queues:
        app.conf.task_queues = [Queue(q, Exchange(q, "direct"), routing_key=q) for q in queues]
    _register_task(app, url)
    shutdown.install()
    beacon.install(app, lambda: client_for(url))
    return app


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


def task_sender(app: Celery) -> TaskSender:
    """``send(exp_key, tid, queue)``: sends one trial's task through ``app``."""

    def send(exp_key: str, tid: int, queue: str) -> None:
        app.send_task(TASK_NAME, args=[exp_key, int(tid)], queue=queue)

    return send


def client_for(url: str) -> Any:
    """This process's Redis client for ``url`` (one per url and process)."""

    from ..backends.redis.connection import connect

    return process_cache(("hqueue.worker.client", url), lambda: connect(url))


def store_for(url: str, exp_key: str) -> Any:
    """The TrialStore of ``exp_key`` on ``url``, built once per process (one client per url)."""
    from ..backends.redis.store import TrialStore

    def build() -> TrialStore:
        return TrialStore(client_for(url), exp_key)

    return process_cache(("hqueue.worker.store", url, exp_key), build)


def _register_task(app: Celery, url: str) -> None:
    send = task_sender(app)

    @app.task(name=TASK_NAME, bind=True, ignore_result=True, acks_late=False, shared=False)
    def run_trial(self: Any, exp_key: str, tid: int) -> str:
        """Run trial ``tid`` of experiment ``exp_key`` (see hqueue.worker.runner)."""
        from . import worker_id
        from .runner import run_trial as run

        shutdown.adopt_pool_process_sigterm()
        return run(store_for(url, exp_key), int(tid), owner=worker_id(), send_task=send)
