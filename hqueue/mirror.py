"""One incremental local copy of an experiment's trial documents: :class:`TrialMirror`.

Every reader of an experiment keeps its copy with this class: the ``Trials`` façades (in-memory
and Redis; the sampler's :class:`~hqueue.history.History` is built from it by ``Trials``), the
CLI's overview and the dashboard (:class:`hqueue.backends.redis.overview.ExperimentMirror`).
:meth:`TrialMirror.pull` reads only what changed since the previous pull
(``source.changes_since(seq)``) and updates known documents in place, so objects holding a
document (``trials.trials``, the sampler history, a dashboard row) keep seeing its latest
version.

Example:
    >>> from hqueue.backends.memory import MemoryBackend
    >>> from hqueue.trial_doc import generate_trial
    >>> backend = MemoryBackend()
    >>> _ = backend.create([generate_trial(0, {"x": 1.0})])
    >>> mirror = TrialMirror(backend)
    >>> mirror.pull(), list(mirror.docs), mirror.changed
    (False, [0], [0])
    >>> mirror.count(0)
    1
"""

from __future__ import annotations

from collections import Counter

from .backend import ChangeSource
from .states import JOB_VALID_STATES


class TrialMirror:
    """A local copy of the documents ``source`` reports (see the module docstring).

    ``docs`` maps tid to document; ``ordered`` holds the same documents in the order they
    were first seen; ``changed`` the tids of the last pull; ``seq`` the change number read up
    to.
    """

    def __init__(self, source: ChangeSource) -> None:
        self.source = source
        self.seq = 0
        self.docs: dict[int, dict] = {}
        self.ordered: list[dict] = []
        self.changed: list[int] = []
        self._states: Counter[int] = Counter()

    def pull(self) -> bool:
        """Apply the changes since the last pull. True when a known document left or
        re-entered the valid states (NEW, RUNNING, DONE): views filtered on them, such as
        ``trials.trials``, must then be rebuilt."""
        self.seq, docs = self.source.changes_since(self.seq)
        if not docs:
            self.changed = []
            return False
        changed: list[int] = []  # ints (hyperopt also allows str tids)
        self.changed = changed
        known, states = self.docs, self._states
        view_changed = False
        for doc in docs:
            tid = doc["tid"]
            changed.append(tid)
            local = known.get(tid)
            if local is None:
                known[tid] = doc
                self.ordered.append(doc)
                states[doc["state"]] += 1
                continue
            if local is doc:  # a shared document (in-memory): already up to date
                continue
            states[local["state"]] -= 1
            states[doc["state"]] += 1
            # ERROR -> NEW (a requeue) re-enters the view; DONE -> ERROR etc. leaves it
            view_changed |= (local["state"] in JOB_VALID_STATES) != (
                doc["state"] in JOB_VALID_STATES)
            local.clear()
            local.update(doc)
        return view_changed

    def reload(self) -> None:
        """Read every document again (after the source lost changes its log missed)."""
        self.seq = 0
        self.pull()

    def count(self, *states: int) -> int:
        """How many mirrored documents were in ``states`` when last pulled (O(1); documents
        changed in place without a pull, as in-memory ones are, are not recounted)."""
        return sum(self._states[s] for s in states)
