"""The Redis implementation of :class:`hqueue.backend.TrialBackend`.

Trial documents go through the :class:`~.store.TrialStore` (one Lua script per state change);
the experiment-level records (meta hash, domain blob, experiments set) through
:class:`~.records.ExperimentRecords`. Tasks are sent by the :data:`~hqueue.tasks.TaskSender`
it is handed (by default a send-only Celery app for the same Redis): the storage layer never
imports the worker.

Example:
    >>> import fakeredis
    >>> sent = []
    >>> backend = RedisBackend(fakeredis.FakeRedis(), "exp1", ExperimentOptions(),
    ...                        sender=lambda: lambda exp, tid, queue: sent.append((exp, tid)))
    >>> from hqueue.trial_doc import generate_trial
    >>> backend.create([generate_trial(t, {"x": 1.0}, "exp1") for t in backend.new_tids(1)])
    [0]
    >>> backend.dispatch([0]); sent
    [('exp1', 0)]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from ...security import dumps_domain, load_secret
from ...space.signature import check_same_space, describe
from ...tasks import TaskSender, dispatch
from .records import ExperimentOptions, ExperimentRecords
from .store import Created, TrialStore

if TYPE_CHECKING:
    from redis import Redis

    from ...domain import Domain
    from ...search import Search
    from .driver import AsyncRunner


class RedisBackend:
    """One experiment's trials in Redis, evaluated by workers (see the module docstring)."""

    asynchronous = True
    reports_changes = True

    def __init__(self, client: Redis, exp_key: str | None, options: ExperimentOptions,
                 sender: Callable[[], TaskSender]) -> None:
        self.store = TrialStore(client, exp_key)
        self.records: ExperimentRecords = self.store.records
        self.options = options
        self.sender = sender
        self._written: dict[int, Created] = {}  # created here, not yet seen by changes_since
        self._seen_seq = 0  # the last change number changes_since returned

    @property
    def client(self) -> Redis:
        return self.store.client

    def new_tids(self, n: int) -> list[int]:
        """Reserve ``n`` tids from the experiment's atomic counter."""
        return self.store.new_tids(n)

    def create(self, docs: Sequence[dict]) -> list[int]:
        """Write new trial documents in one round trip (existing tids are skipped); the tids
        created. :meth:`changes_since` will not read them back unless they changed since."""
        created = self.store.create_batch(docs)
        self._written.update((c.tid, c) for c in created)
        return [c.tid for c in created]

    def changes_since(self, seq: int) -> tuple[int, list[dict]]:
        """Documents changed after change number ``seq`` (:meth:`TrialStore.changes_since`);
        those this backend created and nothing changed since are not read again."""
        if seq < self._seen_seq:  # a reload (Redis lost writes?): read everything again
            self._written.clear()
        new_seq, docs = self.store.changes_since(seq, self._written)
        self._seen_seq = new_seq
        if self._written:
            self._written = {t: c for t, c in self._written.items() if c.seq > new_seq}
        return new_seq, docs

    def cancel(self, tid: int) -> str:
        """Cancel a queued trial, or ask a running one to stop."""
        return self.store.cancel(tid)

    def publish(self, domain: Domain) -> str:
        """Upload the signed domain once (content-addressed) and the options; its digest.

        An experiment that already has trials must be continued over the same space
        (:class:`~hqueue.space.signature.SpaceChanged` otherwise)."""
        signature = {p.label: describe(p) for p in domain.space.params}
        if self.store.current_seq() > 0:
            check_same_space(self.records.meta().get("space"), signature, self.store.exp_key)
        digest, blob = dumps_domain(domain, self.store.exp_key, load_secret())
        self.records.publish(digest, blob, self.options, space=json.dumps(signature))
        return digest

    def dispatch(self, tids: Iterable[int]) -> None:
        """Send each trial's task to the experiment's queue (:func:`hqueue.tasks.dispatch`)."""
        dispatch(self.store, tids, self.options.queue, self.sender())

    def delete(self) -> int:
        """Delete every key of the experiment (:meth:`ExperimentRecords.delete`)."""
        return self.records.delete()

    def runner(self, search: Search) -> AsyncRunner:
        """The asynchronous runner of ``search`` over this backend."""
        from .driver import AsyncRunner

        return AsyncRunner(search, self)
