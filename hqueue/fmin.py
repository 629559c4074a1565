"""``fmin``: minimize an objective over a search space (hyperopt's driver, serial loop).

Example:
    >>> import numpy as np
    >>> from hqueue import fmin, hp, tpe, space_eval
    >>> space = hp.choice("a", [("case 1", 1 + hp.lognormal("c1", 0, 1)),
    ...                         ("case 2", hp.uniform("c2", -10, 10))])
    >>> best = fmin(lambda args: args[1] ** 2 if args[0] == "case 2" else args[1],
    ...             space, algo=tpe.suggest, max_evals=50,
    ...             rstate=np.random.default_rng(0), show_progressbar=False)
    >>> space_eval(space, best)[0]
    'case 2'
"""

from __future__ import annotations

import functools
import inspect
import logging
import numbers
import os
import pickle
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from . import progress
from .ctrl import Ctrl
from .domain import Domain
from .exceptions import AllTrialsFailed, BadArgument, InvalidAnnotatedParameter, TrialPruned
from .pruners import Pruner, PruningSession, default_pruner, pruned_result
from .pruners.storage import rungs_of
from .pyll.base import Apply, as_apply, rec_eval, toposort
from .states import (
    JOB_STATE_CANCEL,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    STATUS_FAIL,
)
from .trial_doc import DOMAIN_CMD, utcnow
from .trials import Trials

logger = logging.getLogger(__name__)

STOP_EXPERIMENT = "stop"  # an algorithm returns this to end the search (hyperopt's StopExperiment)
SEED_ENV_VARS = ("HQUEUE_FMIN_SEED", "HYPEROPT_FMIN_SEED")


def fmin_pass_expr_memo_ctrl(f: Callable) -> Callable:
    """Mark ``f`` to be called as ``f(expr=..., memo=..., ctrl=...)`` by fmin.

    Example:
        >>> @fmin_pass_expr_memo_ctrl
        ... def objective(expr, memo, ctrl):
        ...     return rec_eval(expr, memo=memo) ** 2
    """
    f.fmin_pass_expr_memo_ctrl = True
    return f


def partial(fn: Callable, *args: Any, **kwargs: Any) -> functools.partial:
    """``functools.partial`` that keeps the ``fmin_pass_expr_memo_ctrl`` mark of ``fn``.

    Example:
        >>> from hqueue import tpe
        >>> algo = partial(tpe.suggest, n_startup_jobs=10)
    """
    rval = functools.partial(fn, *args, **kwargs)
    if hasattr(fn, "fmin_pass_expr_memo_ctrl"):
        rval.fmin_pass_expr_memo_ctrl = fn.fmin_pass_expr_memo_ctrl
    return rval


def space_eval(space: Any, hp_assignment: Mapping[str, Any]) -> Any:
    """The configuration a point (``{label: value}``, choices as indices) stands for.

    Example:
        >>> from hqueue import hp
        >>> space_eval({"k": hp.choice("k", ["a", "b"])}, {"k": 1})
        {'k': 'b'}
    """
    space = as_apply(space)
    memo = {}
    for node in toposort(space):
        if node.name == "hyperopt_param":
            label = node.pos_args[0].obj
            if label in hp_assignment:
                memo[node] = hp_assignment[label]
    return rec_eval(space, memo=memo)


def generate_trial(tid: int, point: Mapping[str, Any]) -> dict:
    """A NEW trial document for one ``{label: value}`` point."""
    return {
        "state": JOB_STATE_NEW, "tid": tid, "spec": None, "result": {"status": "new"},
        "misc": {"tid": tid, "cmd": DOMAIN_CMD, "workdir": None,
                 "idxs": {k: [tid] for k in point}, "vals": {k: [v] for k, v in point.items()}},
        "exp_key": None, "owner": None, "version": 0, "book_time": None, "refresh_time": None,
    }


