"""The search loop below ``fmin``: its settings, stop rules, and the serial runner.

``fmin`` (:mod:`hqueue.fmin`) does the setup and teardown once for every backend: it checks
the arguments (:func:`check_settings`), builds a :class:`Search`, lets a runner take the
experiment (:meth:`Runner.start`), inserts ``points_to_evaluate``, runs, and reads the best
point. Two runners implement :class:`Runner`: :class:`SerialRunner` (here: evaluates each
trial in this process) and :class:`hqueue.backends.redis.driver.AsyncRunner` (workers
evaluate; it keeps ``max_queue_len`` trials queued and waits on Redis).

Nothing here knows a storage backend: a runner sees the ``Trials`` façade it is given (typed
by :class:`SearchTrials`).

Example:
    >>> check_settings(max_evals=None, timeout=None, loss_threshold=None, max_queue_len=1)
    9223372036854775807
"""

from __future__ import annotations

import enum
import logging
import numbers
import os
import pickle
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .ctrl import Ctrl
from .exceptions import BadArgument, TrialPruned
from .pruners import Pruner, PruningSession, pruned_result
from .pruners.storage import rungs_of
from .states import (
    JOB_STATE_CANCEL,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    STATUS_FAIL,
)
from .trial_doc import active_values, utcnow
from .validate import validate_loss_threshold, validate_timeout

if TYPE_CHECKING:
    from .domain import Domain
    from .history import History
    from .mirror import TrialMirror

logger = logging.getLogger("hqueue.fmin")

STOP_EXPERIMENT = "stop"  # an algorithm returns this to end the search (hyperopt's StopExperiment)
SEED_ENV_VARS = ("HQUEUE_FMIN_SEED", "HYPEROPT_FMIN_SEED")


class StopReason(str, enum.Enum):
    """Why a search ended before its budget was spent."""

    TIMEOUT = "timeout"
    LOSS_THRESHOLD = "loss_threshold"
    EARLY_STOP_FN = "early_stop_fn"
    ALGORITHM = "algorithm"
    INTERRUPTED = "interrupted"


class ProgressBar(Protocol):
    """What a runner writes its progress to: a tqdm bar, ``progress.no_progress_callback``'s
    stand-in, or a user's ``show_progressbar`` context."""

    postfix: str | None

    def update(self, n: int = 1) -> object: ...


class SearchTrials(Protocol):
    """What a runner needs of a ``Trials`` façade (both ``Trials`` and ``RedisTrials``)."""

    trials: list[dict]

    def __len__(self) -> int: ...
    def new_trial_ids(self, n: int) -> list[int]: ...
    def insert_trial_docs(self, docs: Sequence[dict]) -> list[int]: ...
    def sync(self) -> None: ...
    def refresh(self) -> None: ...
    def history(self) -> History: ...
    def count_in_states(self, *states: int) -> int: ...
    @property
    def mirror(self) -> TrialMirror: ...


def max_evals_limit(max_evals: Any) -> int:
    """``max_evals`` as an int (``sys.maxsize`` for None or infinity); BadArgument otherwise.

    Example:
        >>> max_evals_limit(10), max_evals_limit(float("inf")) == sys.maxsize
        (10, True)
    """
    if max_evals is None:
        return sys.maxsize
    if isinstance(max_evals, bool) or not isinstance(max_evals, numbers.Real):
        raise BadArgument(f"max_evals must be a number, got {max_evals!r}")
    if max_evals != max_evals or max_evals < 0:
        raise BadArgument(f"max_evals must be >= 0, got {max_evals!r}")
    return sys.maxsize if max_evals == float("inf") else int(max_evals)


def as_generator(rstate: Any) -> np.random.Generator:
    """fmin's ``rstate`` as a numpy Generator (seeded from $HQUEUE_FMIN_SEED when None).

    Example:
        >>> int(as_generator(3).integers(10)) == int(np.random.default_rng(3).integers(10))
        True
    """
    if rstate is None:
        for var in SEED_ENV_VARS:
            if os.environ.get(var, "").strip():
                return np.random.default_rng(int(os.environ[var]))
        return np.random.default_rng()
    if isinstance(rstate, np.random.Generator):
        return rstate
    if isinstance(rstate, np.random.RandomState):
        return np.random.default_rng(rstate.randint(2**31 - 1))
    if isinstance(rstate, numbers.Integral):
        return np.random.default_rng(int(rstate))
    raise BadArgument(f"rstate must be a numpy Generator (np.random.default_rng(seed)), "
                      f"got {type(rstate).__name__}")


