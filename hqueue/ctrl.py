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
from collections.abc import Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from .exceptions import BadArgument
from .states import JOB_STATE_DONE
from .trial_doc import generate_trial, utcnow

if TYPE_CHECKING:
    from .trials import Trials

logger = logging.getLogger("hqueue.ctrl")


class Ctrl:
    """Control object for interruptible, checkpoint-able evaluation."""

    info = logger.info
    warn = logger.warning
    error = logger.error
    debug = logger.debug

    def __init__(self, trials: Trials, current_trial: dict | None = None) -> None:
        if trials is None:
            raise BadArgument("Ctrl needs a trials object")
        self.trials = trials
        self.current_trial = current_trial
        self._stop_requested = False

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
        if self.current_trial is None:
            raise BadArgument("report() needs a current trial")
        result = dict(self.current_trial["result"])
        history = list(result.get("intermediate", []))
        step = len(history) if step is None else int(step)
        history.append({"step": step, "value": float(value), **extra})
        result["intermediate"] = history
        self.checkpoint(result)

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
