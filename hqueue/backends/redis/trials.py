"""``RedisTrials``: the Trials interface over a Redis trial store, for distributed search.

Documents live in Redis (see :mod:`.store`); this object keeps a local mirror that
:meth:`RedisTrials.refresh` brings up to date by reading only the trials that changed since
the last call. Everything that reads a Trials object (fmin, TPE, plotting, early stopping,
users' analysis code) works unchanged.

Example:
    >>> trials = RedisTrials("redis://localhost:6379/0", exp_key="exp1")  # doctest: +SKIP
    >>> best = fmin(objective, space, algo=tpe.suggest, max_evals=500,
    ...             trials=trials, max_queue_len=16)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from ...exceptions import BadArgument
from ...states import JOB_STATE_NEW, JOB_VALID_STATES
from ...trials import Trials
from .attachments import RedisAttachments, glob_escape
from .connection import check_redis, connect
from .keys import ExperimentKeys
from .store import TrialStore

logger = logging.getLogger(__name__)

DEFAULT_QUEUE = "hqueue"
DEFAULT_MAX_ATTACHMENT_BYTES = 64 * 2**20
DEFAULT_MAX_RESULT_BYTES = 64 * 2**20


class RedisTrials(Trials):
    """Trials stored in Redis and evaluated by ``hqueue worker`` / Celery workers.

    ``url`` is ``redis://``, ``rediss://`` (TLS) or ``unix://`` (password or ACL user in the
    URL); it defaults to ``$HQUEUE_URL``. Options: ``queue`` (the Celery queue this
    experiment's trials go to), ``lease_s`` (a worker that stops heartbeating for this long
    loses its trial), ``max_retries`` (claims before a repeatedly lost trial becomes ERROR),
    ``trial_timeout`` (seconds a trial may run), ``max_attachment_bytes``,
    ``max_result_bytes`` (a larger encoded result makes the trial ERROR).
    """

    asynchronous = True

    def __init__(self, url: str | None = None, exp_key: str | None = None, *,
                 client: Any = None, queue: str = DEFAULT_QUEUE, lease_s: float = 30.0,
                 max_retries: int = 3, trial_timeout: float | None = None,
                 max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
                 max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
                 refresh: bool = True) -> None:
        self.url = url or os.environ.get("HQUEUE_URL")
        if client is None and not self.url:
            raise BadArgument("RedisTrials needs a Redis URL: RedisTrials('redis://host:6379/0')"
                              " or set HQUEUE_URL")
        if lease_s <= 0 or max_retries < 1:
            raise BadArgument("lease_s must be > 0 and max_retries >= 1")
        self.options = {"queue": queue, "lease_s": float(lease_s), "max_retries": int(max_retries),
                        "trial_timeout": trial_timeout,
                        "max_attachment_bytes": int(max_attachment_bytes),
                        "max_result_bytes": int(max_result_bytes)}
        super().__init__(exp_key=exp_key, refresh=False)
        self._connect(client, exp_key)
        if refresh:
            self.refresh()

    def _connect(self, client: Any, exp_key: str | None) -> None:
        if client is None:
            check_redis(self.url)
            client = connect(self.url)
        self.store = TrialStore(client, exp_key)
        self.keys: ExperimentKeys = self.store.keys
        self._seq = 0
        self._mirror: dict[int, dict] = {}
        self._dynamic_trials = []
        self._state_counts: Counter[int] = Counter()  # mirror docs per state, kept by _pull
        keys, cap = self.keys, self.options["max_attachment_bytes"]
        self.attachments = RedisAttachments(client, keys.experiment_attachment,
                                            f"experiment {keys.exp_key}", cap)

    @property
    def client(self) -> Any:
        return self.store.client

    # -- keeping the local mirror in step with Redis --------------------------------------
    def _pull(self) -> bool:
        """Apply the changes since the last pull; True if a known doc left or re-entered the
        valid states (``trials.trials`` and the sampler history must then be rebuilt)."""
        self._seq, docs = self.store.changes_since(self._seq)
        view_changed = False
        for doc in docs:
            local = self._mirror.get(doc["tid"])
            self._state_counts[doc["state"]] += 1
            if local is None:
                self._mirror[doc["tid"]] = doc
                self._dynamic_trials.append(doc)
                continue
            self._state_counts[local["state"]] -= 1
            # ERROR -> NEW (a requeue) re-enters the view; DONE -> ERROR etc. leaves it
            view_changed |= (local["state"] in JOB_VALID_STATES) != (doc["state"] in
                                                                     JOB_VALID_STATES)
            local.clear()
            local.update(doc)  # in place: views and the sampler history hold this dict
        return view_changed

    def _in_view(self, doc: Mapping) -> bool:
        return doc["state"] in JOB_VALID_STATES

    def refresh(self) -> None:
        """Bring the mirror up to date with Redis; cost proportional to what changed.

        New trials are appended and changed ones updated in place, so the sampler's history
        survives; only a trial leaving or re-entering ``trials.trials`` (an ERROR, a cancel, a
        requeue) makes it rebuild the views from the whole mirror.

        Example:
            >>> trials.refresh()  # doctest: +SKIP
            >>> len(trials), trials.best_trial["result"]["loss"]  # doctest: +SKIP
        """
        if not hasattr(self, "store"):  # Trials.__init__ runs before the store exists
            super().refresh()
        elif self._pull() or not hasattr(self, "_synced"):
            super().refresh()
        else:
            super()._refresh_incremental()

    def _refresh_incremental(self) -> None:
        self.refresh()

    def count_in_states(self, *states: int) -> int:
        """How many of the experiment's trials (as of the last refresh) are in ``states``;
        O(1), unlike a scan of ``trials.trials``.

        Example:
            >>> trials.count_in_states(JOB_STATE_NEW, JOB_STATE_RUNNING)  # doctest: +SKIP
            3
        """
        return sum(self._state_counts[s] for s in states)

    def _reload(self) -> None:
        """Re-read every trial from Redis and rebuild the views and the sampler history (after
        Redis lost writes, when documents may have changed in ways the change log missed)."""
        self._seq = 0
        self._pull()
        super().refresh()

    # -- writing --------------------------------------------------------------------------
    def new_trial_ids(self, n: int) -> list[int]:
        """Reserve ``n`` tids from the experiment's atomic counter."""
        rval = self.store.new_tids(n)
        self._ids.update(rval)
        return rval

    def insert_trial_docs(self, docs: Iterable[dict]) -> list[int]:
        """Validate documents, write them to Redis and queue the NEW ones for workers."""
        docs = [self.assert_valid_trial(d) for d in (dict(d) for d in docs)]
        created = self.store.create(docs)
        new = [d["tid"] for d in docs if d["tid"] in set(created) and
               d.get("state", JOB_STATE_NEW) == JOB_STATE_NEW]
        self.send_tasks(new)
        self._pull()
        return created

    def _insert_trial_docs(self, docs: Iterable[dict]) -> list[int]:
        return self.insert_trial_docs(docs)

    def send_tasks(self, tids: Iterable[int]) -> None:
        """Send one Celery task per tid to this experiment's queue."""
        tids = list(tids)
        if not tids:
            return
        from ...worker.app import TASK_NAME, make_app

        app = self.__dict__.get("_app") or make_app(self.url)
        self._app = app
        for tid in tids:
            app.send_task(TASK_NAME, args=[self.keys.exp_key, int(tid)],
                          queue=self.options["queue"])
        self.store.mark_sent(tids)

    def delete_all(self) -> None:
        """Delete every key of this experiment (trials, attachments, domain, counters)."""
        keys = list(self.client.scan_iter(match=glob_escape(self.keys.base) + ":*"))
        if keys:
            self.client.delete(*keys)
        self.client.srem("hq:experiments", self.keys.exp_key)
        self._connect(self.client, self._exp_key)
        self._ids = set()
        self._next_tid = 0
        self.refresh()

    def trial_attachments(self, trial: Mapping) -> MutableMapping:
        """The attachments of one trial, in Redis keys of their own."""
        tid = int(trial["tid"])
        keys = self.keys
        return RedisAttachments(self.client, lambda name: keys.trial_attachment(tid, name),
                                f"trial {tid}", self.options["max_attachment_bytes"])

    def count_by_state_unsynced(self, arg: Any) -> int:
        self._pull()
        return super().count_by_state_unsynced(arg)

    def view(self, exp_key: str | None = None, refresh: bool = True) -> RedisTrials:
        """Another RedisTrials on the same Redis, for experiment ``exp_key``."""
        return RedisTrials(self.url, exp_key, client=self.client, refresh=refresh,
                           **self.options)

    def fmin(self, fn: Any, space: Any, algo: Any = None, max_evals: Any = None,
             **kwargs: Any) -> Any:
        """Run an asynchronous search: trials are evaluated by workers (see driver.py)."""
        from .driver import fmin_async

        return fmin_async(self, fn, space, algo=algo, max_evals=max_evals, **kwargs)

    # -- pickling: the connection is reopened from the URL ---------------------------------
    def __getstate__(self) -> dict:
        return {"url": self.url, "exp_key": self._exp_key, "options": self.options}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["url"], state["exp_key"], **state["options"])