def check_settings(max_evals: Any, timeout: Any, loss_threshold: Any, max_queue_len: Any) -> int:
    """Refuse unusable limits with a one-line BadArgument; returns ``max_evals`` as an int."""
    n_max = max_evals_limit(max_evals)
    validate_timeout(timeout)
    validate_loss_threshold(loss_threshold)
    if not isinstance(max_queue_len, numbers.Integral) or max_queue_len < 1:
        raise BadArgument(f"max_queue_len must be an int >= 1, got {max_queue_len!r}")
    return n_max


class StopRules:
    """fmin's stop rules: ``timeout`` (seconds), ``loss_threshold`` and
    ``early_stop_fn(trials, *state) -> (stop, state)`` (its state carried between calls).

    Example:
        >>> from hqueue import Trials
        >>> StopRules(timeout=None, loss_threshold=None, early_stop_fn=None).check(Trials())
    """

    def __init__(self, timeout: float | None, loss_threshold: float | None,
                 early_stop_fn: Callable | None) -> None:
        self.timeout, self.loss_threshold = timeout, loss_threshold
        self.early_stop_fn, self.early_stop_args = early_stop_fn, []
        self.start_time = time.monotonic()

    def check(self, trials: SearchTrials) -> StopReason | None:
        """The rule that says stop, or None."""
        if self.timeout is not None and time.monotonic() - self.start_time >= self.timeout:
            return StopReason.TIMEOUT
        if self.loss_threshold is not None and \
                trials.history().best_loss <= self.loss_threshold:
            return StopReason.LOSS_THRESHOLD
        if self.early_stop_fn is not None:
            stop, self.early_stop_args = self.early_stop_fn(trials, *self.early_stop_args)
            if stop:
                return StopReason.EARLY_STOP_FN
        return None


@dataclass
class Search:
    """One search: what to evaluate, how to suggest, how much, and when to stop."""

    domain: Domain
    trials: SearchTrials
    algo: Callable
    rng: np.random.Generator
    max_evals: int
    max_queue_len: int = 1
    stop_rules: StopRules = field(default_factory=lambda: StopRules(None, None, None))
    catch_eval_exceptions: bool = False
    trials_save_file: str = ""
    pruner: Pruner | None = None  # None: the default ASHA (see hqueue.pruners)

    def suggest(self, n: int) -> list[dict] | None:
        """``n`` new trial documents from the algorithm (not inserted); None when it has
        nothing more to try (it returned ``STOP_EXPERIMENT`` or nothing)."""
        new_ids = self.trials.new_trial_ids(n)
        self.trials.sync()
        docs = self.algo(new_ids, self.domain, self.trials, int(self.rng.integers(2**31 - 1)))
        if isinstance(docs, str) or not docs:
            if isinstance(docs, str):
                logger.info("the algorithm stopped the experiment")
            return None
        return docs

    def total(self) -> int | None:
        """The progress bar's total (None without a finite ``max_evals``)."""
        return self.max_evals if self.max_evals < sys.maxsize else None


class Runner(Protocol):
    """Runs a :class:`Search` over one kind of backend."""

    def start(self) -> None:
        """Take the experiment and make the domain available; before any trial is sent."""
        ...

    def n_done(self) -> int:
        """Trials already counted by the progress bar when the run begins."""
        ...

    def run(self, bar: ProgressBar) -> None:
        """Search until the budget is spent or a stop rule fires."""
        ...

    def interrupt(self) -> None:
        """Ctrl-C reached ``fmin``: stop what was queued or is running."""
        ...

    def close(self) -> None:
        """Release the experiment (after ``run``, also when it raised)."""
        ...


def show_best(bar: ProgressBar, history: History) -> None:
    """Write the best loss so far into the progress bar's postfix."""
    if history.best_row() is not None:
        bar.postfix = f"best loss: {history.best_loss:.6g}"


