"""What the dashboard shows, read from Redis and kept up to date incrementally.

:class:`Dashboard` keeps one :class:`ExperimentView` per experiment: an
:class:`~hqueue.backends.redis.overview.ExperimentMirror` whose ``refresh()`` reads only the
trials that changed, a :class:`~hqueue.backends.redis.overview.SummaryTracker` updated from
those trials, and the flat table rows of those trials. So one poll of a 100,000-trial
experiment costs what changed since the previous poll, and the browser gets only the loss
points that changed (``since=``) and one bounded page of table rows. Nothing here writes to
Redis (worker entries too old to show are skipped, not deleted). Every method returns plain
JSON-ready data; the web layer (:mod:`.app`) only serializes it.

Example:
    >>> import fakeredis
    >>> from hqueue.backends.redis.store import TrialStore
    >>> from hqueue.fmin import generate_trial
    >>> client = fakeredis.FakeRedis()
    >>> _ = TrialStore(client, "exp1").create([generate_trial(0, {"x": 0.5})])
    >>> board = Dashboard(client)
    >>> [e["exp_key"] for e in board.experiments()["experiments"]]
    ['exp1']
    >>> page = board.trials("exp1", sort="tid")
    >>> page["total"], page["rows"][0]["x"], page["rows"][0]["state"]
    (1, 0.5, 'new')
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
import itertools
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hqueue.backends.redis.output import TrialOutputs
from hqueue.backends.redis.overview import (
    FIXED_COLUMNS,
    PARAM_PREFIX,
    STATE_NAMES,
    ExperimentMirror,
    SummaryTracker,
    flat_params,
    list_experiments,
    require_experiment,
    state_code,
    trial_row,
)
from hqueue.backends.redis.presence import FORGET_AFTER_S, WorkerPresence, WorkerRegistry
from hqueue.exceptions import HqueueError

if TYPE_CHECKING:
    from redis import Redis

MAX_PAGE_ROWS = 1000
CHANGE_LOG_LEN = 256  # refreshes remembered for ``since=``; an older client gets every point
_GENERATIONS = itertools.count(1)
MAX_SORTED_INDEXES = 6  # (column, state) orders kept sorted between polls
MAX_PARTIAL_REPORTS = 50  # of a running trial's result["intermediate"], the last ones sent


class BadQuery(HqueueError, ValueError):
    """A dashboard API request with an unusable argument (unknown column, state, ...)."""


class ExperimentView:
    """One experiment's mirror, summary tracker, table rows and recent changes."""

    def __init__(self, client: Redis, exp_key: str) -> None:
        self.lock = threading.Lock()
        self._reset(client, exp_key)

    def _reset(self, client: Redis, exp_key: str) -> None:
        self.generation = next(_GENERATIONS)
        self.mirror = ExperimentMirror(client, exp_key)
        self.tracker = SummaryTracker(self.mirror)
        self.rows: dict[int, dict[str, Any]] = {}
        self.labels: set[str] = set()
        self.running: set[int] = set()
        self._log: deque[tuple[int, tuple[int, ...]]] = deque(maxlen=CHANGE_LOG_LEN)
        self._log_floor = 0  # changes up to this sequence number are no longer in the log
        self._orders: OrderedDict[tuple[str, str | None], SortedIndex] = OrderedDict()

    @property
    def seq(self) -> int:
        """The experiment's change sequence number as of the last refresh."""
        return self.mirror.seq

    @property
    def cursor(self) -> str:
        """``"<generation>.<seq>"``: what a client passes back as ``since`` / ``if_version``.
        The generation changes when the view starts over, so an old cursor never matches."""
        return f"{self.generation}.{self.mirror.seq}"

    def refresh(self) -> int:
        """Read what changed in Redis; returns how many trials changed. Call with ``lock``.

        When the experiment's change counter went back (purged and created again, or Redis
        restored from an older snapshot) the view starts over from an empty mirror.
        """
        mirror = self.mirror
        if mirror.went_back():
            self._reset(mirror.client, mirror.exp_key)
        changed = self.mirror.refresh()
        if not changed:
            return 0
        tids = tuple(self.mirror.changed)
        self.tracker.update(tids)
        before = {tid: self.rows.get(tid) for tid in tids}
        for tid in tids:
            doc = self.mirror.docs[tid]
            self.labels.update(flat_params(doc))
            self.rows[tid] = trial_row(doc)
            if STATE_NAMES.get(doc["state"]) == "running":
                self.running.add(tid)
            else:
                self.running.discard(tid)
        if len(self._log) == self._log.maxlen:
            self._log_floor = self._log[0][0]
        self._log.append((self.seq, tids))
        if len(tids) > max(64, len(self.rows) // 8):
            self._orders.clear()  # cheaper to sort again when asked
        for index in self._orders.values():
            for tid, old in before.items():
                index.replace(tid, old, self.rows[tid])
        return changed

    def points_since(self, cursor: str | None) -> tuple[bool, list[list[Any]]]:
        """``(full, points)``: ``[tid, loss]`` of finished trials whose loss changed after
        ``cursor`` (``loss`` None: drop that point), or every point when ``full`` (no cursor,
        one from another generation, or one older than the change log)."""
        generation, _, seq = (cursor or "").partition(".")
        since = int(seq) if seq.isdigit() and generation == str(self.generation) else -1
        if since == self.seq:
            return False, []
        if since < self._log_floor or since > self.seq or since <= 0:
            return True, [[tid, loss] for tid in sorted(self.rows)
                          if (loss := _plot_loss(self.rows[tid])) is not None]
        tids: set[int] = set()
        for seq, changed in reversed(self._log):
            if seq <= since:
                break
            tids.update(changed)
        return False, [[tid, _plot_loss(self.rows[tid])] for tid in sorted(tids)]

    def order(self, sort: str, state: str | None) -> SortedIndex:
        """The tids sorted by column ``sort``, only ``state`` trials when given (kept up to
        date by :meth:`refresh` for the few most recently asked orders)."""
        key = (sort, state)
        index = self._orders.get(key)
        if index is None:
            index = self._orders[key] = SortedIndex(self.rows, sort, state)
            while len(self._orders) > MAX_SORTED_INDEXES:
                self._orders.popitem(last=False)
        self._orders.move_to_end(key)
        return index

    def columns(self) -> list[str]:
        """Table columns: the fixed ones, then one per parameter label."""
        return list(FIXED_COLUMNS) + [PARAM_PREFIX + label if label in FIXED_COLUMNS else label
                                      for label in sorted(self.labels)]


class SortedIndex:
    """Tids of the table rows in one column's order, updated row by row.

    Rows with a value are kept as ``(rank, value, tid)`` keys in a sorted list (numbers rank
    before text; ties by tid); rows where the column is empty (None, NaN) are kept apart and
    always listed last. A changed row moves with two binary searches.

    Example:
        >>> rows = {0: {"state": "done", "loss": 0.5}, 1: {"state": "done", "loss": None},
        ...         2: {"state": "done", "loss": 0.1}}
        >>> index = SortedIndex(rows, "loss", None)
        >>> index.page(0, 10), index.page(0, 10, desc=True)
        ([2, 0, 1], [0, 2, 1])
        >>> index.replace(1, rows[1], {"state": "done", "loss": 0.3})
        >>> index.page(0, 10)
        [2, 1, 0]
    """

    def __init__(self, rows: Mapping[int, Mapping[str, Any]], column: str,
                 state: str | None) -> None:
        self.column, self.state = column, state
        self._keys: list[tuple[int, Any, int]] = []
        self._empty: list[int] = []
        for tid, row in rows.items():
            if state is None or row["state"] == state:
                key = self._key(tid, row)
                if key is None:
                    self._empty.append(tid)
                else:
                    self._keys.append(key)
        self._keys.sort()
        self._empty.sort()

    def _key(self, tid: int, row: Mapping[str, Any]) -> tuple[int, Any, int] | None:
        value = row.get(self.column)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, (int, float)):
            return (0, float(value), tid)
        return (1, str(value), tid)

    def _remove(self, tid: int, row: Mapping[str, Any] | None) -> None:
        if row is None or (self.state is not None and row["state"] != self.state):
            return
        key = self._key(tid, row)
        target, item = (self._empty, tid) if key is None else (self._keys, key)
        i = bisect.bisect_left(target, item)
        if i < len(target) and target[i] == item:
            del target[i]

    def replace(self, tid: int, old: Mapping[str, Any] | None,
                new: Mapping[str, Any]) -> None:
        """Move ``tid`` from where row ``old`` (None: a new trial) sorted to where ``new``
        sorts."""
        self._remove(tid, old)
        if self.state is not None and new["state"] != self.state:
            return
        key = self._key(tid, new)
        if key is None:
            bisect.insort(self._empty, tid)
        else:
            bisect.insort(self._keys, key)

    def __len__(self) -> int:
        return len(self._keys) + len(self._empty)

    def page(self, offset: int, limit: int, desc: bool = False) -> list[int]:
        """Tids at positions ``offset`` .. ``offset + limit`` (empty values last either way)."""
        n, stop = len(self._keys), offset + limit
        if desc:
            lo, hi = max(0, n - stop), max(0, n - offset)
            filled = [key[2] for key in reversed(self._keys[lo:hi])]
        else:
            filled = [key[2] for key in self._keys[offset:stop]]
        return filled + self._empty[max(0, offset - n):max(0, stop - n)]


