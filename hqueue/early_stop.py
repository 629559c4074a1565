"""Early-stopping rules for ``fmin(..., early_stop_fn=...)``.

The protocol (hyperopt's): after each batch of evaluations fmin calls
``early_stop_fn(trials, *args)`` and receives ``(stop, args)``. ``args`` is the function's state,
which fmin hands back unchanged on the next call; the first call gets no ``args``.

Example:
    >>> from hqueue import fmin, hp, rand, Trials
    >>> trials = Trials()
    >>> _ = fmin(lambda x: 1.0, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=100,
    ...          trials=trials, early_stop_fn=no_progress_loss(5), show_progressbar=False)
    >>> len(trials)
    5
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .trials import Trials

logger = logging.getLogger(__name__)

# hyperopt's JOB_STATE_NEW and JOB_STATE_RUNNING (fixed public values; this module imports only
# the standard library).
_UNFINISHED_STATES = (0, 1)

EarlyStopFn = Callable[..., tuple[bool, list]]


def no_progress_loss(iteration_stop_count: int = 20, percent_increase: float = 0.0) -> EarlyStopFn:
    """Stop when the loss has not improved for ``iteration_stop_count`` calls.

    Each call looks at the loss of the newest trial (``trials.trials[-1]``) only, as hyperopt
    does. That loss counts as progress when it is strictly below
    ``best - abs(best) * percent_increase / 100``, where ``best`` is the loss of the last trial
    that counted as progress; progress resets the counter to 0 and makes that loss the new
    ``best``, anything else adds 1. The search stops once the counter reaches
    ``iteration_stop_count``. So ``percent_increase`` is the relative improvement a new loss
    must make to count (0 means any strict decrease; an equal loss is no progress).

    Details kept from hyperopt 0.3.0 so that searches stop at the same trial:

    * the first call makes its loss ``best`` and already counts 1, so with losses that never
      improve the search stops after ``iteration_stop_count`` trials in all;
    * a ``None`` loss clears ``best`` and the counter; the next call then acts like a first call;
    * a NaN loss never counts as progress, and a NaN ``best`` is never beaten.

    Where hyperopt raises, this one does not: a newest trial whose result has no ``loss`` key (a
    failed trial) is no progress (before any ``best`` it acts like a ``None`` loss); a newest
    trial that is still queued or running, or an empty ``trials``, leaves the state unchanged
    and does not stop. Trials in the ERROR state are not in ``trials.trials``, so after one the
    newest trial read is an earlier one, whose loss cannot beat ``best``: no progress again.

    Args:
        iteration_stop_count: calls without progress after which the search stops.
        percent_increase: relative improvement (in percent of ``abs(best)``) a loss must make
            to count as progress.

    Returns:
        ``stop_fn(trials, best_loss=None, iteration_no_progress=0) -> (stop, [best, count])``.

    Example:
        >>> from types import SimpleNamespace
        >>> stop_fn = no_progress_loss(iteration_stop_count=2)
        >>> docs, args = [], []
        >>> for loss in [3.0, 2.0, 2.5, 2.0]:
        ...     docs.append({"state": 2, "result": {"status": "ok", "loss": loss}})
        ...     stop, args = stop_fn(SimpleNamespace(trials=docs), *args)
        ...     print(loss, stop, args)
        3.0 False [3.0, 1]
        2.0 False [2.0, 0]
        2.5 False [2.0, 1]
        2.0 True [2.0, 2]
    """

    def stop_fn(
        trials: Trials, best_loss: float | None = None, iteration_no_progress: int = 0
    ) -> tuple[bool, list]:
        docs = trials.trials
        if not docs or docs[-1].get("state") in _UNFINISHED_STATES:
            return False, [best_loss, iteration_no_progress]
        result = docs[-1]["result"]
        new_loss = result.get("loss")
        if best_loss is None:
            return False, [new_loss, iteration_no_progress + 1]
        threshold = best_loss - abs(best_loss * (percent_increase / 100.0))
        # A result without a "loss" key (a failed trial) is no progress; hyperopt raises KeyError.
        if "loss" in result and (new_loss is None or new_loss < threshold):
            best_loss, iteration_no_progress = new_loss, 0
        else:
            iteration_no_progress += 1
            logger.debug(
                "no progress for %d of %d iterations: best_loss=%s, threshold=%s, new_loss=%s",
                iteration_no_progress,
                iteration_stop_count,
                best_loss,
                threshold,
                new_loss,
            )
        return iteration_no_progress >= iteration_stop_count, [best_loss, iteration_no_progress]

    return stop_fn
