"""One trial's view of pruning: what ``ctrl.report`` and ``ctrl.should_prune`` call.

Behaviour on awkward input (pinned by tests):

- ``should_prune()`` before any report: False.
- A report whose step is not above the previous accepted step (repeated or going backwards):
  kept in the learning curve, but not shown to the pruner and recorded at no rung; the decision
  stays what it was (logged once per trial).
- NaN values: recorded like any other; successive halving and percentile rules prune a NaN
  trial and never rank a NaN above a number; :class:`~hqueue.pruners.Threshold` prunes NaN.
- A step beyond the pruner's ``max_resource``: reaches no rung, so it is never pruned there.
- Once a report was judged "prune", :meth:`should_prune` stays True for that trial.

Example:
    >>> from hqueue.pruners import MemoryRungs, Threshold
    >>> s = PruningSession(Threshold(upper=1.0), MemoryRungs(), trial=0)
    >>> s.should_prune()
    False
    >>> s.report(2.0, step=1); s.should_prune()
    True
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..states import STATUS_PRUNED
from .base import Pruner
from .storage import RungSnapshot, RungStorage

logger = logging.getLogger(__name__)


class PruningSession:
    """The pruning state of one running trial (its accepted reports and the decision)."""

    def __init__(self, pruner: Pruner, storage: RungStorage, trial: int,
                 is_default: bool = False) -> None:
        self.pruner, self.storage, self.trial = pruner, storage, int(trial)
        self.is_default = is_default  # no pruner was chosen: the default may adapt
        self._steps: list[int] = []
        self._values: list[float] = []
        self._pruned = False
        self._warned = False

    def report(self, value: float, step: int) -> None:
        """Record one report and judge it (one storage round trip)."""
        names = self.plan(value, step)
        snapshots = self.storage.record(self.trial, int(step), float(value), names or [],
                                        self.pruner.quantile)
        if names is not None:
            self.judge(snapshots)

    def plan(self, value: float, step: int) -> list[str] | None:
        """First half of :meth:`report`: accept the report and name the rungs it is recorded
        at, or None when it is not judged (a repeated or backward step). A caller that records
        by itself (one round trip with other writes, as a worker's ctrl does) then passes the
        rungs' snapshots to :meth:`judge`.

        Example:
            >>> from hqueue.pruners import MemoryRungs, SuccessiveHalving
            >>> s = PruningSession(SuccessiveHalving(), MemoryRungs(), trial=0)
            >>> s.plan(0.5, 1), s.plan(0.4, 1)
            (['sh:1:3:0:1'], None)
        """
        value, step = float(value), int(step)
        if self._steps and step <= self._steps[-1]:
            if not self._warned:
                logger.warning("trial %s reported step %s after step %s: kept in its curve, "
                               "ignored for pruning", self.trial, step, self._steps[-1])
                self._warned = True
            return None
        self._steps.append(step)
        self._values.append(value)
        return self.pruner.rungs(self.trial, np.asarray(self._steps))

    def judge(self, snapshots: Sequence[RungSnapshot]) -> None:
        """Second half of :meth:`report`: decide on the newest planned report from the
        snapshots of the rungs :meth:`plan` named (in that order).

        Example:
            >>> from hqueue.pruners import MemoryRungs, RungSnapshot, SuccessiveHalving
            >>> s = PruningSession(SuccessiveHalving(), MemoryRungs(), trial=0)
            >>> s.plan(0.9, 1)
            ['sh:1:3:0:1']
            >>> s.judge([RungSnapshot(0.9, 2, 2, 0.1, 0.1)]); s.should_prune()  # 3rd of 3
            True
        """
        steps, values = np.asarray(self._steps), np.asarray(self._values, dtype=float)
        if self.pruner.decide(self.trial, steps, values, snapshots):
            self._pruned = True

    def set_length(self, max_steps: int) -> None:
        """Tell the session how many steps the trial will run (``ctrl.epochs(n)`` does).

        When no pruner was chosen and nothing was reported yet, the default becomes
        ``SuccessiveHalving(max_resource=max_steps)``, so its rungs fit the loop.
        """
        if self.is_default and not self._steps and max_steps >= 1:
            from .halving import SuccessiveHalving  # halving's doctests import this module

            self.pruner = SuccessiveHalving(max_resource=int(max_steps))

    def should_prune(self) -> bool:
        """True once a report was judged not worth continuing."""
        return self._pruned


def pruned_result(result: Mapping[str, Any]) -> dict:
    """The result of a trial that raised :class:`~hqueue.TrialPruned`.

    ``status`` is ``"pruned"``, ``loss`` the last reported value (absent when nothing was
    reported; NaN kept as NaN) and ``intermediate`` the curve.

    Example:
        >>> pruned_result({"status": "running", "intermediate": [{"step": 1, "value": 0.7}]})
        {'status': 'pruned', 'intermediate': [{'step': 1, 'value': 0.7}], 'loss': 0.7}
    """
    curve = list(result.get("intermediate", []))
    out: dict[str, Any] = {"status": STATUS_PRUNED, "intermediate": curve}
    if curve:
        out["loss"] = float(curve[-1]["value"])
    return out


def learning_curve(doc: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, values)`` of a trial document's reports, in report order (running or finished).

    Example:
        >>> learning_curve({"result": {"intermediate": [{"step": 0, "value": 1.0}]}})
        (array([0]), array([1.]))
    """
    curve = doc.get("result", {}).get("intermediate", []) or []
    steps = np.asarray([int(p["step"]) for p in curve], dtype=np.int64)
    values = np.asarray([float(p["value"]) for p in curve], dtype=float)
    return steps, values