class Dashboard:
    """The data behind the dashboard's pages, read from one Redis ``client``.

    Thread-safe: the web server answers requests from several threads.
    """

    def __init__(self, client: Redis, *, clock: Any = time.time) -> None:
        self.client = client
        self.clock = clock
        self._views: dict[str, ExperimentView] = {}
        self._lock = threading.Lock()

    # -- experiments ----------------------------------------------------------------------
    def require(self, exp_key: str) -> str:
        """``exp_key`` if the experiment exists, else ``UnknownExperiment``."""
        return require_experiment(self.client, exp_key)

    def _view(self, exp_key: str) -> ExperimentView:
        with self._lock:
            view = self._views.get(exp_key)
            if view is None:
                view = self._views[exp_key] = ExperimentView(self.client, exp_key)
            return view

    def experiments(self) -> dict[str, Any]:
        """Every experiment's summary, and the worker processes seen."""
        now = self.clock()
        workers = self._workers(now)
        known = list_experiments(self.client)
        with self._lock:
            for gone in set(self._views) - set(known):
                del self._views[gone]
        summaries = []
        for exp_key in known:
            view = self._view(exp_key)
            with view.lock:
                view.refresh()
                summaries.append(_summary(view, workers, now))
        return {"now": now, "experiments": summaries,
                "workers": {"alive": sum(w.alive(now) for w in workers), "known": len(workers)}}

    def experiment(self, exp_key: str, since: str | None = None) -> dict[str, Any]:
        """One experiment: summary, loss points changed after ``since``, running trials
        (with their partial results) and the workers serving it."""
        self.require(exp_key)
        now = self.clock()
        workers = self._workers(now)
        view = self._view(exp_key)
        with view.lock:
            view.refresh()
            summary = _summary(view, workers, now)
            full, points = view.points_since(since)
            running = [_running(view, tid, now) for tid in sorted(view.running)]
        queue = summary.pop("queue")
        serving = [_worker(w, now) for w in workers
                   if queue in w.queues or any(e == exp_key for e, _ in w.trials)]
        return {"now": now, "cursor": view.cursor, "summary": summary, "full": full,
                "points": points, "running": running, "workers": serving}

    def trials(self, exp_key: str, *, sort: str = "tid", desc: bool = False,
               state: str | None = None, offset: int = 0, limit: int = 100,
               if_version: str | None = None) -> dict[str, Any]:
        """One page of table rows sorted by ``sort`` (empty cells last either way), only
        ``state`` trials when given. With ``if_version`` equal to the current cursor (nothing
        changed since that answer), only ``{"unchanged": True, "cursor": ...}``."""
        self.require(exp_key)
        try:
            wanted = None if state in (None, "", "all") else state_code(state)
        except HqueueError as exc:
            raise BadQuery(str(exc)) from None
        limit = max(1, min(int(limit), MAX_PAGE_ROWS))
        view = self._view(exp_key)
        with view.lock:
            view.refresh()
            if if_version is not None and if_version == view.cursor:
                return {"unchanged": True, "cursor": view.cursor}
            columns = view.columns()
            if sort not in columns:
                raise BadQuery(f"cannot sort by {sort!r}: use one of {', '.join(columns)}")
            index = view.order(sort, None if wanted is None else STATE_NAMES[wanted])
            page = [_jsonable(view.rows[tid]) for tid in index.page(offset, limit, desc)]
        return {"cursor": view.cursor, "total": len(index), "offset": offset, "limit": limit,
                "sort": sort, "order": "desc" if desc else "asc", "columns": columns,
                "rows": page}

    def curve(self, exp_key: str, tid: int) -> dict[str, Any]:
        """One trial's learning curve (every ``ctrl.report``; see
        :func:`hqueue.backends.redis.curves.trial_curves`): ``{"tid", "state", "status",
        "points": [[step, value], ...]}`` (NaN as null); BadQuery for an unknown tid."""
        from hqueue.backends.redis.curves import curve_points, trial_curves

        self.require(exp_key)
        view = self._view(exp_key)
        with view.lock:
            view.refresh()
            if tid not in view.rows:
                raise BadQuery(f"experiment {exp_key!r} has no trial {tid}")
            row = view.rows[tid]
            steps, values = trial_curves(view.mirror, [tid])[tid]
        return {"tid": tid, "state": row.get("state"), "status": row.get("status"),
                "points": curve_points(steps, values)}

    # -- one trial's captured output (issue 13) -------------------------------------------
    def trial_output(self, exp_key: str, tid: int) -> dict[str, Any]:
        """Trial ``tid``'s captured stdout/stderr, its last bytes (``output`` None when
        nothing was captured; see :mod:`hqueue.worker.capture`).

        Example:
            >>> import fakeredis
            >>> from hqueue.backends.redis.store import TrialStore
            >>> from hqueue.fmin import generate_trial
            >>> client = fakeredis.FakeRedis()
            >>> _ = TrialStore(client, "e").create([generate_trial(0, {"x": 0.5})])
            >>> Dashboard(client).trial_output("e", 0)
            {'tid': 0, 'output': None, 'bytes': 0}
        """
        self.require(exp_key)
        data = TrialOutputs(self.client, exp_key).read(int(tid))
        return {"tid": int(tid), "output": None if data is None else
                data.decode("utf-8", "replace"), "bytes": 0 if data is None else len(data)}

    # -- workers --------------------------------------------------------------------------
    def _workers(self, now: float) -> list[WorkerPresence]:
        listed = WorkerRegistry(self.client).list(now=now, forget_after_s=math.inf)
        return [w for w in listed if w.age_s(now) <= FORGET_AFTER_S]

    def workers(self) -> dict[str, Any]:
        """Every worker process seen in the last few minutes (``FORGET_AFTER_S``): liveness
        and what it runs."""
        now = self.clock()
        return {"now": now, "workers": [_worker(w, now) for w in self._workers(now)]}


