"""Columnar, incrementally maintained view of finished trials, for samplers.

Samplers need, per label, the values of the finished trials where the label was active and
their losses. Rebuilding that from trial documents for every suggestion costs O(trials); a
:class:`History` is appended to as trials finish (O(labels) each) and hands out numpy views.

Example:
    >>> h = History()
    >>> h.add(tid=0, loss=1.5, vals={"x": [0.2], "y": []})
    >>> h.add(tid=1, loss=0.5, vals={"x": [0.7], "y": [3.0]})
    >>> h.losses.tolist(), h.column("y")[1].tolist()
    ([1.5, 0.5], [3.0])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


class GrowArray:
    """An append-only numpy array with amortized O(1) appends.

    ``append(value)`` is the bound ``append`` of a Python list (one C call, no Python frame:
    the serial loop appends a handful of values per trial); the values move into the numpy
    buffer, converted as numpy's item assignment converts them, when the array is next read.

    Example:
        >>> a = GrowArray(float, capacity=2)
        >>> for v in (1, 2.5, 4):
        ...     a.append(v)
        >>> len(a), a.view().tolist()
        (3, [1.0, 2.5, 4.0])
    """

    __slots__ = ("_buf", "_n", "_pending", "append")

    def __init__(self, dtype: Any = float, capacity: int = 64) -> None:
        self._buf = np.empty(capacity, dtype=dtype)
        self._n = 0
        self._pending: list[Any] = []
        self.append: Callable[[Any], None] = self._pending.append

    def view(self) -> np.ndarray:
        """The filled part (a view: copy it before mutating)."""
        if self._pending:
            self._flush()
        return self._buf[: self._n]

    def _flush(self) -> None:
        pending, start = self._pending, self._n
        end = start + len(pending)
        if end > len(self._buf):
            grown = np.empty(max(2 * len(self._buf), end), dtype=self._buf.dtype)
            grown[:start] = self._buf[:start]
            self._buf = grown
        self._buf[start:end] = np.fromiter(pending, dtype=self._buf.dtype, count=len(pending))
        self._n = end
        pending.clear()

    def __len__(self) -> int:
        return self._n + len(self._pending)

    # ``append`` is bound to this object's own list: a copy or an unpickled array must bind
    # its own (copy and pickle would otherwise keep the original's bound method)
    def __getstate__(self) -> tuple[np.dtype, np.ndarray]:
        return self._buf.dtype, self.view().copy()

    def __setstate__(self, state: tuple[np.dtype, np.ndarray]) -> None:
        dtype, values = state
        self._buf = np.empty(max(64, len(values)), dtype=dtype)
        self._buf[: len(values)] = values
        self._n = len(values)
        self._pending = []
        self.append = self._pending.append


class History:
    """Finished OK and pruned trials as arrays: ``tids``, ``losses`` and one column per label.

    Rows are in the order trials were added (completion order). ``column(label)`` returns
    ``(rows, values)``: the row numbers where ``label`` was active and its values there.
    ``pending`` holds the ``vals`` of trials queued or running, for constant-liar policies.

    A pruned trial (:meth:`add_pruned`) is a row like the others, with loss ``+inf`` (code
    that reads ``losses`` sees it as the worst result), and it never becomes ``best_row``.
    :meth:`loss_order` ranks it by how far it got: after every complete trial, pruned trials
    by the step they reached (furthest first), then by their last value (Optuna's order for
    its TPE); a pruned trial whose last value is NaN/inf, or that never reported, ranks last.
    So TPE's good set is filled from the pruned trials that went furthest when fewer
    complete trials than good slots exist, and they are its bad observations otherwise.

    Example:
        >>> h = History()
        >>> h.add(tid=0, loss=0.9, vals={"x": [0.1]})
        >>> h.add_pruned(tid=1, last=0.5, reached=3, vals={"x": [0.2]})
        >>> h.add_pruned(tid=2, last=0.4, reached=1, vals={"x": [0.3]})
        >>> h.add_pruned(tid=3, last=0.6, reached=3, vals={"x": [0.4]})
        >>> h.loss_order().tolist(), h.best_row(), h.n_pruned
        ([0, 1, 3, 2], 0, 3)
    """

    def __init__(self) -> None:
        self._tids = GrowArray(np.int64)
        self._losses = GrowArray(float)
        self._rows: dict[str, GrowArray] = {}
        self._values: dict[str, GrowArray] = {}
        self.pending: list[Mapping[str, Sequence[Any]]] = []
        self.n_failed = 0
        self._best_row: int | None = None
        self._orders: dict[str, np.ndarray] = {}
        self._loss_order = np.empty(0, dtype=np.int64)
        self.best_loss = float("inf")
        #: arrays samplers derive from the columns and extend as rows are appended (the
        #: history only grows, so nothing kept here goes stale; a rebuilt history starts empty)
        self.derived: dict[Any, Any] = {}
        # pruned trials (issue 14): row -> (step reached, last value) and their rank order
        self._pruned: dict[int, tuple[int, float]] = {}
        self._ranked: np.ndarray = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._tids)

    def add(self, tid: int, loss: float, vals: Mapping[str, Sequence[Any]]) -> None:
        """Append one finished trial (``vals`` in trial-document form: label -> [v] or [])."""
        row = self._append(tid, loss, vals)
        if self._best_row is None or loss < self.best_loss:
            self._best_row, self.best_loss = row, loss

    def add_pruned(self, tid: int, last: float, reached: int,
                   vals: Mapping[str, Sequence[Any]]) -> None:
        """Append one pruned trial: its last reported value ``last`` at step ``reached``
        (-1 when it reported nothing). Its loss reads ``+inf``; see the class docstring."""
        row = self._append(tid, float("inf"), vals)
        if not np.isfinite(last):
            last, reached = float("inf"), -1  # diverged: ranks with the trials that got nowhere
        self._pruned[row] = (int(reached), float(last))

    @property
    def n_pruned(self) -> int:
        """How many rows are pruned trials."""
        return len(self._pruned)

    def _append(self, tid: int, loss: float, vals: Mapping[str, Sequence[Any]]) -> int:
        row = len(self._tids)
        self._tids.append(tid)
        self._losses.append(loss)
        for label, v in vals.items():
            if not v:
                continue
            rows = self._rows.get(label)
            if rows is None:
                rows = self._rows[label] = GrowArray(np.int64)
                self._values[label] = GrowArray(float)
            rows.append(row)
            self._values[label].append(v[0])
        return row

    @property
    def tids(self) -> np.ndarray:
        return self._tids.view()

    @property
    def losses(self) -> np.ndarray:
        return self._losses.view()

    def column(self, label: str) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, values)`` of the finished trials in which ``label`` was active."""
        if label not in self._rows:
            return np.empty(0, dtype=np.int64), np.empty(0)
        return self._rows[label].view(), self._values[label].view()

    def sorted_order(self, label: str) -> np.ndarray:
        """Positions into ``column(label)`` that sort its values ascending.

        Kept between calls and extended with only the values added since (one merge pass),
        so samplers never re-sort the whole history.
        """
        _, values = self.column(label)
        order = self._orders.get(label, np.empty(0, dtype=np.int64))
        if len(order) < len(values):
            order = self._orders[label] = _extend_order(order, values)
        return order

    def loss_order(self) -> np.ndarray:
        """Rows from best to worst: complete trials by loss ascending, ties in completion
        order (``np.argsort(losses, kind="stable")``), then pruned trials ranked as the class
        docstring says; kept between calls like :meth:`sorted_order`."""
        if len(self._loss_order) < len(self._losses):
            self._loss_order = _extend_order(self._loss_order, self.losses)
        if not self._pruned:
            return self._loss_order
        if len(self._ranked) < len(self._losses):
            self._ranked = self._rank_pruned()
        return self._ranked

    def _rank_pruned(self) -> np.ndarray:
        """Complete rows in loss order, then pruned rows by (step reached desc, last value,
        completion order)."""
        order = self._loss_order
        pruned = np.fromiter(self._pruned, dtype=np.int64, count=len(self._pruned))
        is_pruned = np.zeros(len(self._losses), dtype=bool)
        is_pruned[pruned] = True
        reached, last = (np.array(column) for column in zip(*self._pruned.values()))
        by_rank = np.lexsort((pruned, last, -reached))
        return np.concatenate([order[~is_pruned[order]], pruned[by_rank]])

    def pending_column(self, label: str) -> np.ndarray:
        """Values of ``label`` in the pending trials where it is active."""
        return np.array([v[label][0] for v in self.pending if v.get(label)], dtype=float)

    def best_row(self) -> int | None:
        """Row of the lowest loss (first one on ties) among complete trials, or None."""
        return self._best_row


def _extend_order(order: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``order`` (a stable ascending sort of ``values[:len(order)]``) extended to all of
    ``values``: the new positions sorted among themselves and merged in after equal values,
    which is exactly ``np.argsort(values, kind="stable")``."""
    new = np.arange(len(order), len(values))
    new = new[np.argsort(values[new], kind="stable")]
    at = np.searchsorted(values[order], values[new], side="right")
    return np.insert(order, at, new)
