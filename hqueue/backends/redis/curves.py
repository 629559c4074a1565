"""Learning curves read for display (``hqueue show``/``export``, the dashboard): each trial's
curve key (every ``ctrl.report``, kept after the trial ends, :class:`~.rungs.RedisRungs`), or,
for a trial whose key is empty, its result's ``intermediate`` list.

Example:
    >>> import fakeredis
    >>> from hqueue.backends.redis.overview import ExperimentMirror
    >>> client = fakeredis.FakeRedis()
    >>> _ = RedisRungs(client, "e").record(4, step=1, value=0.5, rungs=[])
    >>> steps, values = trial_curves(ExperimentMirror(client, "e"), [4])[4]
    >>> curve_points(steps, values)
    [[1, 0.5]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .rungs import RedisRungs

if TYPE_CHECKING:
    from .overview import ExperimentMirror

Curve = tuple[np.ndarray, np.ndarray]  # (steps, values), by step


def from_result(doc: Mapping[str, Any]) -> Curve:
    """``(steps, values)`` of a document's ``result["intermediate"]``, by step (the last value
    reported at a repeated step wins, as in the curve key).

    Example:
        >>> from_result({"result": {"intermediate": [{"step": 2, "value": 1.0}]}})
        (array([2]), array([1.]))
    """
    points = {int(p["step"]): float(p["value"])
              for p in (doc.get("result") or {}).get("intermediate") or []
              if isinstance(p, Mapping) and "step" in p and "value" in p}
    steps = sorted(points)
    return np.array(steps, dtype=np.int64), np.array([points[s] for s in steps], dtype=float)


def trial_curves(mirror: ExperimentMirror, tids: Sequence[int]) -> dict[int, Curve]:
    """The learning curve of each trial of ``tids`` (one Redis round trip for all)."""
    curves = RedisRungs(mirror.client, mirror.exp_key).curves(list(tids))
    for tid, (steps, _) in curves.items():
        if not len(steps) and tid in mirror.docs:
            curves[tid] = from_result(mirror.docs[tid])
    return curves


def curve_points(steps: np.ndarray, values: np.ndarray) -> list[list[Any]]:
    """A curve as JSON-ready ``[[step, value], ...]`` (NaN and infinities as None).

    Example:
        >>> curve_points(np.array([1, 2]), np.array([0.5, float("nan")]))
        [[1, 0.5], [2, None]]
    """
    return [[int(s), float(v) if np.isfinite(v) else None] for s, v in zip(steps, values)]