def generate_trials_to_calculate(points: Sequence[Mapping[str, Any]],
                                 tids: Sequence[int] | None = None) -> Trials:
    """A Trials holding ``points`` as NEW trials, evaluated first by fmin.

    Example:
        >>> trials = generate_trials_to_calculate([{"x": 0.0}, {"x": 1.0}])
        >>> [t["misc"]["vals"]["x"] for t in trials.trials]
        [[0.0], [1.0]]
    """
    if isinstance(points, Mapping) or not isinstance(points, Sequence):
        raise BadArgument("points must be a list of {label: value} dicts")
    tids = range(len(points)) if tids is None else tids
    trials = Trials()
    trials.insert_trial_docs([generate_trial(tid, p) for tid, p in zip(tids, points)])
    trials.refresh()
    return trials


def _rstate(rstate: Any) -> np.random.Generator:
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


def _call_with_kwargs(fn: Callable, config: Mapping[str, Any]) -> Any:
    return fn(**config)


def _annotated_space(fn: Callable) -> tuple[Callable, dict]:
    hints = inspect.get_annotations(fn, eval_str=True)
    space = {k: v for k, v in hints.items() if k != "return"}
    for name, annotation in space.items():
        if not isinstance(annotation, Apply):
            raise InvalidAnnotatedParameter(
                f"space='annotated': parameter {name!r} of {fn.__name__} is annotated with "
                f"{annotation!r}, not an hp expression; write {name}: hp.uniform({name!r}, 0, 1)"
            )
    if not space:
        raise BadArgument("space='annotated' needs an objective whose parameters are annotated "
                          "with hp expressions: def f(x: hp.uniform('x', 0, 1)): ...")
    return functools.partial(_call_with_kwargs, fn), space


def _max_evals(max_evals: Any) -> int:
    if max_evals is None:
        return sys.maxsize
    if isinstance(max_evals, bool) or not isinstance(max_evals, numbers.Real):
        raise BadArgument(f"max_evals must be a number, got {max_evals!r}")
    if max_evals != max_evals or max_evals < 0:
        raise BadArgument(f"max_evals must be >= 0, got {max_evals!r}")
    return sys.maxsize if max_evals == float("inf") else int(max_evals)


