"""What the joint TPE keeps between suggestions: a plan per group of labels (the space's
constant arrays) and the group's observations as arrays, extended as the history grows.

A group is a set of labels that are active together (same condition). Its observations are
the history rows where every member is active, with the real-valued members already on their
internal axes (``(rows, numeric members)`` floats) and the categorical members as option
indices (``(rows, categorical members)`` ints). Both live in ``History.derived``, so each
finished trial is converted once, not on every suggestion.

Example:
    >>> import numpy as np
    >>> from hqueue import hp
    >>> from hqueue.history import History
    >>> from hqueue.space.compiled import compile_space
    >>> space = compile_space({"x": hp.loguniform("x", 0, 1), "c": hp.choice("c", [1, 2])})
    >>> h = History()
    >>> h.add(tid=0, loss=1.0, vals={"x": [1.5], "c": [1]})
    >>> data = group_data(h, group_plans(space)[0])
    >>> data.z.round(3).tolist(), data.cat.tolist()
    ([[0.405]], [[1]])
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from ...history import History
from ...space.compiled import CompiledSpace, Param
from ...space.distributions import Categorical, Distribution, Numeric


def index_axis(dist: Categorical) -> Numeric:
    """The model of an ordinal choice: its option indices ``0 .. k-1`` as a quantized uniform
    (step 1) on ``[-0.5, k - 0.5]``, so kernels reach neighbouring options.

    Example:
        >>> d = index_axis(Categorical("randint", (0.25,) * 4))
        >>> d.q, d.mu, d.sigma, float(d.from_internal(np.array([3.4]))[0])
        (1.0, 1.5, 4.0, 3.0)
    """
    k = dist.size
    edge = 0.5 - 1e-9  # rounding never leaves 0 .. k-1
    return Numeric("quniform", True, -edge, k - 1 + edge, 0.5 * (k - 1), float(k), 1.0, False)


def model_dist(param: Param, ordinal: bool) -> Distribution:
    """The distribution TPE models ``param`` with: :func:`index_axis` for an ordinal choice
    (when ``ordinal``), its prior otherwise."""
    if ordinal and param.ordinal and isinstance(param.dist, Categorical):
        return index_axis(param.dist)
    return param.dist


class GroupPlan:
    """The constant part of one group: members split into real-valued and categorical ones,
    and the real-valued members' prior centres, widths and bounds as arrays. With
    ``ordinal``, ordinal choices are real-valued members (see :func:`model_dist`) whose
    kernels are at least ``ordinal_width`` grid steps wide (``min_sigma``; None when no
    member has a minimum)."""

    def __init__(self, params: tuple[Param, ...], ordinal: bool = True,
                 ordinal_width: float = 0.0) -> None:
        self.params = params
        self.labels = tuple(p.label for p in params)
        dists = [model_dist(p, ordinal) for p in params]
        self.numeric = [i for i, d in enumerate(dists) if isinstance(d, Numeric)]
        self.categorical = [i for i, d in enumerate(dists) if isinstance(d, Categorical)]
        self.num_dists: list[Numeric] = [dists[i] for i in self.numeric]  # type: ignore[misc]
        self.cat_dists: list[Categorical] = [dists[i] for i in self.categorical]  # type: ignore[misc]
        nd = self.num_dists
        self.prior_mu = np.array([d.mu for d in nd])
        self.prior_sigma = np.array([d.sigma for d in nd])
        self.low = np.array([d.low for d in nd])
        self.high = np.array([d.high for d in nd])
        self.log_dims = [j for j, d in enumerate(nd) if d.log]
        self.q_dims = [j for j, d in enumerate(nd) if d.q is not None]
        self.q = np.array([nd[j].q for j in self.q_dims])
        self.q_log = [nd[j].log for j in self.q_dims]
        self.cont_dims = [j for j, d in enumerate(nd) if d.q is None]
        is_ordinal = np.array([isinstance(params[i].dist, Categorical) for i in self.numeric])
        self.min_sigma = (np.where(is_ordinal, ordinal_width, 0.0)
                          if ordinal_width > 0 and is_ordinal.any() else None)
        self.key = ("tpe.group", tuple((p.label, repr(d)) for p, d in zip(params, dists)))

    def from_internal(self, z: np.ndarray) -> np.ndarray:
        """(n, numeric members) values from internal-axis points (``Numeric.from_internal``
        applied per column)."""
        x = z.copy()
        if self.log_dims:
            x[:, self.log_dims] = np.exp(z[:, self.log_dims])
        if self.q_dims:
            x[:, self.q_dims] = np.round(x[:, self.q_dims] / self.q) * self.q
        return x

    def to_internal(self, n: int, values: list[Any]) -> np.ndarray:
        """(n, numeric members) internal-axis points from one value array per member."""
        z = np.empty((n, len(self.numeric)))
        for j, (v, d) in enumerate(zip(values, self.num_dists)):
            z[:, j] = d.to_internal(v)
        return z

    def to_index(self, n: int, values: list[Any]) -> np.ndarray:
        """(n, categorical members) option indices from one value array per member."""
        idx = np.empty((n, len(self.categorical)), np.int64)
        for c, (v, d) in enumerate(zip(values, self.cat_dists)):
            idx[:, c] = np.asarray(v, np.int64) - d.offset
        return idx


_plans: weakref.WeakKeyDictionary[CompiledSpace, dict[tuple[bool, float], list[GroupPlan]]] = \
    weakref.WeakKeyDictionary()


def group_plans(space: CompiledSpace, ordinal: bool = True, ordinal_width: float = 0.0
                ) -> list[GroupPlan]:
    """One plan per group of ``space`` (built once per space and setting)."""
    by_setting = _plans.setdefault(space, {})
    key = (ordinal, ordinal_width)
    plans = by_setting.get(key)
    if plans is None:
        plans = by_setting[key] = [GroupPlan(g, ordinal, ordinal_width) for g in space.groups]
    return plans


class GroupData:
    """A group's observations: ``rows`` (history rows where every member is active),
    ``z`` (rows, numeric members) on the internal axes and ``cat`` (rows, categorical
    members) option indices; all append-only buffers, the properties are views."""

    def __init__(self, plan: GroupPlan) -> None:
        self.plan = plan
        self.n = 0
        self.seen = 0  # history rows already looked at
        self.consumed = [0] * len(plan.labels)  # entries of each member's column looked at
        self._rows = np.empty(64, np.int64)
        self._z = np.empty((64, len(plan.numeric)))
        self._cat = np.empty((64, len(plan.categorical)), np.int64)

    @property
    def rows(self) -> np.ndarray:
        return self._rows[: self.n]

    @property
    def z(self) -> np.ndarray:
        return self._z[: self.n]

    @property
    def cat(self) -> np.ndarray:
        return self._cat[: self.n]

    def update(self, history: History) -> None:
        """Take in the rows added to ``history`` since the last call."""
        if self.seen == len(history):
            return
        self.seen = len(history)
        tails = []
        for m, label in enumerate(self.plan.labels):
            rows, values = history.column(label)
            tails.append((rows[self.consumed[m]:], values[self.consumed[m]:]))
            self.consumed[m] = len(rows)
        rows = tails[0][0]
        for r, _ in tails[1:]:
            if len(r) != len(rows) or not np.array_equal(r, rows):
                rows = np.intersect1d(rows, r)
        if not len(rows):
            return
        values = [v if len(r) == len(rows) else v[np.searchsorted(r, rows)] for r, v in tails]
        plan, n, new = self.plan, self.n, len(rows)
        if n + new > len(self._rows):
            size = max(2 * len(self._rows), n + new)
            self._rows = _grown(self._rows, size)
            self._z = _grown(self._z, size)
            self._cat = _grown(self._cat, size)
        self._rows[n:n + new] = rows
        self._z[n:n + new] = plan.to_internal(new, [values[i] for i in plan.numeric])
        self._cat[n:n + new] = plan.to_index(new, [values[i] for i in plan.categorical])
        self.n = n + new


def _grown(buf: np.ndarray, size: int) -> np.ndarray:
    out = np.empty((size, *buf.shape[1:]), buf.dtype)
    out[: len(buf)] = buf
    return out


def group_data(history: History, plan: GroupPlan) -> GroupData:
    """The group's observations in ``history``, brought up to date."""
    data = history.derived.get(plan.key)
    if data is None:
        data = history.derived[plan.key] = GroupData(plan)
    data.update(history)
    return data
