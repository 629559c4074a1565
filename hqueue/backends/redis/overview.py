"""A read model of experiments for people watching them: the CLI and the dashboard share it.

:class:`ExperimentMirror` keeps a local copy of one experiment's trial documents (hyperopt's
schema, as :class:`~hqueue.backends.redis.trials.RedisTrials` builds them); each
:meth:`~ExperimentMirror.refresh` reads only the trials that changed since the previous one
(:meth:`TrialStore.changes_since`). :func:`summarize` turns a mirror and the live worker
presence into an :class:`ExperimentSummary` (one row of ``hqueue status``), and
:func:`trial_rows` into flat rows (one per trial, one key per parameter label) for tables,
exports and plots. Nothing here writes to Redis.

Example:
    >>> import fakeredis
    >>> from hqueue.backends.redis.store import TrialStore
    >>> from hqueue.fmin import generate_trial
    >>> client = fakeredis.FakeRedis()
    >>> store = TrialStore(client, "exp1")
    >>> _ = store.create([generate_trial(0, {"x": 0.5}), generate_trial(1, {"x": -1.0})])
    >>> list_experiments(client)
    ['exp1']
    >>> mirror = ExperimentMirror(client, "exp1")
    >>> mirror.refresh(), mirror.refresh()
    (2, 0)
    >>> summarize(mirror, workers=[]).counts["new"]
    2
    >>> [(row["tid"], row["state"], row["x"]) for row in trial_rows(mirror)]
    [(0, 'new', 0.5), (1, 'new', -1.0)]
"""

from __future__ import annotations

import bisect
import datetime
import heapq
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...exceptions import HqueueError
from ...mirror import TrialMirror
from ...states import (
    JOB_STATE_CANCEL,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
)
from ...trial_doc import active_values, finished_loss
from .damaged import DamageNotes
from .keys import ExperimentKeys
from .presence import WorkerPresence
from .records import (
    UnknownExperiment,
    holder_is_dead,
    list_experiments,
    parse_created,
    parse_options,
    require_experiment,
    text,
)
from .segments import parse_segment, segment_of
from .store import TrialStore

if TYPE_CHECKING:
    from redis import Redis

__all__ = ["STATE_NAMES", "ExperimentMirror", "ExperimentSummary", "SummaryTracker",
           "UnknownExperiment",
           "flat_params", "latest_report", "list_experiments", "param_labels", "require_experiment",
           "state_code", "summarize", "trial_rows"]

STATE_NAMES: dict[int, str] = {JOB_STATE_NEW: "new", JOB_STATE_RUNNING: "running",
                               JOB_STATE_DONE: "done", JOB_STATE_ERROR: "error",
                               JOB_STATE_CANCEL: "cancel"}
RATE_WINDOW_S = 600.0  # trials/min looks at most 10 minutes back ...
RATE_MIN_SPAN_S = 60.0  # ... and over at least a minute
FIXED_COLUMNS = ("tid", "state", "loss", "step", "status", "duration_s", "worker", "attempts",
                 "book_time", "refresh_time", "error")
PARAM_PREFIX = "param."  # for a label that would shadow a fixed column ("loss", "tid", ...)



def state_code(state: int | str) -> int:
    """A state given as a name ("done") or a number (2) as its number.

    Example:
        >>> state_code("error"), state_code(2)
        (3, 2)
    """
    if isinstance(state, int):
        if state in STATE_NAMES:
            return state
    else:
        for code, name in STATE_NAMES.items():
            if str(state).strip().lower() in (name, str(code)):
                return code
    raise HqueueError(f"unknown trial state {state!r}: use one of "
                      f"{', '.join(STATE_NAMES.values())}")