def fmin(
    fn: Callable,
    space: Any,
    algo: Callable | None = None,
    max_evals: int | None = None,
    timeout: float | None = None,
    loss_threshold: float | None = None,
    trials: Any = None,
    rstate: np.random.Generator | None = None,
    allow_trials_fmin: bool = True,
    pass_expr_memo_ctrl: bool | None = None,
    catch_eval_exceptions: bool = False,
    verbose: bool = True,
    return_argmin: bool = True,
    points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
    max_queue_len: int = 1,
    show_progressbar: bool | Callable = True,
    early_stop_fn: Callable | None = None,
    trials_save_file: str = "",
    pruner: Pruner | None = None,
) -> Any:
    """Minimize ``fn`` over ``space`` with ``algo``; returns the best point found.

    ``max_evals`` counts trials already in ``trials``; ``timeout`` (seconds),
    ``loss_threshold`` and ``early_stop_fn(trials, *state) -> (stop, state)`` end the search
    early. With ``return_argmin=False`` the best configuration (``space_eval`` of the best
    point) is returned instead. ``pruner`` (see :mod:`hqueue.pruners`; ASHA when None) judges
    the objective's ``ctrl.report`` values for ``ctrl.should_prune()`` (RedisTrials: the
    default only, for now).
    """
    if algo is None:
        from .algos.tpe import suggest as algo
    if not callable(algo):
        raise BadArgument(f"algo must be a suggest function such as tpe.suggest, got {algo!r}")
    if isinstance(space, str) and space == "annotated":
        fn, space = _annotated_space(fn)
    n_max = _max_evals(max_evals)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, numbers.Real)
                                or not timeout > 0):
        raise BadArgument(f"timeout must be a positive number of seconds, got {timeout!r}")
    if loss_threshold is not None and (isinstance(loss_threshold, bool)
                                       or not isinstance(loss_threshold, numbers.Real)):
        raise BadArgument(f"loss_threshold must be a number, got {loss_threshold!r}")
    if not isinstance(max_queue_len, numbers.Integral) or max_queue_len < 1:
        raise BadArgument(f"max_queue_len must be an int >= 1, got {max_queue_len!r}")
    rng = _rstate(rstate)
    if pruner is not None and not isinstance(pruner, Pruner):
        raise BadArgument(f"pruner must be an hqueue.pruners.Pruner such as "
                          f"SuccessiveHalving(), got {pruner!r}")
    if pruner is not None and getattr(trials, "asynchronous", False):
        raise BadArgument("pruner= is not supported with RedisTrials yet: its workers prune "
                          "with the default ASHA; leave pruner=None")
    if trials_save_file and os.path.exists(trials_save_file):
        with open(trials_save_file, "rb") as f:
            trials = pickle.load(f)
    if points_to_evaluate and (trials is None or len(trials) == 0):
        # the points come on top of max_evals (hyperopt's documented behaviour)
        if trials is None:
            trials = Trials()
        tids = trials.new_trial_ids(len(points_to_evaluate))
        trials.insert_trial_docs(generate_trials_to_calculate(points_to_evaluate, tids).trials)
        n_max = n_max + len(points_to_evaluate) if n_max < sys.maxsize else n_max
        if max_evals is not None:
            max_evals = n_max
    elif trials is None:
        trials = Trials()
    if allow_trials_fmin and hasattr(trials, "fmin"):
        return trials.fmin(
            fn, space, algo=algo, max_evals=max_evals, timeout=timeout,
            loss_threshold=loss_threshold, rstate=rng, pass_expr_memo_ctrl=pass_expr_memo_ctrl,
            catch_eval_exceptions=catch_eval_exceptions, verbose=verbose,
            return_argmin=return_argmin, max_queue_len=max_queue_len,
            show_progressbar=show_progressbar, early_stop_fn=early_stop_fn,
            trials_save_file=trials_save_file,
            **({"pruner": pruner} if pruner is not None else {}),  # pruning (issue 14)
        )
    domain = Domain(fn, space, pass_expr_memo_ctrl=pass_expr_memo_ctrl)
    loop = SerialLoop(domain, trials, algo, rng, n_max, timeout=timeout,
                      loss_threshold=loss_threshold, catch_eval_exceptions=catch_eval_exceptions,
                      max_queue_len=max_queue_len, early_stop_fn=early_stop_fn,
                      trials_save_file=trials_save_file, verbose=verbose, pruner=pruner)
    loop.run(_progress_callback(show_progressbar if verbose else False))
    getattr(trials, "_refresh_incremental", trials.refresh)()
    if return_argmin:
        if len(trials.trials) == 0:
            raise AllTrialsFailed("There are no evaluation tasks, cannot return argmin of task "
                                  "losses (every trial errored, or max_evals was reached "
                                  "before the first trial)")
        return trials.argmin
    if len(trials) > 0:
        return space_eval(domain.expr, trials.argmin)
    return None


def _progress_callback(show_progressbar: bool | Callable) -> Callable:
    if callable(show_progressbar):
        return show_progressbar
    if show_progressbar:
        return progress.default_callback
    return progress.no_progress_callback


class StopRules:
    """fmin's stop rules: ``timeout`` (seconds), ``loss_threshold`` and
    ``early_stop_fn(trials, *state) -> (stop, state)`` (its state carried between calls).

    Example:
        >>> StopRules(timeout=None, loss_threshold=None, early_stop_fn=None).check(Trials())
    """

    def __init__(self, timeout: float | None, loss_threshold: float | None,
                 early_stop_fn: Callable | None) -> None:
        self.timeout, self.loss_threshold = timeout, loss_threshold
        self.early_stop_fn, self.early_stop_args = early_stop_fn, []
        self.start_time = time.monotonic()

    def check(self, trials: Any) -> str | None:
        """The name of the rule that says stop, or None."""
        if self.timeout is not None and time.monotonic() - self.start_time >= self.timeout:
            return "timeout"
        if self.loss_threshold is not None and \
                trials.history().best_loss <= self.loss_threshold:
            return "loss_threshold"
        if self.early_stop_fn is not None:
            stop, self.early_stop_args = self.early_stop_fn(trials, *self.early_stop_args)
            if stop:
                return "early_stop_fn"
        return None


def spec_from_misc(misc: Mapping[str, Any]) -> dict[str, Any]:
    """``{label: value}`` of a trial's active labels."""
    return {k: v[0] for k, v in misc["vals"].items() if v}


