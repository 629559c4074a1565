"""``RedisTrials``: the Trials façade over the Redis backend, for distributed search.

Documents live in Redis (:class:`~.backend.RedisBackend`); this object keeps the same
incremental mirror and sampler history as the in-memory ``Trials`` (it is one, over another
backend), so everything that reads a Trials object (fmin, TPE, plotting, early stopping,
users' analysis code) works unchanged. :meth:`refresh` reads only the trials that changed.

Example:
    >>> trials = RedisTrials("redis://localhost:6379/0", exp_key="exp1")  # doctest: +SKIP
    >>> best = fmin(objective, space, algo=tpe.suggest, max_evals=500,
    ...             trials=trials, max_queue_len=16)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING

from ...exceptions import BadArgument
from ...pruners import Pruner
from ...pruners.spec import dumps_spec
from ...tasks import DEFAULT_QUEUE, TaskSender, celery_sender
from ...trials import Trials
from .attachments import RedisAttachments
from .backend import RedisBackend
from .connection import check_redis, connect
from .keys import ExperimentKeys
from .records import DEFAULT_MAX_ATTACHMENT_BYTES, DEFAULT_MAX_RESULT_BYTES, ExperimentOptions
from .segments import check_on_space_change
from .store import TrialStore

if TYPE_CHECKING:
    from redis import Redis

logger = logging.getLogger(__name__)


class RedisTrials(Trials):
    """Trials stored in Redis and evaluated by ``hqueue worker`` / Celery workers.

    ``url`` is ``redis://``, ``rediss://`` (TLS) or ``unix://`` (password or ACL user in the
    URL); it defaults to ``$HQUEUE_URL``. Options: ``queue`` (the Celery queue this
    experiment's trials go to), ``lease_s`` (a worker that stops heartbeating for this long
    loses its trial), ``max_retries`` (claims before a repeatedly lost trial becomes ERROR),
    ``trial_timeout`` (seconds a trial may run), ``max_attachment_bytes``,
    ``max_result_bytes`` (a larger encoded result makes the trial ERROR), ``pruner`` (one of
    :mod:`hqueue.pruners`' pruners, sent to workers as data; None: the default ASHA;
    ``fmin(..., pruner=...)`` overrides it). ``send_task``
    replaces how a trial's task is sent (default: a Celery message on ``queue``); it is not
    pickled. ``broker_url`` puts the Celery broker elsewhere (another Redis, or RabbitMQ as
    ``amqp://user:pw@host:5672//``) while trial state stays at ``url``; default
    ``$HQUEUE_BROKER_URL``, else ``url``. Workers must be started with the same broker
    (``hqueue worker --broker-url``).

    ``on_space_change``: what ``fmin`` does when the experiment was searched over another
    space: ``"refuse"`` (the default: :class:`~hqueue.space.signature.SpaceChanged`) or
    ``"new_segment"``: a new segment of the experiment starts, and this object (the
    algorithm's history, ``best``, what ``max_evals`` counts) holds only the current
    segment's trials; older segments stay in Redis (:mod:`.segments`).
    """

    asynchronous = True

    def __init__(self, url: str | None = None, exp_key: str | None = None, *,
                 client: Redis | None = None, queue: str = DEFAULT_QUEUE,
                 lease_s: float = 30.0, max_retries: int = 3,
                 trial_timeout: float | None = None,
                 max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
                 max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
                 send_task: TaskSender | None = None, refresh: bool = True,
                 pruner: Pruner | None = None, on_space_change: str = "refuse",
                 broker_url: str | None = None) -> None:
        self.url = url or os.environ.get("HQUEUE_URL")
        self.broker_url = broker_url
        if client is None and not self.url:
            raise BadArgument("RedisTrials needs a Redis URL: RedisTrials('redis://host:6379/0')"
                              " or set HQUEUE_URL")
        if lease_s <= 0 or max_retries < 1:
            raise BadArgument("lease_s must be > 0 and max_retries >= 1")
        self.options = {"queue": queue, "lease_s": float(lease_s), "max_retries": int(max_retries),
                        "trial_timeout": trial_timeout,
                        "max_attachment_bytes": int(max_attachment_bytes),
                        "max_result_bytes": int(max_result_bytes)}
        self.pruner = pruner
        self._pruner_spec = dumps_spec(pruner)  # BadArgument for a pruner workers cannot build
        self._exp_key = exp_key
        self._send_task = send_task
        self._on_space_change = check_on_space_change(on_space_change)
        if client is None:
            check_redis(self.url)
            client = connect(self.url)
        self._connect(client)
        if refresh:
            self.refresh()

    def _connect(self, client: Redis) -> None:
        self.backend: RedisBackend = RedisBackend(
            client, self._exp_key, ExperimentOptions(**self.options, pruner=self._pruner_spec),
            self._sender, on_space_change=self._on_space_change)
        self._use(self.backend)
        self.store: TrialStore = self.backend.store
        self.keys: ExperimentKeys = self.store.keys
        keys, cap = self.keys, self.options["max_attachment_bytes"]
        self.attachments = RedisAttachments(client, keys.experiment_attachment,
                                            f"experiment {keys.exp_key}", cap)

    def _sender(self) -> TaskSender:
        if self._send_task is None:
            self._send_task = celery_sender(self.url, self.broker_url)
        return self._send_task

    @property
    def client(self) -> Redis:
        return self.store.client

    @property
    def segment(self) -> int | None:
        """The segment of the experiment these trials are (None before the first refresh)."""
        return self.backend.segment

    def refresh(self) -> None:
        """Bring ``trials`` and the sampler history up to date, following the experiment to
        its current segment (a new one started by a driver: the view is rebuilt over it)."""
        segment = self.backend.read_segment()
        if segment != self.backend.segment:
            self.backend.segment = segment
            self._use(self.backend)
        super().refresh()

    def delete_all(self) -> None:
        """Delete every key of this experiment (trials, attachments, domain, counters)."""
        self.backend.delete()
        self._connect(self.client)
        self.refresh()

    def trial_attachments(self, trial: Mapping) -> MutableMapping:
        """The attachments of one trial, in Redis keys of their own."""
        tid = int(trial["tid"])
        keys = self.keys
        return RedisAttachments(self.client, lambda name: keys.trial_attachment(tid, name),
                                f"trial {tid}", self.options["max_attachment_bytes"])

    def view(self, exp_key: str | None = None, refresh: bool = True) -> RedisTrials:
        """Another RedisTrials on the same Redis, for experiment ``exp_key``."""
        return RedisTrials(self.url, exp_key, client=self.client, refresh=refresh,
                           send_task=self._send_task, pruner=self.pruner,
                           on_space_change=self._on_space_change, broker_url=self.broker_url,
                           **self.options)

    # -- pickling: the connection is reopened from the URL ---------------------------------
    def __getstate__(self) -> dict:
        state = {"url": self.url, "exp_key": self._exp_key, "options": self.options,
                 "on_space_change": self._on_space_change}
        if getattr(self, "_pruner_spec", ""):
            state["pruner"] = self._pruner_spec  # a spec (JSON), never a pickled pruner
        if getattr(self, "broker_url", None):
            state["broker_url"] = self.broker_url
        return state

    def __setstate__(self, state: dict) -> None:
        from ...pruners.spec import loads_spec

        self.__init__(state["url"], state["exp_key"], pruner=loads_spec(state.get("pruner")),
                      on_space_change=state.get("on_space_change", "refuse"),
                      broker_url=state.get("broker_url"),
                      **state["options"])