class ExperimentMirror(TrialMirror):
    """The :class:`~hqueue.mirror.TrialMirror` of one experiment in Redis (``.docs`` by tid),
    with the experiment's meta for the CLI and the dashboard.

    Example:
        >>> import fakeredis
        >>> mirror = ExperimentMirror(fakeredis.FakeRedis(), "empty")
        >>> mirror.refresh(), mirror.docs
        (0, {})
    """

    def __init__(self, client: Redis, exp_key: str | None) -> None:
        self.client = client
        self.store = TrialStore(client, exp_key)
        super().__init__(self.store)
        self.keys: ExperimentKeys = self.store.keys
        self.exp_key = self.keys.exp_key
        self.damage = DamageNotes(self.exp_key)

    @property
    def damaged(self) -> list[str]:
        """The names of this experiment's keys found damaged by the latest reads, sorted."""
        return sorted(self.damage.keys)

    def refresh(self) -> int:
        """Read the trials changed since the last refresh; returns how many changed (their
        tids are in ``.changed`` until the next refresh). A damaged ``changes`` key reads as
        no change and is listed in :attr:`damaged`: one experiment must not hide the others."""
        self.changed = []
        self.damage.read(self.keys.changes, self.pull, False)
        return len(self.changed)

    def went_back(self) -> bool:
        """True when the experiment's change counter is below what was mirrored (purged and
        created again, or Redis restored from an older snapshot); False when the counter
        is damaged (then listed in :attr:`damaged`)."""
        current = self.damage.read(self.keys.seq, self.store.current_seq, None)
        return bool(self.seq) and current is not None and current < self.seq

    def meta(self) -> dict[str, str]:
        """The experiment's meta hash (queue, created, options) as text (empty, and listed in
        :attr:`damaged`, when the key is damaged)."""
        return self.damage.read(self.keys.meta, self.store.records.meta, {})

    @property
    def queue(self) -> str:
        """The Celery queue the experiment's tasks go to (the default queue unless set)."""
        return parse_options(self.meta()).queue

    def labels(self) -> list[str]:
        """Every parameter label seen in the mirrored trials, sorted."""
        return param_labels(self.docs.values())


@dataclass
class ExperimentSummary:
    """One experiment at a glance (a row of ``hqueue status``)."""

    exp_key: str
    counts: dict[str, int]
    best_loss: float | None = None
    best_tid: int | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    trials_per_min: float = 0.0
    queue_depth: int = 0
    live_workers: int = 0
    driver_alive: bool = False
    created: datetime.datetime | None = None
    damaged: list[str] = field(default_factory=list)  # names of its damaged Redis keys

    @property
    def total(self) -> int:
        """Number of trials in every state."""
        return sum(self.counts.values())


