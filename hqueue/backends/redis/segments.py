"""Segments of an experiment: searches over different spaces kept apart under one exp_key.

A driver whose space differs from the one an experiment was searched over is refused
(:class:`~hqueue.space.signature.SpaceChanged`) unless it opts in with
``RedisTrials(url, exp_key, on_space_change="new_segment")``. Then a new *segment* starts:
the meta hash's ``segment`` field goes up by one, the stored space signature is replaced,
the previous segment's queued and running trials are cancelled, and every trial created from
then on carries ``misc["segment"]``. The driver's view (``RedisTrials``: the algorithm's
history, ``best``/argmin, ``len(trials)``, what ``max_evals`` counts) holds only the current
segment's trials; the older ones stay in Redis (``hqueue trials --segment N``). A worker
that claims a trial of an older segment (created by a cancelled trial's ``ctrl.enqueue``,
or requeued) ends it CANCEL without running it: the experiment's domain is the new space's.

Segment 0 is the experiment's first search: its trials carry no ``segment`` field (documents
stay exactly as before segments existed).

Example:
    >>> docs = [{"tid": 0, "misc": {}}, {"tid": 1, "misc": {"segment": 2}}]
    >>> [segment_of(d) for d in docs]
    [0, 2]
    >>> stamp([{"tid": 2, "misc": {}}], 2)[0]["misc"]
    {'segment': 2}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...exceptions import BadArgument
from ...states import JOB_STATE_CANCEL

if TYPE_CHECKING:
    from .store import TrialStore

logger = logging.getLogger(__name__)

FIELD = "segment"  # the meta hash field and the misc key
ON_SPACE_CHANGE = ("refuse", "new_segment")  # what a driver may do when the space changed


def check_on_space_change(value: str) -> str:
    """``value`` if it is one of :data:`ON_SPACE_CHANGE`, else a one-line error.

    Example:
        >>> check_on_space_change("new_segment")
        'new_segment'
    """
    if value not in ON_SPACE_CHANGE:
        raise BadArgument(f"on_space_change={value!r}: use 'refuse' (the default: a changed "
                          "space raises SpaceChanged) or 'new_segment' (start a new segment "
                          "of the experiment, its older trials kept apart)")
    return value


def segment_of(doc: Mapping[str, Any]) -> int:
    """The segment a trial document belongs to (0 when it carries none)."""
    misc = doc.get("misc") or {}
    try:
        return int(misc.get(FIELD, 0) or 0)
    except (TypeError, ValueError):
        return 0


def stamp(docs: Sequence[dict], segment: int) -> Sequence[dict]:
    """Mark new trial documents as belonging to ``segment`` (nothing for segment 0, and a
    document that already names its segment keeps it); returns ``docs``."""
    if segment:
        for doc in docs:
            doc["misc"].setdefault(FIELD, int(segment))
    return docs


def parse_segment(meta: Mapping[str, str]) -> int:
    """The current segment recorded in an experiment's meta hash (as text; 0 when none).

    Example:
        >>> parse_segment({"segment": "3"}), parse_segment({})
        (3, 0)
    """
    try:
        return max(int(meta.get(FIELD) or 0), 0)
    except ValueError:
        return 0


def finish_outside_segment(store: TrialStore, tid: int, owner: str, current: int) -> str:
    """End a claimed trial of an older segment without running it (the experiment's domain
    is now the current segment's: its objective must not evaluate a point of another
    space): CANCEL with the reason. Returns "cancelled" ("lost" if the lease went).

    Example:
        >>> import fakeredis
        >>> from hqueue.backends.redis.store import TrialStore
        >>> from hqueue.trial_doc import generate_trial
        >>> store = TrialStore(fakeredis.FakeRedis(), "e")
        >>> _ = store.create([generate_trial(0, {"x": 1.0}, "e")])
        >>> _ = store.claim(0, owner="w1", lease_s=30)
        >>> finish_outside_segment(store, 0, "w1", current=1)
        'cancelled'
    """
    reason = (f"trial {tid} belongs to an older segment of {store.exp_key!r}, which a search "
              f"over a changed space (segment {current}) replaced; not run")
    logger.warning("%s", reason)
    ok = store.finish(tid, owner, JOB_STATE_CANCEL, {"status": "fail", "failure": reason})
    return "cancelled" if ok else "lost"


def segment_counts(docs: Sequence[Mapping[str, Any]]) -> dict[int, int]:
    """How many trials each segment has, by segment number.

    Example:
        >>> segment_counts([{"misc": {}}, {"misc": {"segment": 1}}, {"misc": {}}])
        {0: 2, 1: 1}
    """
    counts: dict[int, int] = {}
    for doc in docs:
        n = segment_of(doc)
        counts[n] = counts.get(n, 0) + 1
    return dict(sorted(counts.items()))
