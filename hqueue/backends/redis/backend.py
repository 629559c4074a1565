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

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ...pruners.spec import dumps_spec
from ...security import dumps_domain, load_secret
from ...space.signature import SpaceChanged, check_same_space, describe
from ...states import JOB_STATE_NEW, CancelOutcome
from ...tasks import TaskSender, dispatch
from .records import ExperimentOptions, ExperimentRecords
from .segments import check_on_space_change, parse_segment, segment_of, stamp
from .store import Created, TrialStore

if TYPE_CHECKING:
    from redis import Redis

    from ...domain import Domain
    from ...pruners import Pruner
    from ...search import Search
    from .driver import AsyncRunner

logger = logging.getLogger(__name__)


class RedisBackend:
    """One experiment's trials in Redis, evaluated by workers (see the module docstring).

    ``segment`` is the segment of the experiment this backend shows and creates trials in
    (:mod:`.segments`; None until :meth:`read_segment` was asked: every trial is shown);
    ``on_space_change`` is what :meth:`publish` does with a changed space ("refuse" or
    "new_segment").
    """

    asynchronous = True
    reports_changes = True

    def __init__(self, client: Redis, exp_key: str | None, options: ExperimentOptions,
                 sender: Callable[[], TaskSender], on_space_change: str = "refuse") -> None:
        self.store = TrialStore(client, exp_key)
        self.records: ExperimentRecords = self.store.records
        self.options = options
        self.sender = sender
        self.run_pruner: Pruner | None = None  # fmin(pruner=...) of the current run
        self.on_space_change = check_on_space_change(on_space_change)
        self.segment: int | None = None
        self._written: dict[int, Created] = {}  # created here, not yet seen by changes_since
        self._seen_seq = 0  # the last change number changes_since returned
        self._local = False  # inside pull_locally(): changes_since does not ask Redis
        self._unsent: set[int] = set()  # created here, task not sent yet

    @property
    def client(self) -> Redis:
        return self.store.client

    def new_tids(self, n: int) -> list[int]:
        """Reserve ``n`` tids from the experiment's atomic counter."""
        return self.store.new_tids(n)

    def create(self, docs: Sequence[dict]) -> list[int]:
        """Write new trial documents in one round trip (existing tids are skipped), in this
        backend's segment; the tids created. :meth:`changes_since` will not read them back
        unless they changed since."""
        created = self.store.create_batch(stamp(docs, self.segment or 0))
        self._written.update((c.tid, c) for c in created)
        self._unsent.update(c.tid for c in created if c.doc["state"] == JOB_STATE_NEW)
        return [c.tid for c in created]

    def changes_since(self, seq: int) -> tuple[int, list[dict]]:
        """Documents of this backend's segment changed after change number ``seq``
        (:meth:`TrialStore.changes_since`); those this backend created and nothing changed
        since are not read again."""
        if self._local:
            docs = [c.doc for c in self._written.values() if c.seq > seq]
            return seq, docs  # seq kept: the next real pull reads what others changed since
        if seq < self._seen_seq:  # a reload (Redis lost writes?): read everything again
            self._written.clear()
        new_seq, docs = self.store.changes_since(seq, self._written)
        self._seen_seq = new_seq
        if self._written:
            self._written = {t: c for t, c in self._written.items() if c.seq > new_seq}
        if self.segment is not None:
            docs = [doc for doc in docs if segment_of(doc) == self.segment]
        return new_seq, docs

    @contextmanager
    def pull_locally(self) -> Iterator[None]:
        """Within the block, :meth:`changes_since` costs no round trip: it reports only the
        trials this backend created (as they were written); what workers and other clients
        changed meanwhile is read by the first pull after the block, which starts from the
        change number read before it. The driver tops up inside it, so one top-up reads
        Redis once (the pull just before it), however often the algorithm and ``Trials``
        sync.

        Example:
            >>> with backend.pull_locally():  # doctest: +SKIP
            ...     trials.insert_trial_docs(docs); trials.sync()  # no read of Redis
        """
        self._local = True
        try:
            yield
        finally:
            self._local = False

    def read_segment(self) -> int:
        """The experiment's current segment, as recorded in Redis (one HGET)."""
        return parse_segment(self.records.meta_fields("segment"))

    def cancel(self, tid: int) -> CancelOutcome:
        """Cancel a queued trial, or ask a running one to stop."""
        return self.store.cancel(tid)

    def publish(self, domain: Domain) -> str:
        """Upload the signed domain once (content-addressed) and the options; its digest.

        The run's pruner (``fmin``'s, set by :meth:`runner`) replaces the options' pruner
        (``RedisTrials``'s) when given; workers read it as a spec
        (:mod:`hqueue.pruners.spec`). An experiment that already has trials must be continued
        over the same space (:class:`~hqueue.space.signature.SpaceChanged` otherwise), unless
        this backend was made with ``on_space_change="new_segment"``: then a new segment
        starts (:meth:`start_segment`)."""
        signature = {p.label: describe(p) for p in domain.space.params}
        segment = None
        if self.store.current_seq() > 0:
            meta = self.records.meta()
            try:
                check_same_space(meta.get("space"), signature, self.store.exp_key)
            except SpaceChanged:
                if self.on_space_change != "new_segment":
                    raise
                segment = self.start_segment(parse_segment(meta) + 1)
        digest, blob = dumps_domain(domain, self.store.exp_key, load_secret())
        options = self.options if self.run_pruner is None else dataclasses.replace(
            self.options, pruner=dumps_spec(self.run_pruner))
        self.records.publish(digest, blob, options, space=json.dumps(signature),
                             segment=segment)
        return digest

    def start_segment(self, segment: int) -> int:
        """Begin segment ``segment``: cancel the queued and running trials of the previous
        one (none of them may run under the new space's objective); returns ``segment``.
        The caller records it in the meta hash with the new space."""
        store = self.store
        cancelled = [tid for tid in store.queued_tids() + store.running_tids()
                     if store.cancel(tid) != "finished"]
        logger.warning("experiment %r: the search space changed; segment %d starts "
                       "(on_space_change='new_segment'). The %d queued or running trial(s) of "
                       "segment %d were cancelled; its trials stay in Redis (hqueue trials "
                       "--segment %d) and are left out of this search", store.exp_key, segment,
                       len(cancelled), segment - 1, segment - 1)
        return segment

    def dispatch(self, tids: Iterable[int]) -> None:
        """Send each trial's task to the experiment's queue (:func:`hqueue.tasks.dispatch`).
        The first send of trials this backend has just created records no send time again
        (their creation stamped it)."""
        tids = [int(t) for t in tids]
        first = bool(tids) and self._unsent.issuperset(tids)
        self._unsent.difference_update(tids)
        dispatch(self.store, tids, self.options.queue, self.sender(), mark_sent=not first)

    def delete(self) -> int:
        """Delete every key of the experiment (:meth:`ExperimentRecords.delete`)."""
        return self.records.delete()

    def runner(self, search: Search) -> AsyncRunner:
        """The asynchronous runner of ``search`` over this backend."""
        from .driver import AsyncRunner

        self.run_pruner = search.pruner
        return AsyncRunner(search, self)
