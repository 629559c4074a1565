"""The trial store: every state change of a trial in Redis, each one atomic (a Lua script).

Where things happen:

- a trial is created by :meth:`TrialStore.create` (``scripts/create.lua``),
- claimed by a worker in :meth:`TrialStore.claim` (``claim.lua``),
- its lease renewed in :meth:`TrialStore.heartbeat` (``heartbeat.lua``),
- its partial result written in :meth:`TrialStore.checkpoint`,
- its final result written once in :meth:`TrialStore.finish` (``finish.lua``),
- handed back on shutdown in :meth:`TrialStore.release`,
- recovered after a lost worker in :meth:`TrialStore.expire_leases` (``expire.lua``),
- cancelled in :meth:`TrialStore.cancel`,
- put back in the queue after an error or a cancel in :meth:`TrialStore.requeue`
  (``requeue.lua``, for ``hqueue requeue``).

The store knows trial documents and leases, nothing of samplers or Celery. Keys are in
:mod:`hqueue.backends.redis.keys`.

Example:
    >>> import fakeredis
    >>> store = TrialStore(fakeredis.FakeRedis(), "demo")
    >>> [tid] = store.new_tids(1)
    >>> store.create([{"tid": tid, "spec": None, "result": {"status": "new"},
    ...                "misc": {"tid": tid, "cmd": None, "workdir": None, "idxs": {},
    ...                         "vals": {}}, "state": 0, "exp_key": "demo"}])
    [0]
    >>> store.claim(tid, owner="w1", lease_s=30).attempts
    1
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...exceptions import BadArgument
from ...states import (
    JOB_STATE_CANCEL,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    CancelOutcome,
    RunOutcome,
)
from ...trial_doc import utcnow
from .codec import CorruptTrialDocument, decode_doc, decode_value, encode_doc, encode_value
from .damaged import DamagedKey, as_damaged_key, guarded, naming
from .keys import STOP_CHANNEL, ExperimentKeys
from .records import ExperimentRecords, load_script

if TYPE_CHECKING:
    from redis import Redis

logger = logging.getLogger(__name__)

_FIXED_FIELDS = ("tid", "spec", "misc", "exp_key", "version")
_STATES = frozenset(range(5))  # JOB_STATE_NEW .. JOB_STATE_CANCEL
CREATE_BATCH = 500  # trials per create.lua call (one round trip each)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Claim:
    """A trial a worker now owns: its document as claimed and how many times it was."""

    tid: int
    attempts: int
    doc: dict


@dataclass(frozen=True)
class Created:
    """A trial written by :meth:`TrialStore.create_batch`: its change number and document."""

    tid: int
    seq: int
    doc: dict


@dataclass(frozen=True)
class Heartbeat:
    """Reply to a lease renewal."""

    alive: bool  # False: the lease was lost (requeued, cancelled or finished elsewhere)
    cancel_requested: bool


class TrialStore:
    """Trial documents of one experiment in Redis, changed only through atomic scripts."""

    SCRIPTS = ("create", "claim", "heartbeat", "checkpoint", "finish", "release", "expire",
               "cancel", "restore", "extend_leases", "raise_tid", "requeue", "adopt", "effect")

    def __init__(self, client: Redis, exp_key: str | None) -> None:
        self.client = client
        self.keys = ExperimentKeys(exp_key)
        self.exp_key = self.keys.exp_key
        self.records = ExperimentRecords(client, exp_key)
        self._scripts = {name: guarded(client.register_script(load_script(name)))
                         for name in self.SCRIPTS}

    @classmethod
    def from_url(cls, url: str, exp_key: str | None, **client_options: Any) -> TrialStore:
        """A store on a new client for ``url`` (``redis://``, ``rediss://``, ``unix://``,
        ``redis+sentinel://``)."""
        from .connection import client_from_url

        return cls(client_from_url(url, **client_options), exp_key)

    # -- creating -------------------------------------------------------------------------
    def new_tids(self, n: int) -> list[int]:
        """Reserve ``n`` fresh tids (an atomic counter: no tid is ever handed out twice)."""
        if n <= 0:
            return []
        with naming(self.keys.tid):
            last = int(self.client.incrby(self.keys.tid, n))
        return list(range(last - n, last))

    def create(self, docs: Iterable[Mapping[str, Any]]) -> list[int]:
        """Write new trial documents; returns the tids created (existing tids are skipped)."""
        return [c.tid for c in self.create_batch(docs)]

    def create_batch(self, docs: Iterable[Mapping[str, Any]]) -> list[Created]:
        """Write new trial documents in one round trip (one ``create.lua`` call per
        ``CREATE_BATCH`` trials, each atomic); for each one created (existing tids are
        skipped) its change number and the document exactly as a read would return it, so
        the writer need not read it back.

        Example:
            >>> [c.seq for c in store.create_batch(docs)]  # doctest: +SKIP
            [1, 2]
        """
        docs = list(docs)
        if not docs:
            return []
        self.records.register()
        created: list[Created] = []
        for i in range(0, len(docs), CREATE_BATCH):
            created += self._create_chunk(docs[i:i + CREATE_BATCH])
        return created

    def _create_chunk(self, docs: Sequence[Mapping[str, Any]]) -> list[Created]:
        """One ``create.lua`` call for ``docs`` (a tid repeated within them is created once,
        from its first document)."""
        keys, rows, seen = self.keys, [], set()
        for doc in docs:
            tid = int(doc["tid"])
            if tid in seen:
                continue
            seen.add(tid)
            rows.append((tid, {"doc": encode_doc({k: doc.get(k) for k in _FIXED_FIELDS}),
                               "result": encode_value(doc.get("result") or {}),
                               "state": int(doc.get("state", JOB_STATE_NEW))}))
        args: list[Any] = [_now_ms()]
        for tid, fields in rows:
            args += [tid, fields["doc"], fields["result"], fields["state"]]
        replies = self._scripts["create"](
            keys=[keys.tids, keys.queued, keys.changes, keys.seq,
                  *(keys.trial(tid) for tid, _ in rows)], args=args)
        created = []
        for (tid, fields), reply in zip(rows, replies):
            if reply:  # the change number; 0: the tid existed
                read_back = dict(fields, state=str(fields["state"]), owner=b"", attempts=b"0")
                created.append(Created(tid, int(reply), _assemble(read_back, keys.trial(tid))))
        return created

    # -- the worker's side ----------------------------------------------------------------
    def claim(self, tid: int, owner: str, lease_s: float) -> Claim | None:
        """Take a NEW trial for ``owner``; None when it is not NEW (a duplicate delivery).

        Raises :class:`CorruptTrialDocument` when the claimed trial's document cannot be
        read (the trial is then RUNNING and owned by ``owner``, who should finish it ERROR).
        """
        keys = self.keys
        reply = self._scripts["claim"](
            keys=[keys.trial(tid), keys.running, keys.queued, keys.changes, keys.seq],
            args=[tid, owner, _now_ms(), int(lease_s * 1000), encode_value(utcnow())],
        )
        if int(reply[0]) != 1:
            if len(reply) > 1 and int(reply[1]) == -2:
                logger.warning("trial %s of %r: its hash at %r is malformed (not a hash, or "
                               "its state is not a number); task dropped", tid, self.exp_key,
                               keys.trial(tid))
            return None
        flat = reply[2]  # the claimed hash, read in the same script: no second round trip
        fields = dict(zip(flat[::2], flat[1::2]))
        return Claim(int(tid), int(reply[1]), _assemble(fields, keys.trial(tid)))

    def heartbeat(self, tid: int, owner: str, lease_s: float) -> Heartbeat:
        """Renew ``owner``'s lease on a running trial."""
        keys = self.keys
        alive, cancel = self._scripts["heartbeat"](
            keys=[keys.trial(tid), keys.running],
            args=[tid, owner, _now_ms(), int(lease_s * 1000)],
        )
        return Heartbeat(bool(int(alive)), bool(int(cancel)))

    def checkpoint(self, tid: int, owner: str, result: Mapping[str, Any]) -> bool:
        """Publish a partial result of a running trial; False if ``owner`` lost it."""
        keys = self.keys
        return bool(self._scripts["checkpoint"](
            keys=[keys.trial(tid), keys.changes, keys.seq],
            args=[tid, owner, encode_value(dict(result)), encode_value(utcnow())],
        ))

    def finish(self, tid: int, owner: str, state: int, result: Mapping[str, Any],
               error: Sequence[str] | None = None) -> bool:
        """Write the final result once; False (result dropped) unless ``owner`` holds it."""
        if state not in (JOB_STATE_DONE, JOB_STATE_ERROR, JOB_STATE_CANCEL):
            raise ValueError(f"finish() takes a final state, got {state!r}")
        keys = self.keys
        return bool(self._scripts["finish"](
            keys=[keys.trial(tid), keys.running, keys.changes, keys.seq, keys.events],
            args=[tid, owner, state, encode_value(dict(result)), encode_value(utcnow()),
                  encode_value(list(error)) if error else ""],
        ))

    def release(self, tid: int, owner: str) -> bool:
        """Hand a running trial back unfinished (clean shutdown); the caller re-sends it."""
        keys = self.keys
        return bool(self._scripts["release"](
            keys=[keys.trial(tid), keys.running, keys.queued, keys.changes, keys.seq],
            args=[tid, owner, _now_ms()],
        ))

    # -- recovery and control -------------------------------------------------------------
    def expire_leases(self, max_attempts: int, now_ms: int | None = None
                      ) -> tuple[list[int], list[int]]:
        """Recover trials whose lease ran out: ``(requeued, errored)`` tids.

        Requeued trials are NEW again; the caller sends their tasks. A trial claimed
        ``max_attempts`` times becomes ERROR with the reason.
        """
        keys = self.keys
        now = _now_ms() if now_ms is None else now_ms
        requeued, errored = [], []
        with naming(keys.running):
            expired = self.client.zrangebyscore(keys.running, "-inf", now)
        for raw in expired:
            tid = int(raw)
            outcome = self._expire(tid, now, max_attempts, "")
            if outcome == 1:
                requeued.append(tid)
            elif outcome in (2, 3):
                errored.append(tid)
        return requeued, errored

    def expire_owned(self, tid: int, owner_prefix: str,
                     max_attempts: int) -> RunOutcome | None:
        """Recover a RUNNING trial now if its owner starts with ``owner_prefix`` (its worker
        process died, or its runner could not conclude it): "requeued" (NEW again with the
        attempt counted: the caller sends its task), "error" (at the retry cap) or None."""
        outcome = self._expire(int(tid), _now_ms(), max_attempts, owner_prefix)
        return {1: RunOutcome.REQUEUED, 2: RunOutcome.ERROR, 3: RunOutcome.ERROR}.get(outcome)

    def _expire(self, tid: int, now: int, max_attempts: int, owner_prefix: str) -> int:
        keys = self.keys
        reason = (f"trial {tid} lost its worker {max_attempts} times (killed, out of "
                  "memory or cut off from Redis); raise max_retries or check the worker logs")
        damage = (f"trial {tid}'s hash at {keys.trial(tid)!r} has a damaged 'state' or "
                  "'attempts' field (changed by something other than hqueue); marked ERROR")
        outcome = int(self._scripts["expire"](
            keys=[keys.trial(tid), keys.running, keys.queued, keys.changes, keys.seq,
                  keys.events],
            args=[tid, now, max_attempts, encode_value(["LeaseExpired", reason]),
                  encode_value(utcnow()), self._failed_result(tid, reason), owner_prefix,
                  encode_value(["DamagedTrial", damage]),
                  encode_value({"status": "fail", "failure": damage})],
        ))
        if outcome == 3:
            logger.error("%s", damage)
        elif outcome == 4:
            logger.error("trial %s of %r: its key %r is not a hash; dropped from the running "
                         "set (delete the key to repair the experiment)", tid, self.exp_key,
                         keys.trial(tid))
        return outcome

    def adopt_orphans(self, tids: Iterable[int], lease_s: float = 0.0) -> list[int]:
        """Put RUNNING trials among ``tids`` that are missing from the running set back in it,
        with a lease of ``lease_s`` from now, so :meth:`expire_leases` recovers them if no
        worker renews them; returns those tids."""
        tids = [int(t) for t in tids]
        if not tids:
            return []
        keys = self.keys
        adopted = self._scripts["adopt"](
            keys=[keys.running, *(keys.trial(t) for t in tids)],
            args=[_now_ms() + int(lease_s * 1000), *tids],
        )
        found = [int(t) for t in adopted]
        if found:
            logger.warning("RUNNING trials %s of %r were missing from %r; put back so their "
                           "lease is checked", found, self.exp_key, keys.running)
        return found

    def reserve_effect(self, tid: int, seq: int, n: int) -> list[int]:
        """The ``n`` tids of side effect number ``seq`` of trial ``tid`` (``ctrl.enqueue``,
        ``ctrl.inject_results``): fresh tids the first time, the same ones on every retry of
        the trial, so the trials they name are created once."""
        if n <= 0:
            return []
        _, text = self._scripts["effect"](keys=[self.keys.trial_effects(tid), self.keys.tid],
                                          args=[int(seq), int(n)])
        tids = [int(t) for t in _text(text).split(",")]
        if len(tids) != n:
            raise BadArgument(f"side effect {seq} of trial {tid} created {len(tids)} trials on "
                              f"an earlier attempt, not {n}: a retried objective must make the "
                              "same ctrl.enqueue/inject_results calls in the same order")
        return tids

    def _failed_result(self, tid: int, reason: str) -> bytes:
        """The result an expired trial gets if it becomes ERROR: its last partial result (a
        checkpoint), marked failed with the reason."""
        try:
            last = decode_value(self.client.hget(self.keys.trial(tid), "result") or b"")
        except Exception:  # unreadable partial result: keep only the reason
            last = None
        result = dict(last) if isinstance(last, Mapping) else {}
        result.update(status="fail", failure=reason)
        return encode_value(result)

    def cancel(self, tid: int) -> CancelOutcome:
        """Cancel a trial: CANCELLED (was queued), STOPPING (running: its worker is told at
        once on :data:`~.keys.STOP_CHANNEL`) or FINISHED."""
        keys = self.keys
        outcome = int(self._scripts["cancel"](
            keys=[keys.trial(tid), keys.queued, keys.changes, keys.seq, keys.events],
            args=[tid, encode_value({"status": "fail", "failure": "cancelled"}),
                  encode_value(utcnow()), STOP_CHANNEL, f"{int(tid)}:{self.exp_key}"],
        ))
        return {1: CancelOutcome.CANCELLED, 2: CancelOutcome.STOPPING}.get(
            outcome, CancelOutcome.FINISHED)

    # -- after a Redis restart or crash -------------------------------------------------------
    def current_seq(self) -> int:
        """The experiment's last change number (it goes back if a crash lost changes)."""
        with naming(self.keys.seq):
            raw = self.client.get(self.keys.seq) or 0
        try:
            return int(raw)
        except ValueError:
            raise DamagedKey(f"Redis key {self.keys.seq} holds no integer, expected a counter: "
                             "delete it to repair the experiment", self.keys.seq) from None

    def extend_leases(self, lease_s: float) -> int:
        """Give every running trial a lease of ``lease_s`` from now (after a Redis restart,
        whose downtime its worker's heartbeats could not cross); returns how many."""
        return int(self._scripts["extend_leases"](
            keys=[self.keys.running], args=[_now_ms() + int(lease_s * 1000)]))

    def raise_tid_counter(self, at_least: int) -> int:
        """Make sure no tid below ``at_least`` is handed out again; returns the counter."""
        return int(self._scripts["raise_tid"](keys=[self.keys.tid], args=[int(at_least)]))

    def restore_final(self, doc: Mapping[str, Any]) -> bool:
        """Write back the final state and result of ``doc`` if Redis has it as NEW or
        RUNNING again (a crash lost its finish); False when Redis already has it final."""
        keys, tid = self.keys, int(doc["tid"])
        error = (doc.get("misc") or {}).get("error")
        refresh = doc.get("refresh_time")
        return bool(self._scripts["restore"](
            keys=[keys.trial(tid), keys.running, keys.queued, keys.changes, keys.seq,
                  keys.events],
            args=[tid, int(doc["state"]), encode_value(dict(doc.get("result") or {})),
                  encode_value(refresh) if refresh is not None else "",
                  encode_value(list(error)) if error else ""],
        ))

    def stale_queued(self, older_than_s: float) -> list[int]:
        """NEW trials whose task was sent more than ``older_than_s`` ago (maybe lost)."""
        cutoff = _now_ms() - int(older_than_s * 1000)
        with naming(self.keys.queued):
            return [int(t) for t in self.client.zrangebyscore(self.keys.queued, "-inf", cutoff)]

    def mark_sent(self, tids: Iterable[int]) -> None:
        """Record that tasks for ``tids`` were (re)sent now."""
        now = _now_ms()
        mapping = {str(t): now for t in tids}
        if mapping:
            with naming(self.keys.queued):
                self.client.zadd(self.keys.queued, mapping, xx=True)

    def requeue(self, tid: int, states: Iterable[int] = (JOB_STATE_ERROR,)) -> bool:
        """Put a trial in one of ``states`` (ERROR, CANCEL) back in the queue: NEW again, its
        result, error, owner and attempts cleared (``requeue.lua``). True when requeued: the
        caller then sends its task. False when it is in another state (or unknown)."""
        allowed = set(int(s) for s in states)
        if not allowed <= {JOB_STATE_ERROR, JOB_STATE_CANCEL}:
            raise ValueError(f"requeue() takes ERROR or CANCEL trials, got states {allowed}")
        keys = self.keys
        return bool(self._scripts["requeue"](
            keys=[keys.trial(tid), keys.queued, keys.running, keys.changes, keys.seq],
            args=[tid, _now_ms(), "," + ",".join(str(s) for s in sorted(allowed)) + ",",
                  encode_value({"status": "new"})],
        ))

    # -- reading --------------------------------------------------------------------------
    def get(self, tid: int) -> dict | None:
        """One trial document (hyperopt's schema), or None."""
        key = self.keys.trial(tid)
        try:
            fields = self.client.hgetall(key)
        except Exception as exc:  # a trial key that is not a hash
            damaged = as_damaged_key(exc, key)
            if damaged is None:
                raise
            raise CorruptTrialDocument(str(damaged), key=key) from None
        return _assemble(fields, key) if fields else None

    def get_many(self, tids: Sequence[int], unreadable_as_error: bool = False) -> list[dict]:
        """Several trial documents (missing tids are skipped). A damaged document raises
        :class:`CorruptTrialDocument`, or with ``unreadable_as_error`` is logged and read as
        an ERROR trial (what readers that must not stop over one bad trial want)."""
        pipe = self.client.pipeline(transaction=False)
        for tid in tids:
            pipe.hgetall(self.keys.trial(tid))
        docs = []
        for tid, fields in zip(tids, pipe.execute(raise_on_error=False)):
            if not fields:
                continue
            try:
                docs.append(_assemble_reply(fields, self.keys.trial(tid)))
            except CorruptTrialDocument as exc:
                if not unreadable_as_error:
                    raise
                logger.warning("trial %s of %r is unreadable, counted as ERROR: %s", tid,
                               self.exp_key, exc)
                docs.append(self._unreadable(tid, exc))
        return docs

    def changes_since(self, seq: int, known: Mapping[int, Created] | None = None
                      ) -> tuple[int, list[dict]]:
        """Documents changed after change number ``seq``: ``(new_seq, docs)``; a damaged one
        reads as an ERROR trial. A trial whose last change is one in ``known`` (what
        :meth:`create_batch` returned to this caller) is not read again: its document from
        there is returned.

        Cost is proportional to the number of changed trials, not to the experiment's size.
        """
        with naming(self.keys.changes):
            rows = self.client.zrangebyscore(self.keys.changes, f"({seq}", "+inf",
                                             withscores=True)
        if not rows:
            return seq, []
        new_seq = int(max(score for _, score in rows))
        known = known or {}
        changed = [(int(t), int(score)) for t, score in rows]
        to_read = [tid for tid, score in changed
                   if tid not in known or known[tid].seq != score]
        if len(to_read) == len(changed):
            return new_seq, self.get_many(to_read, unreadable_as_error=True)
        read = {d["tid"]: d for d in self.get_many(to_read, unreadable_as_error=True)}
        unread = set(to_read)
        docs = [read[tid] if tid in unread else known[tid].doc for tid, _ in changed
                if tid in read or tid not in unread]
        return new_seq, docs

    def _unreadable(self, tid: int, exc: Exception) -> dict:
        """What readers see of a trial whose stored document is damaged: an ERROR trial."""
        return {"tid": tid, "spec": None, "exp_key": self.exp_key, "version": 0,
                "state": JOB_STATE_ERROR, "owner": None, "book_time": None,
                "refresh_time": None,
                "result": {"status": "fail", "failure": str(exc)},
                "misc": {"tid": tid, "cmd": None, "workdir": None, "idxs": {}, "vals": {},
                         "attempts": 0, "error": (type(exc).__name__, str(exc))}}

    def running_tids(self) -> list[int]:
        with naming(self.keys.running):
            return [int(t) for t in self.client.zrange(self.keys.running, 0, -1)]

    def queued_tids(self) -> list[int]:
        with naming(self.keys.queued):
            return [int(t) for t in self.client.zrange(self.keys.queued, 0, -1)]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _assemble_reply(reply: Any, where: str) -> dict:
    """:func:`_assemble` of a pipelined HGETALL reply, which is an error for a key that is
    not a hash (one such key must not fail the read of the whole experiment)."""
    if isinstance(reply, Exception):
        damaged = as_damaged_key(reply, where)
        if damaged is None:
            raise reply
        raise CorruptTrialDocument(str(damaged), key=where)
    return _assemble(reply, where)


def _assemble(fields: Mapping[Any, Any], where: str) -> dict:
    """The document in a trial hash; :class:`CorruptTrialDocument` for anything malformed
    (a missing field, a number that is not one, a blob the codec refuses), never a raw
    KeyError/ValueError/TypeError."""
    try:
        return _assemble_fields(fields, where)
    except CorruptTrialDocument:
        raise
    except KeyError as exc:
        raise CorruptTrialDocument(f"missing field {exc}", key=where) from exc
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise CorruptTrialDocument(f"{type(exc).__name__}: {exc}", key=where) from exc


def _assemble_fields(fields: Mapping[Any, Any], where: str) -> dict:
    f = {_text(k): v for k, v in fields.items()}
    doc = decode_doc(f["doc"], key=where)
    if not isinstance(doc.get("tid"), int) or not isinstance(doc.get("misc"), dict):
        raise CorruptTrialDocument("the document has no int 'tid' or no 'misc' map", key=where)
    if doc["tid"] != int(where.rsplit(":", 1)[1]):
        raise CorruptTrialDocument(f"the document's tid {doc['tid']} is not its key's",
                                   key=where)
    doc["state"] = int(f["state"])
    if doc["state"] not in _STATES:
        raise CorruptTrialDocument(f"unknown state {doc['state']}", key=where)
    owner = _text(f.get("owner", b""))
    doc["owner"] = owner or None
    doc["result"] = decode_value(f["result"], key=where) if f.get("result") else \
        {"status": "new"}
    if not isinstance(doc["result"], dict):
        raise CorruptTrialDocument("field 'result' is not a map", key=where)
    doc["book_time"] = decode_value(f["book_time"], key=where) if f.get("book_time") else None
    doc["refresh_time"] = decode_value(f["refresh_time"], key=where) \
        if f.get("refresh_time") else None
    doc["misc"]["attempts"] = int(f.get("attempts", 0) or 0)
    if f.get("error"):
        error = decode_value(f["error"], key=where)
        if not isinstance(error, (list, tuple)):
            raise CorruptTrialDocument("field 'error' is not a [type, message] list", key=where)
        doc["misc"]["error"] = tuple(error)
    return doc