# -- shaping data for JSON ------------------------------------------------------------------
def _summary(view: ExperimentView, workers: list[WorkerPresence], now: float
             ) -> dict[str, Any]:
    summary = view.tracker.summary(workers, now)
    data = _jsonable(dataclasses.asdict(summary))
    data["total"] = summary.total
    data["queue"] = view.mirror.queue
    return data


def _running(view: ExperimentView, tid: int, now: float) -> dict[str, Any]:
    doc, row = view.mirror.docs[tid], view.rows[tid]
    partial = {k: v for k, v in (doc.get("result") or {}).items() if k != "status"}
    reports = partial.pop("intermediate", None)
    started = _epoch(doc.get("book_time"))
    return _jsonable({
        "tid": tid, "worker": row.get("worker"), "attempts": row.get("attempts"),
        "running_s": None if started is None else max(0.0, now - started),
        "params": flat_params(doc), "partial": partial,
        "reports": reports[-MAX_PARTIAL_REPORTS:] if isinstance(reports, list) else [],
        "n_reports": len(reports) if isinstance(reports, list) else 0,
    })


def _worker(w: WorkerPresence, now: float) -> dict[str, Any]:
    """``pid`` is the process the user started (``hqueue worker``), ``trial_pid`` the one
    running trials; a dead worker lists no trials (it runs none any more)."""
    return {"worker_id": w.worker_id, "host": w.host, "pid": w.user_pid, "trial_pid": w.pid,
            "queues": list(w.queues),
            "gpus": w.gpus, "version": w.version, "started": w.started, "seen": w.seen,
            "age_s": round(w.age_s(now), 1), "alive": w.alive(now),
            "trials": [[e, t] for e, t in w.live_trials(now)]}


def _epoch(when: Any) -> float | None:
    """Epoch seconds of a trial document time (naive datetimes are UTC)."""
    if not isinstance(when, datetime.datetime):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


def _plot_loss(row: Mapping[str, Any]) -> float | None:
    loss = row.get("loss")
    if row.get("state") != "done" or loss is None or not math.isfinite(loss):
        return None
    return loss


def _jsonable(value: Any) -> Any:
    """``value`` with what JSON cannot hold made printable: non-finite floats as strings
    ("inf", "nan"), datetimes as ISO 8601, bytes and other objects as short text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _jsonable(value.item())
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."
