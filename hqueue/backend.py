"""The seam between the search and where trials live: :class:`TrialBackend`.

``fmin`` and the ``Trials`` façades talk to a backend only through these methods. Two
implementations: :class:`hqueue.backends.memory.MemoryBackend` (a list in this process; the
serial runner evaluates trials itself) and
:class:`hqueue.backends.redis.backend.RedisBackend` (Redis; workers evaluate trials, the
asynchronous runner waits for them).

Example:
    >>> from hqueue.backends.memory import MemoryBackend
    >>> backend: TrialBackend = MemoryBackend()
    >>> backend.new_tids(2), backend.changes_since(0)
    ([0, 1], (0, []))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .states import CancelOutcome

if TYPE_CHECKING:
    from .domain import Domain


@runtime_checkable
class ChangeSource(Protocol):
    """Anything an incremental mirror can read: documents changed after a change number."""

    def changes_since(self, seq: int) -> tuple[int, list[dict]]:
        """``(new_seq, docs)``: the documents changed after ``seq`` (claim-free read)."""
        ...


@runtime_checkable
class TrialBackend(ChangeSource, Protocol):
    """Where one experiment's trials live (see the module docstring).

    ``asynchronous`` says who evaluates trials: False, the search loop in this process
    (``Trials`` then never calls :meth:`dispatch` for what it inserts); True, workers
    elsewhere (the loop only dispatches and waits).
    """

    asynchronous: bool
    #: True when every change to a document comes through :meth:`changes_since` (Redis);
    #: False when documents are edited in place (in memory), so a full refresh rescans
    reports_changes: bool

    def new_tids(self, n: int) -> list[int]:
        """Reserve ``n`` fresh tids, never handed out again."""
        ...

    def create(self, docs: Sequence[dict]) -> list[int]:
        """Store new trial documents; the tids created (existing ones are skipped). Nothing
        is dispatched: the caller sends the NEW ones with :meth:`dispatch`."""
        ...

    def cancel(self, tid: int) -> CancelOutcome:
        """Cancel a trial: CANCELLED (was queued), STOPPING (running) or FINISHED."""
        ...

    def publish(self, domain: Domain) -> str | None:
        """Make the domain (objective + space) and the options available to evaluators;
        called before any task is dispatched."""
        ...

    def dispatch(self, tids: Iterable[int]) -> None:
        """Hand NEW trials to their evaluators (send their tasks)."""
        ...
