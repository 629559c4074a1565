"""hqueue workers: a Celery app whose one task evaluates a trial stored in Redis.

Start workers with ``hqueue worker --url URL`` or, the same thing::

    HQUEUE_URL=redis://host:6379/0 celery -A hqueue.worker worker

``-A hqueue.worker`` finds the app as ``hqueue.worker.celery``, built on first use from
``$HQUEUE_URL`` (or the ``--broker`` given to ``celery``), so importing this package needs no
configuration. (``hqueue.worker.app`` is the module with :func:`make_app`.)

Modules: :mod:`.app` (the Celery app and task), :mod:`.runner` (runs one trial under a lease),
:mod:`.outcome` (how a trial ends), :mod:`.isolation` (what a trial may change in its process),
:mod:`.supervision` (who owns which process), :mod:`.transport` (undecodable broker messages),
:mod:`.ctrl` (the ``ctrl`` objectives get), :mod:`.experiment` (options and domain loading).

Example:
    >>> wid = worker_id()
    >>> wid == worker_id() and wid.count(":") == 2
    True
"""

from __future__ import annotations

import os
import threading
from typing import Any

from ..exceptions import HqueueError
from ..tasks import BROKER_URL_ENV
from .app import TASK_NAME, make_app
from .ctrl import AttachmentTooLarge, RedisCtrl
from .identity import worker_id
from .runner import OUTCOMES, release_running, run_trial

__all__ = ["OUTCOMES", "TASK_NAME", "AttachmentTooLarge", "RedisCtrl", "WorkerConfigError",
           "get_app", "make_app", "release_running", "run_trial", "worker_id"]

URL_ENV = "HQUEUE_URL"

_APP: dict[tuple[str, str | None], Any] = {}
_APP_LOCK = threading.Lock()


class WorkerConfigError(HqueueError):
    """The worker was started without a Redis URL."""


def get_app() -> Any:
    """The Celery app built from ``$HQUEUE_URL`` (or ``$CELERY_BROKER_URL``), once; its broker
    is ``$HQUEUE_BROKER_URL`` when set.

    Raises :class:`WorkerConfigError` when neither is set.
    """
    url = os.environ.get(URL_ENV) or os.environ.get("CELERY_BROKER_URL")
    if not url:
        raise WorkerConfigError(f"set {URL_ENV}=redis://host:6379/0 (or pass --url to "
                                "`hqueue worker`) to start a worker")
    broker = os.environ.get(BROKER_URL_ENV)  # hqueue worker --broker-url; else the same Redis
    with _APP_LOCK:
        if (url, broker) not in _APP:
            _APP[url, broker] = make_app(url, broker_url=broker)
        return _APP[url, broker]


def __getattr__(name: str) -> Any:
    """``hqueue.worker.celery``: the lazily built app that ``celery -A hqueue.worker`` loads."""
    if name == "celery":
        return get_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
