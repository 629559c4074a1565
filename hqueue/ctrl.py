"""The :class:`Ctrl` handle a running objective gets to talk to its trials database.

Objectives receive it through ``pass_expr_memo_ctrl`` (``fn(expr, memo, ctrl)``).

Example:
    >>> from hqueue import Ctrl, Trials
    >>> trials = Trials()
    >>> doc = trials.new_trial_docs([0], [None], [{"status": "new"}],
    ...     [{"tid": 0, "cmd": None, "workdir": None, "idxs": {}, "vals": {}}])[0]
    >>> _ = trials.insert_trial_docs([doc]); trials.refresh()
    >>> ctrl = Ctrl(trials, current_trial=trials.trials[0])
    >>> ctrl.checkpoint({"status": "running", "loss": 0.5})
    >>> trials.trials[0]["result"]["loss"]
    0.5
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from .exceptions import BadArgument, TrialPruned
from .pruners import PruningSession, default_pruner
from .pruners.storage import rungs_of
from .states import JOB_STATE_DONE
from .trial_doc import generate_trial, utcnow

if TYPE_CHECKING:
    from .trials import Trials

logger = logging.getLogger("hqueue.ctrl")

#: a trial's learning curve keeps its first this many reports (later ones are dropped, logged)
MAX_CURVE_POINTS = 10_000


class Ctrl:
    """Control object for interruptible, checkpoint-able evaluation."""

    info = logger.info
    warn = logger.warning
    error = logger.error
    debug = logger.debug

    def __init__(self, trials: Trials, current_trial: dict | None = None,
                 pruning: PruningSession | None = None) -> None:
        if trials is None:
            raise BadArgument("Ctrl needs a trials object")
        self.trials = trials
        self.current_trial = current_trial
        self._stop_requested = False
        self.pruning = pruning  # pruning (issue 14): judges each report; see should_prune

    def checkpoint(self, r: Mapping[str, Any] | None = None) -> None:
        """Make ``r`` the current trial's (partial) result, visible while the trial runs."""
        if self.current_trial is None:
            raise BadArgument("checkpoint() needs a current trial")
        if r is not None:
            self.current_trial["result"] = dict(r)
            self.current_trial["refresh_time"] = utcnow()

    def report(self, value: float, step: int | None = None, **extra: Any) -> None:
        """Record an intermediate value (e.g. validation loss after an epoch).

        Intermediate values accumulate in ``result['intermediate']`` as
        ``{"step": ..., "value": ...}`` entries.
        """
        step, result = self._reported(value, step, extra)
        if result is not None:
            self.checkpoint(result)
        session = self._pruning_session()
        if session is not None:
            session.report(value, step)

    def _reported(self, value: float, step: int | None,
                  extra: Mapping[str, Any]) -> tuple[int, dict | None]:
        """The step of a report and the partial result with its point appended (None when the
        curve is full: the point is dropped, logged)."""
        if self.current_trial is None:
            raise BadArgument("report() needs a current trial")
        result = dict(self.current_trial["result"])
        history = list(result.get("intermediate", []))
        step = len(history) if step is None else int(step)
        if len(history) >= MAX_CURVE_POINTS:  # pruning (issue 14): curves are bounded
            logger.warning("trial %s: report at step %s dropped from the learning curve "
                           "(it keeps the first %d)", self.current_trial.get("tid"), step,
                           MAX_CURVE_POINTS)
            return step, None
        history.append({"step": step, "value": float(value), **extra})
        result["intermediate"] = history
        return step, result

    # -- pruning (issue 14) ----------------------------------------------------------------
    def _pruning_session(self) -> PruningSession | None:
        """The trial's pruning session; made on first use (default pruner) for in-memory
        trials, None where no shared rung storage is reachable (a Redis worker, for now)."""
        if getattr(self, "pruning", None) is None and self.current_trial is not None:
            # (subclasses such as the worker's RedisCtrl may not run Ctrl.__init__)
            rungs = rungs_of(self.trials)
            if rungs is not None:
                self.pruning = PruningSession(default_pruner(), rungs, self.current_trial["tid"],
                                              is_default=True)
        return getattr(self, "pruning", None)

    def should_prune(self) -> bool:
        """True when the pruner judged the latest report not worth continuing.

        False before any report. The objective then ends the trial with
        ``raise hqueue.TrialPruned()``. Without a pruner (``fmin(..., pruner=None)``), ASHA
        decides; on Redis workers it is always ASHA, on the experiment's shared rungs. Where no
        rung storage is reachable, always False (logged once).
        """
        session = self._pruning_session()
        if session is None:
            if not getattr(self, "_warned_no_pruning", False):
                logger.warning("should_prune(): no rung storage for this ctrl's trials; the "
                               "trial goes on")
                self._warned_no_pruning = True
            return False
        return session.should_prune()

    def epochs(self, n: int, start: int = 0) -> Iterator[int]:
        """``start .. n-1``; after each epoch but the last, raise :class:`TrialPruned` if the
        pruner says so. Without a chosen pruner, ASHA's rungs are fitted to ``n`` steps.

        Example:
            >>> def train(ctrl):  # doctest: +SKIP
            ...     for epoch in ctrl.epochs(27):
            ...         ctrl.report(fit_one_epoch(), step=epoch)
            ...     return final_loss()
        """
        session = self._pruning_session()
        if session is not None:
            session.set_length(int(n))  # the default pruner's rungs fit the loop
        for epoch in range(int(start), int(n)):
            yield epoch
            if epoch < int(n) - 1 and self.should_prune():  # the last epoch's work is done
                raise TrialPruned(f"pruned after step {epoch}")

    def should_stop(self) -> bool:
        """True once the driver asked this trial to stop (timeout, cancel, Ctrl-C)."""
        return self._stop_requested

    def request_stop(self) -> None:
        """Ask the running objective to stop at its next :meth:`should_stop` check."""
        self._stop_requested = True

    @property
    def attachments(self) -> MutableMapping:
        """The current trial's attachments (a dict-like view)."""
        return self.trials.trial_attachments(trial=self.current_trial)

    def inject_results(self, specs: Sequence[Any], results: Sequence[dict],
                       miscs: Sequence[dict], new_tids: Sequence[int] | None = None) -> list[int]:
        """Insert already-evaluated trials (e.g. points a run explored on its own)."""
        if self.current_trial is None:
            raise BadArgument("inject_results() needs a current trial")
        if not len(specs) == len(results) == len(miscs):
            raise BadArgument("inject_results: specs, results and miscs differ in length")
        if new_tids is None:
            new_tids = self.trials.new_trial_ids(len(specs))
        docs = self.trials.source_trial_docs(tids=new_tids, specs=specs, results=results,
                                             miscs=miscs, sources=[self.current_trial])
        for doc in docs:
            doc["state"] = JOB_STATE_DONE
        return self.trials.insert_trial_docs(docs)

    def enqueue(self, points: Sequence[Mapping[str, Any]]) -> list[int]:
        """Queue new configurations (``{label: value}``, choices as indices) for evaluation."""
        points = list(points)
        tids = self.trials.new_trial_ids(len(points))
        docs = [generate_trial(tid, p, self.trials.exp_key) for tid, p in zip(tids, points)]
        for doc in docs:
            doc["misc"]["from_tid"] = self.current_trial["tid"] if self.current_trial else None
        return self.trials.insert_trial_docs(docs)