def flat_params(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``{label: value}`` of a trial's active parameters (choices as indices), from
    ``misc.vals`` (inactive conditional labels are left out).

    Example:
        >>> flat_params({"misc": {"vals": {"x": [0.5], "lr": []}}})
        {'x': 0.5}
    """
    return active_values(doc.get("misc"))


def param_labels(docs: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every label of ``misc.vals`` in ``docs``, sorted.

    Example:
        >>> param_labels([{"misc": {"vals": {"y": [1], "x": []}}}])
        ['x', 'y']
    """
    labels: set[str] = set()
    for doc in docs:
        labels.update(((doc.get("misc") or {}).get("vals") or {}).keys())
    return sorted(labels)


def _epoch(when: datetime.datetime | None) -> float | None:
    """Epoch seconds of a trial document time (naive UTC) or an aware datetime."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


def summarize(mirror: ExperimentMirror, workers: Sequence[WorkerPresence],
              now: float | None = None) -> ExperimentSummary:
    """The summary of ``mirror``'s experiment as of its last refresh; ``workers`` is
    ``WorkerRegistry.list()``; ``now`` is epoch seconds (default: the current time).
    Reads every mirrored trial: to summarize after each refresh, keep a
    :class:`SummaryTracker`.

    Example:
        >>> import fakeredis
        >>> s = summarize(ExperimentMirror(fakeredis.FakeRedis(), "e"), workers=[])
        >>> s.counts, s.best_loss, s.driver_alive
        ({'new': 0, 'running': 0, 'done': 0, 'error': 0, 'cancel': 0}, None, False)
    """
    tracker = SummaryTracker(mirror)
    tracker.update(mirror.docs)
    return tracker.summary(workers, now)


class SummaryTracker:
    """:func:`summarize` kept up to date from the trials that changed: after each
    ``mirror.refresh()``, ``update(mirror.changed)`` costs O(changed trials), so polling a
    100,000-trial experiment stays cheap.

    Example:
        >>> import fakeredis
        >>> from hqueue.backends.redis.store import TrialStore
        >>> from hqueue.fmin import generate_trial
        >>> client = fakeredis.FakeRedis()
        >>> _ = TrialStore(client, "e").create([generate_trial(0, {"x": 1.0})])
        >>> mirror = ExperimentMirror(client, "e")
        >>> tracker = SummaryTracker(mirror)
        >>> _ = mirror.refresh(); tracker.update(mirror.changed)
        >>> tracker.summary(workers=[]).counts["new"]
        1
    """

    def __init__(self, mirror: ExperimentMirror) -> None:
        self.mirror = mirror
        self.counts = dict.fromkeys(STATE_NAMES.values(), 0)
        self._state: dict[int, str] = {}
        self._loss: dict[int, float] = {}  # done trials with a loss
        self._segment: dict[int, int] = {}  # done trials with a loss: their segment
        # per segment: (loss, tid) heap, stale entries popped lazily
        self._heaps: dict[int, list[tuple[float, int]]] = {}
        self._finished_at: dict[int, float] = {}  # done/error trials: refresh_time (epoch s)
        self._finish_times: list[float] = []  # sorted values of _finished_at

    def update(self, tids: Iterable[int]) -> None:
        """Account for the current documents of ``tids`` (trials changed since last time)."""
        for tid in tids:
            self._forget(tid)
            doc = self.mirror.docs.get(tid)
            if doc is None:
                continue
            state = STATE_NAMES.get(doc["state"], "error")
            self._state[tid] = state
            self.counts[state] += 1
            if doc["state"] == JOB_STATE_DONE:
                loss = finished_loss(doc)
                if loss is not None:
                    segment = segment_of(doc)
                    self._loss[tid], self._segment[tid] = loss, segment
                    heapq.heappush(self._heaps.setdefault(segment, []), (loss, tid))
            if doc["state"] in (JOB_STATE_DONE, JOB_STATE_ERROR):
                finished = _epoch(doc.get("refresh_time"))
                if finished is not None:
                    self._finished_at[tid] = finished
                    bisect.insort(self._finish_times, finished)

    def _forget(self, tid: int) -> None:
        state = self._state.pop(tid, None)
        if state is not None:
            self.counts[state] -= 1
        self._loss.pop(tid, None)
        self._segment.pop(tid, None)
        finished = self._finished_at.pop(tid, None)
        if finished is not None:
            del self._finish_times[bisect.bisect_left(self._finish_times, finished)]

    def best(self, segment: int = 0) -> tuple[float, int] | None:
        """``(loss, tid)`` of the best finished trial of ``segment`` (the experiment's
        current one, :mod:`.segments`: an older segment searched another space), lowest
        loss then lowest tid."""
        heap = self._heaps.get(segment, [])
        while heap and (self._loss.get(heap[0][1]) != heap[0][0]
                        or self._segment.get(heap[0][1]) != segment):
            heapq.heappop(heap)
        return heap[0] if heap else None

    def summary(self, workers: Sequence[WorkerPresence],
                now: float | None = None) -> ExperimentSummary:
        """The :class:`ExperimentSummary` (queue depth, driver and workers read now)."""
        now = time.time() if now is None else now
        mirror = self.mirror
        times = self._finish_times
        first = bisect.bisect_left(times, now - RATE_WINDOW_S)
        recent = bisect.bisect_right(times, now + 60) - first
        # the rate since the oldest finish in the window: a burst shows at its own pace
        # instead of being spread over the whole window
        span = max(now - times[first], RATE_MIN_SPAN_S) if recent else RATE_WINDOW_S
        pipe = mirror.client.pipeline(transaction=False)
        pipe.zcard(mirror.keys.queued)
        pipe.get(mirror.keys.driver)
        pipe.hgetall(mirror.keys.meta)
        replies = pipe.execute(raise_on_error=False)
        keys = mirror.keys  # a damaged key reads as empty and is listed: others still show
        queued, driver, raw_meta = (mirror.damage.reply(key, reply, empty) for key, reply, empty
                                    in zip((keys.queued, keys.driver, keys.meta), replies,
                                           (0, None, {})))
        meta = {text(k): text(v) for k, v in raw_meta.items()}
        best = self.best(parse_segment(meta))
        created, queue = parse_created(meta.get("created")), parse_options(meta).queue
        live = sum(1 for w in workers if w.alive(now) and
                   (queue in w.queues or any(e == mirror.exp_key for e, _ in w.trials)))
        return ExperimentSummary(
            exp_key=mirror.exp_key, counts=dict(self.counts),
            best_loss=best[0] if best else None, best_tid=best[1] if best else None,
            best_params=flat_params(mirror.docs[best[1]]) if best else {},
            trials_per_min=recent / (span / 60.0), queue_depth=int(queued),
            live_workers=live,
            driver_alive=driver is not None and not holder_is_dead(text(driver)),
            created=created, damaged=mirror.damaged)


def _iso(when: datetime.datetime | None) -> str | None:
    return None if when is None else when.isoformat(timespec="milliseconds")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def latest_report(result: Mapping[str, Any]) -> tuple[float | None, int | None] | None:
    """``(value, step)`` of a result's latest ``ctrl.report`` (the last entry of
    ``result["intermediate"]``), or None when it holds no report.

    Example:
        >>> latest_report({"loss": 9.0, "intermediate": [{"step": 0, "value": 0.7},
        ...                                              {"step": 1, "value": 0.5}]})
        (0.5, 1)
        >>> latest_report({"loss": 9.0}) is None
        True
    """
    history = result.get("intermediate")
    if not isinstance(history, list) or not history or not isinstance(history[-1], Mapping):
        return None
    step = history[-1].get("step")
    return (_number(history[-1].get("value")),
            step if isinstance(step, int) and not isinstance(step, bool) else None)


def _loss_and_step(result: Mapping[str, Any], running: bool) -> tuple[float | None, int | None]:
    """The loss to show and its step: for a running trial its latest ``ctrl.report`` (value
    and step) when it reported, else its checkpoint's loss; the result's loss otherwise."""
    report = latest_report(result) if running else None
    if report is not None:
        return report
    return _number(result.get("loss")), None


def trial_row(doc: Mapping[str, Any], labels: Sequence[str] = ()) -> dict[str, Any]:
    """One flat row of a trial (see :func:`trial_rows`).

    Example:
        >>> row = trial_row({"tid": 3, "state": 2, "result": {"status": "ok", "loss": 0.5},
        ...                  "misc": {"vals": {"x": [1.5]}}, "owner": None})
        >>> row["state"], row["loss"], row["x"]
        ('done', 0.5, 1.5)
    """
    result = doc.get("result") or {}
    misc = doc.get("misc") or {}
    book, refresh = doc.get("book_time"), doc.get("refresh_time")
    duration = None
    if book is not None and refresh is not None and doc["state"] in (
            JOB_STATE_DONE, JOB_STATE_ERROR, JOB_STATE_CANCEL):
        duration = max(0.0, (refresh - book).total_seconds())
    error = misc.get("error")
    loss, step = _loss_and_step(result, running=doc["state"] == JOB_STATE_RUNNING)
    row: dict[str, Any] = {
        "tid": int(doc["tid"]), "state": STATE_NAMES.get(doc["state"], str(doc["state"])),
        "loss": loss, "step": step,
        "status": result.get("status"), "duration_s": duration,
        "worker": doc.get("owner"), "attempts": misc.get("attempts"),
        "book_time": _iso(book), "refresh_time": _iso(refresh),
        "error": f"{error[0]}: {error[1]}" if error and len(error) >= 2 else None,
    }
    params = flat_params(doc)
    for label in labels or sorted(params):
        row[PARAM_PREFIX + label if label in FIXED_COLUMNS else label] = params.get(label)
    return row


def trial_rows(mirror: ExperimentMirror, state: int | str | None = None) -> list[dict]:
    """Flat rows of the mirrored trials, sorted by tid: ``tid``, ``state`` (a name),
    ``loss`` (for a running trial: its latest ``ctrl.report`` value, else its checkpoint's
    loss), ``step`` (the step of that report; None otherwise), ``status``, ``duration_s`` (finished
    trials), ``worker`` (the owner), ``attempts``, ``book_time`` and ``refresh_time`` (ISO 8601,
    UTC), ``error`` ("Type: message" of errored trials), then one key per parameter label
    (None where inactive; choices as indices; a label named like a fixed column gets the
    ``param.`` prefix). ``state`` keeps only trials in that state (a name or a number).

    Example:
        >>> import fakeredis
        >>> trial_rows(ExperimentMirror(fakeredis.FakeRedis(), "e"), state="done")
        []
    """
    wanted = None if state is None else state_code(state)
    labels = mirror.labels()
    return [trial_row(mirror.docs[tid], labels) for tid in sorted(mirror.docs)
            if wanted is None or mirror.docs[tid]["state"] == wanted]
