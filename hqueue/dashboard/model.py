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

import dataclasses
import datetime
import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

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

MAX_PAGE_ROWS = 1000
CHANGE_LOG_LEN = 256  # refreshes remembered for ``since=``; an older client gets every point
MAX_PARTIAL_REPORTS = 50  # of a running trial's result["intermediate"], the last ones sent


class BadQuery(HqueueError, ValueError):
    """A dashboard API request with an unusable argument (unknown column, state, ...)."""


class ExperimentView:
    """One experiment's mirror, summary tracker, table rows and recent changes."""

    def __init__(self, client: Any, exp_key: str) -> None:
        self.mirror = ExperimentMirror(client, exp_key)
        self.tracker = SummaryTracker(self.mirror)
        self.lock = threading.Lock()
        self.rows: dict[int, dict[str, Any]] = {}
        self.labels: set[str] = set()
        self.running: set[int] = set()
        self._log: deque[tuple[int, tuple[int, ...]]] = deque(maxlen=CHANGE_LOG_LEN)
        self._log_floor = 0  # changes up to this sequence number are no longer in the log
        self._orders: dict[tuple[str, int | None], tuple[list[int], list[int]]] = {}

    @property
    def seq(self) -> int:
        """The experiment's change sequence number as of the last refresh."""
        return self.mirror.seq

    def refresh(self) -> int:
        """Read what changed in Redis; returns how many trials changed. Call with ``lock``."""
        changed = self.mirror.refresh()
        if not changed:
            return 0
        tids = tuple(self.mirror.changed)
        self.tracker.update(tids)
        for tid in tids:
            doc = self.mirror.docs[tid]
            params = flat_params(doc)
            self.labels.update(params)
            self.rows[tid] = trial_row(doc)
            if STATE_NAMES.get(doc["state"]) == "running":
                self.running.add(tid)
            else:
                self.running.discard(tid)
        if len(self._log) == self._log.maxlen:
            self._log_floor = self._log[0][0]
        self._log.append((self.seq, tids))
        self._orders.clear()
        return changed

    def points_since(self, since: int) -> tuple[bool, list[list[Any]]]:
        """``(full, points)``: ``[tid, loss]`` of finished trials whose loss changed after
        change ``since`` (``loss`` None: drop that point), or every point when ``full``."""
        if since == self.seq:
            return False, []
        if since < self._log_floor or since > self.seq or since == 0:
            return True, [[tid, loss] for tid in sorted(self.rows)
                          if (loss := _plot_loss(self.rows[tid])) is not None]
        tids: set[int] = set()
        for seq, changed in reversed(self._log):
            if seq <= since:
                break
            tids.update(changed)
        return False, [[tid, _plot_loss(self.rows[tid])] for tid in sorted(tids)]

    def order(self, sort: str, state: int | None) -> tuple[list[int], list[int]]:
        """Tids sorted by column ``sort`` (ascending), and the tids where it is empty."""
        key = (sort, state)
        if key not in self._orders:
            filled, empty = [], []
            for tid, row in self.rows.items():
                if state is not None and row["state"] != STATE_NAMES[state]:
                    continue
                (empty if _sort_key(row.get(sort)) is None else filled).append(tid)
            filled.sort(key=lambda t: (_sort_key(self.rows[t].get(sort)), t))
            empty.sort()
            self._orders[key] = (filled, empty)
        return self._orders[key]

    def columns(self) -> list[str]:
        """Table columns: the fixed ones, then one per parameter label."""
        return list(FIXED_COLUMNS) + [PARAM_PREFIX + label if label in FIXED_COLUMNS else label
                                      for label in sorted(self.labels)]


class Dashboard:
    """The data behind the dashboard's pages, read from one Redis ``client``.

    Thread-safe: the web server answers requests from several threads.
    """

    def __init__(self, client: Any, *, clock: Any = time.time) -> None:
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

    def experiment(self, exp_key: str, since: int = 0) -> dict[str, Any]:
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
        return {"now": now, "seq": view.seq, "summary": summary, "full": full,
                "points": points, "running": running, "workers": serving}

    def trials(self, exp_key: str, *, sort: str = "tid", desc: bool = False,
               state: str | None = None, offset: int = 0, limit: int = 100,
               if_version: int | None = None) -> dict[str, Any]:
        """One page of table rows sorted by ``sort`` (empty cells last either way), only
        ``state`` trials when given. With ``if_version`` equal to the current change
        sequence number, only ``{"unchanged": True, "seq": ...}``."""
        self.require(exp_key)
        try:
            wanted = None if state in (None, "", "all") else state_code(state)
        except HqueueError as exc:
            raise BadQuery(str(exc)) from None
        limit = max(1, min(int(limit), MAX_PAGE_ROWS))
        view = self._view(exp_key)
        with view.lock:
            view.refresh()
            if if_version is not None and if_version == view.seq:
                return {"unchanged": True, "seq": view.seq}
            columns = view.columns()
            if sort not in columns:
                raise BadQuery(f"cannot sort by {sort!r}: use one of {', '.join(columns)}")
            filled, empty = view.order(sort, wanted)
            ordered = (filled[::-1] if desc else filled) + empty
            page = [_jsonable(view.rows[tid]) for tid in ordered[offset:offset + limit]]
        return {"seq": view.seq, "total": len(ordered), "offset": offset, "limit": limit,
                "sort": sort, "order": "desc" if desc else "asc", "columns": columns,
                "rows": page}

    # -- workers --------------------------------------------------------------------------
    def _workers(self, now: float) -> list[WorkerPresence]:
        listed = WorkerRegistry(self.client).list(now=now, forget_after_s=math.inf)
        return [w for w in listed if w.age_s(now) <= FORGET_AFTER_S]

    def workers(self) -> dict[str, Any]:
        """Every worker process seen in the last hour: liveness and what it runs."""
        now = self.clock()
        return {"now": now, "workers": [_worker(w, now) for w in self._workers(now)]}


# -- shaping data for JSON ------------------------------------------------------------------
def _summary(view: ExperimentView, workers: list[WorkerPresence], now: float
             ) -> dict[str, Any]:
    summary = view.tracker.summary(workers, now)
    data = _jsonable(dataclasses.asdict(summary))
    data["total"] = summary.total
    data["seq"] = view.seq
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
    return {"worker_id": w.worker_id, "host": w.host, "pid": w.pid, "queues": list(w.queues),
            "gpus": w.gpus, "version": w.version, "started": w.started, "seen": w.seen,
            "age_s": round(w.age_s(now), 1), "alive": w.alive(now),
            "trials": [[e, t] for e, t in w.trials]}


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


def _sort_key(value: Any) -> tuple[int, Any] | None:
    """Numbers before text; None and NaN have no key (they sort last)."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and math.isnan(value) else (0, float(value))
    return (1, str(value))


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
