"""The Celery app of hqueue workers and its one task, ``hqueue.run_trial(exp_key, tid)``.

The broker is the same Redis as the trial store unless ``broker_url`` names another (a Redis,
or RabbitMQ). The app is set up for long tasks whose
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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from celery import Celery
from kombu import Exchange, Queue

from ..cache import process_cache
from ..tasks import TASK_NAME, TaskSender, app_sender, broker_config
from ..tasks import broker_url as broker_url  # its old home; hqueue.tasks owns it
from . import beacon, capture, shutdown, supervision, transport
from .identity import worker_id

if TYPE_CHECKING:
    from ..backends.redis.store import TrialStore

logger = logging.getLogger(__name__)


def make_app(url: str, *, queues: Sequence[str] | None = None,
             broker_url: str | None = None) -> Celery:
    """A Celery app over the Redis at ``url`` with the ``hqueue.run_trial`` task registered.

    ``url`` is ``redis://``, ``rediss://`` (TLS; certificates are verified unless the URL
    says ``?ssl_cert_reqs=none``) or ``unix:///path/redis.sock?db=N``. ``queues`` are the
    queues a worker started from this app consumes (default: "hqueue"). ``broker_url`` puts
    the Celery broker elsewhere (another Redis, or ``amqp://`` RabbitMQ); trial state stays
    at ``url``.

    Example:
        >>> make_app("unix:///run/redis.sock?db=2").conf.broker_url
        'redis+socket:///run/redis.sock?virtual_host=2'
    """
    transport.install()  # undecodable broker messages are dropped, not fatal
    app = Celery("hqueue", set_as_current=False)
    app.conf.update(broker_config(broker_url or url))
    app.conf.update(
        task_acks_late=False, task_track_started=False,
        worker_prefetch_multiplier=1, worker_disable_prefetch=True,
        worker_max_tasks_per_child=None,
        # only acts on late-acknowledged tasks; hqueue acks early and its leases decide
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    if queues:
        app.conf.task_queues = [Queue(q, Exchange(q, "direct"), routing_key=q) for q in queues]
    _register_task(app, url)
    shutdown.install()
    supervision.install(url, task_sender(app), store_for)
    beacon.install(app, lambda: client_for(url))
    capture.install()  # per-trial stdout/stderr, the mode chosen by the pool
    return app


task_sender = app_sender  # its old name here; hqueue.tasks.app_sender


def client_for(url: str) -> Any:
    """This process's Redis client for ``url`` (one per url and process)."""

    from ..backends.redis.connection import connect

    return process_cache(("hqueue.worker.client", url), lambda: connect(url))


def store_for(url: str, exp_key: str) -> TrialStore:
    """The TrialStore of ``exp_key`` on ``url``, built once per process (one client per url)."""
    from ..backends.redis.store import TrialStore

    def build() -> TrialStore:
        return TrialStore(client_for(url), exp_key)

    return process_cache(("hqueue.worker.store", url, exp_key), build)


def _register_task(app: Celery, url: str) -> None:
    send: TaskSender = app_sender(app)

    @app.task(name=TASK_NAME, bind=True, ignore_result=True, acks_late=False, shared=False)
    def run_trial(self: Any, exp_key: str, tid: int) -> str:
        """Run trial ``tid`` of experiment ``exp_key`` (see hqueue.worker.runner)."""
        from .runner import run_trial as run

        shutdown.adopt_pool_process_sigterm()
        return run(store_for(url, exp_key), int(tid), owner=worker_id(), send_task=send)
