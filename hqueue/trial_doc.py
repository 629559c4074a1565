"""The trial document schema (hyperopt's) and the helpers that build and read documents.

Example:
    >>> misc = new_misc(0, {"x": 0.5}, ["x", "y"])
    >>> doc = new_trial_doc(0, None, {"status": "new"}, misc, exp_key=None)
    >>> doc["misc"]["vals"]
    {'x': [0.5], 'y': []}
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .states import JOB_STATE_NEW, STATUS_OK, STATUS_PRUNED

TRIAL_KEYS = ("tid", "spec", "result", "misc", "state", "owner", "book_time", "refresh_time",
              "exp_key")
TRIAL_MISC_KEYS = ("tid", "cmd", "idxs", "vals")
DOMAIN_CMD = ("domain_attachment", "FMinIter_Domain")


_EPOCH = datetime.datetime(1970, 1, 1)


def utcnow() -> datetime.datetime:
    """Timestamps in trial documents: naive UTC with millisecond precision (as hyperopt).

    The clock read once and truncated to the millisecond (two per trial in the serial loop:
    built from the epoch, about a third of ``now(timezone.utc).replace(...)``'s cost).

    Example:
        >>> t = utcnow()
        >>> t.tzinfo is None and t.microsecond % 1000 == 0
        True
    """
    ms = time.time_ns() // 1_000_000
    return _EPOCH + datetime.timedelta(0, ms // 1000, ms % 1000 * 1000)


def new_misc(tid: int, values: Mapping[str, Any], labels: Iterable[str],
             cmd: Any = DOMAIN_CMD, workdir: str | None = None) -> dict:
    """``misc`` of a new trial: ``values`` holds the active labels, others get ``[]``."""
    idxs, vals = {}, {}
    for label in labels:
        if label in values:
            idxs[label] = [tid]
            vals[label] = [values[label]]
        else:
            idxs[label] = []
            vals[label] = []
    return {"tid": tid, "cmd": cmd, "workdir": workdir, "idxs": idxs, "vals": vals}


def new_trial_doc(tid: int, spec: Any, result: dict, misc: dict, exp_key: str | None) -> dict:
    """A NEW-state trial document."""
    return {
        "state": JOB_STATE_NEW, "tid": tid, "spec": spec, "result": result, "misc": misc,
        "exp_key": exp_key, "owner": None, "version": 0, "book_time": None,
        "refresh_time": None,
    }


def generate_trial(tid: int, point: Mapping[str, Any], exp_key: str | None = None) -> dict:
    """A NEW trial document for one ``{label: value}`` point (choices as indices).

    Example:
        >>> generate_trial(4, {"x": 0.5})["misc"]["vals"]
        {'x': [0.5]}
    """
    return {
        "state": JOB_STATE_NEW, "tid": tid, "spec": None, "result": {"status": "new"},
        "misc": {"tid": tid, "cmd": DOMAIN_CMD, "workdir": None,
                 "idxs": {k: [tid] for k in point}, "vals": {k: [v] for k, v in point.items()}},
        "exp_key": exp_key, "owner": None, "version": 0, "book_time": None,
        "refresh_time": None,
    }


def active_values(misc: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{label: value}`` of a trial's active labels, from its ``misc`` (inactive conditional
    labels, stored as ``[]``, are left out). The one reading of "a trial's point".

    Example:
        >>> active_values({"vals": {"x": [0.5], "lr": []}})
        {'x': 0.5}
    """
    vals = (misc or {}).get("vals") or {}
    return {label: v[0] for label, v in vals.items() if len(v)}


def finished_loss(doc: Mapping) -> float | None:
    """The loss of a finished OK trial as a float, or None if it has none."""
    result = doc["result"]
    if result.get("status") != STATUS_OK:
        return None
    loss = result.get("loss")
    if loss is None:
        return None
    loss = float(loss)
    return None if math.isnan(loss) else loss


def pruned_observation(doc: Mapping) -> tuple[float, int] | None:
    """``(last value, step reached)`` of a pruned trial (NaN and -1 when it reported nothing),
    or None for any other trial: what the sampler learns from it.

    Example:
        >>> pruned_observation({"result": {"status": "pruned", "loss": 0.4,
        ...     "intermediate": [{"step": 1, "value": 0.6}, {"step": 3, "value": 0.4}]}})
        (0.4, 3)
    """
    result = doc["result"]
    if result.get("status") != STATUS_PRUNED:
        return None
    curve = result.get("intermediate") or []
    loss = result.get("loss")
    last = float("nan") if loss is None else float(loss)
    return last, max((int(p["step"]) for p in curve), default=-1)


_PLAIN = frozenset({str, int, float, bool, type(None), datetime.datetime, bytes})


def sonify(obj: Any) -> Any:
    """Convert numpy scalars/arrays inside a document to plain Python values (recursively).

    Dicts and lists are copied (the result shares no container with ``obj``); a tuple of
    plain values is returned as it is (it cannot change).

    Example:
        >>> sonify({"loss": np.float64(0.5), "vals": {"x": [np.int64(2)]}})
        {'loss': 0.5, 'vals': {'x': [2]}}
    """
    kind = type(obj)
    if kind in _PLAIN:
        return obj
    if kind is dict:
        return _sonify_dict(obj)
    if kind is list:
        return [v if type(v) in _PLAIN else sonify(v) for v in obj]
    if kind is tuple:
        for v in obj:
            if type(v) not in _PLAIN:
                return tuple([sonify(v) for v in obj])
        return obj
    if isinstance(obj, np.ndarray):
        return [sonify(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Mapping):
        return {k: sonify(v) for k, v in obj.items()}
    return obj


def _sonify_dict(obj: dict) -> dict:
    # the hot path of every insert (a trial document, its misc, idxs and vals): plain values
    # and lists of plain values are handled here without a call per value
    out = {}
    for key, value in obj.items():
        kind = type(value)
        if kind in _PLAIN:
            out[key] = value
        elif kind is dict:
            out[key] = _sonify_dict(value)
        elif kind is list:
            items = []
            for v in value:
                items.append(v if type(v) in _PLAIN else sonify(v))
            out[key] = items
        else:
            out[key] = sonify(value)
    return out


SONify = sonify
