"""The in-memory backend: one experiment's trial documents in a list in this process.

Documents are shared, not copied: the serial runner and ``Ctrl`` change a trial's state and
result in place, which every reader holding the document sees at once. So
:meth:`MemoryBackend.changes_since` reports each document once, when it is created.
Several backends may share one list (``Trials.view(exp_key)``); each sees only the documents
of its ``exp_key`` (all of them when it is None).

Example:
    >>> from hqueue.trial_doc import generate_trial
    >>> backend = MemoryBackend()
    >>> backend.create([generate_trial(t, {"x": t}) for t in backend.new_tids(2)])
    [0, 1]
    >>> seq, docs = backend.changes_since(0)
    >>> seq, [d["tid"] for d in docs], backend.changes_since(seq)
    (2, [0, 1], (2, []))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..states import (
    JOB_STATE_CANCEL,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    STATUS_FAIL,
    CancelOutcome,
)

if TYPE_CHECKING:
    from ..domain import Domain


class DocumentList:
    """The documents and the tid counter several in-memory views share."""

    def __init__(self, docs: list[dict] | None = None, next_tid: int = 0) -> None:
        self.docs: list[dict] = [] if docs is None else docs
        # hyperopt allows str tids (insert_trial_doc): only integer ones move the counter
        self.next_tid = max([next_tid] + [d["tid"] + 1 for d in self.docs
                                          if isinstance(d["tid"], int)])


class MemoryBackend:
    """Trials of one experiment in this process (see the module docstring)."""

    asynchronous = False
    reports_changes = False  # documents are edited in place: a refresh must rescan

    def __init__(self, exp_key: str | None = None, shared: DocumentList | None = None) -> None:
        self.exp_key = exp_key
        self.shared = DocumentList() if shared is None else shared

    @property
    def docs(self) -> list[dict]:
        """Every document of the shared list (all experiments), in insertion order."""
        return self.shared.docs

    def owns(self, doc: Mapping[str, Any]) -> bool:
        """Whether ``doc`` belongs to this backend's experiment."""
        return self.exp_key is None or doc.get("exp_key") == self.exp_key

    def new_tids(self, n: int) -> list[int]:
        """Reserve ``n`` fresh tids (above every tid inserted so far)."""
        start = self.shared.next_tid
        self.shared.next_tid += n
        return list(range(start, start + n))

    def create(self, docs: Sequence[dict]) -> list[int]:
        """Append the documents (not copied); returns their tids (a str tid, which hyperopt
        allows, is kept as it is and does not move the counter)."""
        shared = self.shared
        shared.docs.extend(docs)
        tids = []
        for doc in docs:
            tid = doc["tid"]
            tids.append(tid)
            if isinstance(tid, int) and tid >= shared.next_tid:
                shared.next_tid = tid + 1
        return tids

    def changes_since(self, seq: int) -> tuple[int, list[dict]]:
        """Documents created after change number ``seq`` (the list length then)."""
        docs = self.shared.docs
        n = len(docs)
        if seq >= n:  # the serial loop asks after every step; most times nothing is new
            return n, []
        if self.exp_key is None:
            return n, docs[seq:]
        return n, [d for d in docs[seq:] if d.get("exp_key") == self.exp_key]

    def cancel(self, tid: int) -> CancelOutcome:
        """Cancel a queued trial in place (CANCELLED); a running one is left to finish
        (STOPPING, the serial runner checks nothing more); else FINISHED."""
        for doc in self.shared.docs:
            if doc["tid"] == tid and self.owns(doc):
                if doc["state"] == JOB_STATE_NEW:
                    doc["state"] = JOB_STATE_CANCEL
                    doc["result"] = {"status": STATUS_FAIL, "failure": "cancelled: search stopped"}
                    return CancelOutcome.CANCELLED
                if doc["state"] == JOB_STATE_RUNNING:
                    return CancelOutcome.STOPPING
                return CancelOutcome.FINISHED
        return CancelOutcome.FINISHED

    def publish(self, domain: Domain) -> None:
        """Nothing to publish: the serial runner holds the domain."""

    def dispatch(self, tids: Iterable[int]) -> None:
        """Nothing to send: the serial runner evaluates NEW trials itself."""

    def clear(self) -> None:
        """Forget every document and reset the tid counter."""
        self.shared.docs.clear()
        self.shared.next_tid = 0
