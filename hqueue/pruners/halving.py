"""Asynchronous successive halving (ASHA, the default pruner) and Hyperband over ASHA brackets.

ASHA (Li et al., 2020): rungs sit at steps ``min_resource * eta**(rate + k)``. When a trial's
report first reaches a rung, its value is recorded there and the trial continues only if it is
among the best ``max(1, n // eta)`` of the ``n`` values recorded at that rung so far (its own
included); nothing waits for a rung to fill, so it suits many asynchronous workers.

Hyperband runs several ASHA brackets (``rate = 0 .. s_max``, where the last bracket never
prunes) and sends each trial to one bracket, picked from its id by a fixed hash weighted like
Hyperband's bracket sizes, so every worker agrees on it without talking to the others.

Example:
    >>> import numpy as np
    >>> from hqueue.pruners import MemoryRungs, PruningSession, SuccessiveHalving
    >>> asha, rungs = SuccessiveHalving(reduction_factor=2), MemoryRungs()
    >>> s = PruningSession(asha, rungs, trial=0); s.report(0.5, 1); s.should_prune()
    False
    >>> s = PruningSession(asha, rungs, trial=1); s.report(0.9, 1); s.should_prune()
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..exceptions import BadArgument
from .base import Pruner
from .rules import kept_at_rung, rung_steps, rungs_crossed
from .storage import RungSnapshot


def _positive_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise BadArgument(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


#: how many halvings the default ``SuccessiveHalving(max_resource=R)`` makes below ``R``
DEFAULT_HALVINGS = 2


class SuccessiveHalving(Pruner):
    """ASHA: keep the top ``1/reduction_factor`` at each rung (see the module docstring).

    A report at or beyond ``max_resource`` reaches no rung and is never pruned. With
    ``min_resource=None`` (the default) the first rung is at ``max_resource // eta**2`` (at
    most :data:`DEFAULT_HALVINGS` halvings, so a trial is first judged after a ninth of its
    training with eta 3), or at step 1 when ``max_resource`` is not given. Two, not three:
    on learning curves that cross (a fast learner ahead early, a slower one better at the
    end), a rung at 1/27 of training ranks trials almost at random and prunes the eventual
    winners; the ``pruning`` benchmark's ablation rows (``hqueue_asha_r27``) measure it.
    """

    def __init__(self, min_resource: int | None = None, reduction_factor: int = 3,
                 min_early_stopping_rate: int = 0, max_resource: int | None = None,
                 bracket: str = "") -> None:
        self.reduction_factor = _positive_int("reduction_factor", reduction_factor, 2)
        if min_resource is None:
            min_resource = 1 if max_resource is None else max(
                1, int(max_resource) // self.reduction_factor ** DEFAULT_HALVINGS)
        self.min_resource = _positive_int("min_resource", min_resource)
        self.min_early_stopping_rate = _positive_int(
            "min_early_stopping_rate", min_early_stopping_rate, 0)
        self.max_resource = None if max_resource is None else _positive_int(
            "max_resource", max_resource)
        self.bracket = str(bracket)
        self._steps = rung_steps(self.min_resource, self.reduction_factor,
                                 self.min_early_stopping_rate, self.max_resource)
        self._prefix = (f"sh{self.bracket}:{self.min_resource}:{self.reduction_factor}:"
                        f"{self.min_early_stopping_rate}:")

    def _crossed(self, steps: np.ndarray) -> np.ndarray:
        previous = steps[-2] if len(steps) > 1 else -math.inf
        return rungs_crossed(self._steps, previous, steps[-1])

    def rungs(self, trial: int, steps: np.ndarray) -> list[str]:
        return [f"{self._prefix}{self._steps[k]}" for k in self._crossed(steps)]

    def decide(self, trial: int, steps: np.ndarray, values: np.ndarray,
               snapshots: Sequence[RungSnapshot]) -> bool:
        return any(not kept_at_rung(s.own, s.n_better, s.n_others, self.reduction_factor)
                   for s in snapshots)


#: the pruner ``ctrl.should_prune()`` uses when none was given
ASHA = SuccessiveHalving


def bracket_of(trial: int, weights: np.ndarray) -> int:
    """The bracket a trial belongs to: a fixed hash of its id against cumulative weights.

    Example:
        >>> [bracket_of(t, np.array([1.0, 0.0])) for t in range(3)]
        [0, 0, 0]
    """
    u = ((int(trial) * 2654435761 + 12345) % 2**32) / 2**32
    cumulative = np.cumsum(weights) / np.sum(weights)
    return int(min(np.searchsorted(cumulative, u, side="right"), len(weights) - 1))


class Hyperband(Pruner):
    """Hyperband over ASHA brackets (see the module docstring)."""

    def __init__(self, min_resource: int = 1, max_resource: int = 81,
                 reduction_factor: int = 3) -> None:
        self.min_resource = _positive_int("min_resource", min_resource)
        self.max_resource = _positive_int("max_resource", max_resource)
        self.reduction_factor = _positive_int("reduction_factor", reduction_factor, 2)
        if self.max_resource < self.min_resource:
            raise BadArgument(f"max_resource ({max_resource}) must be >= min_resource "
                              f"({min_resource})")
        eta = self.reduction_factor
        s_max = int(math.floor(math.log(self.max_resource / self.min_resource, eta) + 1e-9))
        self._brackets = [SuccessiveHalving(self.min_resource, eta, rate, self.max_resource,
                                            bracket=f"hb{rate}") for rate in range(s_max + 1)]
        # Hyperband's bracket sizes: n_s = ceil((s_max + 1) / (s + 1) * eta**s), s halvings
        self._weights = np.array([math.ceil((s_max + 1) / (s_max - r + 1) * eta ** (s_max - r))
                                  for r in range(s_max + 1)], dtype=float)

    def bracket(self, trial: int) -> SuccessiveHalving:
        """The ASHA bracket ``trial`` runs in."""
        return self._brackets[bracket_of(trial, self._weights)]

    def rungs(self, trial: int, steps: np.ndarray) -> list[str]:
        return self.bracket(trial).rungs(trial, steps)

    def decide(self, trial: int, steps: np.ndarray, values: np.ndarray,
               snapshots: Sequence[RungSnapshot]) -> bool:
        return self.bracket(trial).decide(trial, steps, values, snapshots)