class SerialLoop:
    """The in-process fmin loop: ask the algorithm, evaluate, record, check stop rules.

    Per-trial cost does not grow with the number of trials: it only touches documents that
    were added since the previous step.
    """

    def __init__(self, domain: Domain, trials: Any, algo: Callable, rng: np.random.Generator,
                 max_evals: int, timeout: float | None = None,
                 loss_threshold: float | None = None, catch_eval_exceptions: bool = False,
                 max_queue_len: int = 1, early_stop_fn: Callable | None = None,
                 trials_save_file: str = "", verbose: bool = True,
                 pruner: Pruner | None = None) -> None:
        self.domain, self.trials, self.algo, self.rng = domain, trials, algo, rng
        self.max_evals = max_evals
        self.stop_rules = StopRules(timeout, loss_threshold, early_stop_fn)
        self.catch_eval_exceptions = catch_eval_exceptions
        self.max_queue_len = max_queue_len
        self.trials_save_file = trials_save_file
        self.verbose = verbose
        self.pruner = default_pruner() if pruner is None else pruner
        self._default_pruner = pruner is None
        self._seen = 0
        self._queue: list[dict] = []

    def _collect_new(self) -> None:
        docs = self.trials._dynamic_trials
        for doc in docs[self._seen:]:
            if doc["state"] == JOB_STATE_NEW and self.trials._in_view(doc):
                self._queue.append(doc)
        self._seen = len(docs)

    def run(self, progress_callback: Callable) -> None:
        trials = self.trials
        trials._refresh_incremental()
        n_queued, budget = 0, self.max_evals - len(trials)
        self._collect_new()
        with progress_callback(initial=len(trials) - len(self._queue),
                               total=self.max_evals if self.max_evals < sys.maxsize
                               else None) as bar:
            while True:
                if not self._queue:
                    if n_queued >= budget:
                        break
                    n = min(self.max_queue_len, budget - n_queued)
                    new_ids = trials.new_trial_ids(n)
                    trials._refresh_incremental()
                    docs = self.algo(new_ids, self.domain, trials,
                                     int(self.rng.integers(2**31 - 1)))
                    if docs is STOP_EXPERIMENT or (isinstance(docs, str) and docs == "stop"):
                        logger.info("the algorithm stopped the experiment")
                        break
                    if not docs:
                        break
                    trials.insert_trial_docs(docs)
                    n_queued += len(docs)
                    self._collect_new()
                    continue
                doc = self._queue.pop(0)
                self._evaluate(doc)
                self._collect_new()
                history = trials.history()
                if history.best_row() is not None:
                    bar.postfix = f"best loss: {history.best_loss:.6g}"
                bar.update(1)
                if self.trials_save_file:
                    _save_atomically(trials, self.trials_save_file)
                reason = self.stop_rules.check(trials)
                if reason:
                    logger.info("fmin stopped early: %s", reason)
                    break
        for doc in self._queue:  # trials queued but never run when the search stopped early
            doc["state"] = JOB_STATE_CANCEL
            doc["result"] = {"status": STATUS_FAIL, "failure": "cancelled: search stopped"}
        if self._queue:
            trials.refresh()

    def _evaluate(self, doc: dict) -> None:
        trials = self.trials
        now = utcnow()
        doc["state"] = JOB_STATE_RUNNING
        doc["book_time"] = doc["refresh_time"] = now
        pruning = PruningSession(self.pruner, rungs_of(trials), doc["tid"],  # issue 14
                                 is_default=self._default_pruner)
        ctrl = Ctrl(trials, current_trial=doc, pruning=pruning)
        try:
            result = self.domain.evaluate(spec_from_misc(doc["misc"]), ctrl)
        except TrialPruned:  # pruning (issue 14): a finished trial, not an error
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
            if not self.catch_eval_exceptions:
                raise
            return
        if "intermediate" in doc["result"] and "intermediate" not in result:
            result["intermediate"] = doc["result"]["intermediate"]  # issue 14: curves stay
        doc["result"] = result
        doc["state"] = JOB_STATE_DONE
        doc["refresh_time"] = utcnow()


def _save_atomically(trials: Any, path: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        pickle.dump(trials, f)
    os.replace(tmp, path)
