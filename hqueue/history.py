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

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


class GrowArray:
    """An append-only numpy buffer with amortized O(1) appends."""

    __slots__ = ("_buf", "_n")

    def __init__(self, dtype: Any = float, capacity: int = 64) -> None:
        self._buf = np.empty(capacity, dtype=dtype)
        self._n = 0

    def append(self, value: Any) -> None:
        if self._n == len(self._buf):
            self._buf = np.concatenate([self._buf, np.empty_like(self._buf)])
        self._buf[self._n] = value
        self._n += 1

    def view(self) -> np.ndarray:
        """The filled part (a view: copy it before mutating)."""
        return self._buf[: self._n]

    def __len__(self) -> int:
        return self._n


class History:
    """Finished OK trials as arrays: ``tids``, ``losses`` and one column per label.

    Rows are in the order trials were added (completion order). ``column(label)`` returns
    ``(rows, values)``: the row numbers where ``label`` was active and its values there.
    ``pending`` holds the ``vals`` of trials queued or running, for constant-liar policies.
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

    def __len__(self) -> int:
        return len(self._tids)

    def add(self, tid: int, loss: float, vals: Mapping[str, Sequence[Any]]) -> None:
        """Append one finished trial (``vals`` in trial-document form: label -> [v] or [])."""
        row = len(self._tids)
        self._tids.append(tid)
        self._losses.append(loss)
        if self._best_row is None or loss < self.best_loss:
            self._best_row, self.best_loss = row, loss
        for label, v in vals.items():
            if not v:
                continue
            if label not in self._rows:
                self._rows[label] = GrowArray(np.int64)
                self._values[label] = GrowArray(float)
            self._rows[label].append(row)
            self._values[label].append(v[0])

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
        """Rows sorted by loss ascending, ties in completion order (``np.argsort(losses,
        kind="stable")``), kept between calls like :meth:`sorted_order`."""
        if len(self._loss_order) < len(self._losses):
            self._loss_order = _extend_order(self._loss_order, self.losses)
        return self._loss_order

    def pending_column(self, label: str) -> np.ndarray:
        """Values of ``label`` in the pending trials where it is active."""
        return np.array([v[label][0] for v in self.pending if v.get(label)], dtype=float)

    def best_row(self) -> int | None:
        """Row of the lowest loss (first one on ties), or None when empty."""
        return self._best_row


def _extend_order(order: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``order`` (a stable ascending sort of ``values[:len(order)]``) extended to all of
    ``values``: the new positions sorted among themselves and merged in after equal values,
    which is exactly ``np.argsort(values, kind="stable")``."""
    new = np.arange(len(order), len(values))
    new = new[np.argsort(values[new], kind="stable")]
    at = np.searchsorted(values[order], values[new], side="right")
    return np.insert(order, at, new)