class SerialRunner:
    """The in-process runner: ask the algorithm, evaluate, record, check the stop rules.

    Per-trial cost does not grow with the number of trials: it only touches documents that
    were added since the previous step.
    """

    def __init__(self, search: Search) -> None:
        self.search = search
        self._seen = 0
        self._queue: list[dict] = []

    def start(self) -> None:
        """Nothing to take: the domain is in this process."""

    def n_done(self) -> int:
        self.search.trials.sync()
        self._collect_new()
        return len(self.search.trials) - len(self._queue)

    def interrupt(self) -> None:
        """Nothing to do: the interrupted trial was marked cancelled where it ran."""

    def close(self) -> None:
        """Nothing to release."""

    def _collect_new(self) -> None:
        docs = self.search.trials.mirror.ordered
        if self._seen == len(docs):
            return
        for doc in docs[self._seen:]:
            if doc["state"] == JOB_STATE_NEW:
                self._queue.append(doc)
        self._seen = len(docs)

    def run(self, bar: ProgressBar) -> None:
        search, trials = self.search, self.search.trials
        n_queued, budget = 0, search.max_evals - len(trials)
        self._collect_new()
        while True:
            if not self._queue:
                if n_queued >= budget:
                    break
                docs = search.suggest(min(search.max_queue_len, budget - n_queued))
                if docs is None:
                    break
                trials.insert_trial_docs(docs)
                n_queued += len(docs)
                self._collect_new()
                continue
            self._evaluate(self._queue.pop(0))
            self._collect_new()
            show_best(bar, trials.history())
            bar.update(1)
            if search.trials_save_file:
                save_atomically(trials, search.trials_save_file)
            reason = search.stop_rules.check(trials)
            if reason:
                logger.info("fmin stopped early: %s", reason.value)
                break
        for doc in self._queue:  # trials queued but never run when the search stopped early
            doc["state"] = JOB_STATE_CANCEL
            doc["result"] = {"status": STATUS_FAIL, "failure": "cancelled: search stopped"}
        if self._queue:
            trials.refresh()

    def _evaluate(self, doc: dict) -> None:
        trials = self.search.trials
        doc["state"] = JOB_STATE_RUNNING
        doc["book_time"] = doc["refresh_time"] = utcnow()
        pruner = self.search.pruner
        # without a chosen pruner, Ctrl makes the default one on the first report: an
        # objective that never reports pays nothing for pruning
        pruning = None if pruner is None else PruningSession(pruner, rungs_of(trials),
                                                             doc["tid"], is_default=False)
        ctrl = Ctrl(trials, current_trial=doc, pruning=pruning)
        try:
            result = self.search.domain.evaluate(active_values(doc["misc"]), ctrl)
        except TrialPruned:  # a finished trial, not an error
            doc["result"] = pruned_result(doc["result"])
            doc["state"] = JOB_STATE_DONE
            doc["refresh_time"] = utcnow()
            return
        except KeyboardInterrupt:
            doc["state"] = JOB_STATE_CANCEL
            doc["result"] = {"status": STATUS_FAIL, "failure": "interrupted (KeyboardInterrupt)"}
            trials.refresh()
            raise
        except Exception as e:
            logger.error("trial %s raised %s: %s", doc["tid"], type(e).__name__, e)
            doc["state"] = JOB_STATE_ERROR
            doc["misc"]["error"] = (str(type(e)), str(e))
            doc["refresh_time"] = utcnow()
            trials.refresh()  # an ERROR trial leaves trials.trials
            if not self.search.catch_eval_exceptions:
                raise
            return
        if "intermediate" in doc["result"] and "intermediate" not in result:
            result["intermediate"] = doc["result"]["intermediate"]  # the curve stays
        doc["result"] = result
        doc["state"] = JOB_STATE_DONE
        doc["refresh_time"] = utcnow()


def save_atomically(trials: SearchTrials, path: str) -> None:
    """Pickle ``trials`` to ``path`` through a temporary file (never a half-written file)."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        pickle.dump(trials, f)
    os.replace(tmp, path)
