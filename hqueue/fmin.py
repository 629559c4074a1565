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
import os
import pickle
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from . import progress
from .domain import Domain
from .exceptions import AllTrialsFailed, BadArgument, InvalidAnnotatedParameter
from .pruners import Pruner
from .pruners.spec import to_spec
from .pyll.base import Apply, as_apply, rec_eval, toposort
from .search import (  # noqa: F401  (STOP_EXPERIMENT, StopRules: public here since hyperopt)
    STOP_EXPERIMENT,
    Search,
    SerialRunner,
    StopRules,
    as_generator,
    check_settings,
    show_best,
)
from .space.signature import missing_active_labels
from .trial_doc import active_values, generate_trial
from .trials import Trials, use_search_entry

logger = logging.getLogger(__name__)


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
    missing = missing_active_labels(space, hp_assignment)
    if missing:
        raise BadArgument(f"space_eval: the point has no value for the active label(s) "
                          f"{', '.join(map(repr, missing))}: pass a point of this space (a best "
                          "point from another search space?)")
    memo = {}
    for node in toposort(space):
        if node.name == "hyperopt_param":
            label = node.pos_args[0].obj
            if label in hp_assignment:
                memo[node] = hp_assignment[label]
    return rec_eval(space, memo=memo)


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


def fmin(
    fn: Callable,
    space: Any,
    algo: Callable | None = None,
    max_evals: int | None = None,
    timeout: float | None = None,
    loss_threshold: float | None = None,
    trials: Trials | None = None,
    rstate: np.random.Generator | None = None,
    allow_trials_fmin: bool = True,
    pass_expr_memo_ctrl: bool | None = None,
    catch_eval_exceptions: bool | None = None,
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
    point) is returned instead. ``points_to_evaluate`` are evaluated first, on top of
    ``max_evals``, when ``trials`` is empty. One setup and teardown for every backend; the
    runner depends on who evaluates: this process (``Trials``) or workers (``RedisTrials``,
    where the keywords that cannot apply are refused with a one-line BadArgument).
    ``pruner`` (see :mod:`hqueue.pruners`; ASHA when None) judges the objective's
    ``ctrl.report`` values for ``ctrl.should_prune()`` (RedisTrials: sent to the workers as
    data, replacing ``RedisTrials(pruner=...)``; only :mod:`hqueue.pruners`' own pruners).
    """
    if allow_trials_fmin and trials is not None and overrides_fmin(trials):
        return trials.fmin(
            fn, space, algo=algo, max_evals=max_evals, timeout=timeout,
            loss_threshold=loss_threshold, rstate=rstate, pass_expr_memo_ctrl=pass_expr_memo_ctrl,
            catch_eval_exceptions=catch_eval_exceptions, verbose=verbose,
            return_argmin=return_argmin, points_to_evaluate=points_to_evaluate,
            max_queue_len=max_queue_len, show_progressbar=show_progressbar,
            early_stop_fn=early_stop_fn, trials_save_file=trials_save_file,
            **({"pruner": pruner} if pruner is not None else {}))
    if algo is None:
        from .algos.tpe import suggest as algo
    if not callable(algo):
        raise BadArgument(f"algo must be a suggest function such as tpe.suggest, got {algo!r}")
    if isinstance(space, str) and space == "annotated":
        fn, space = _annotated_space(fn)
    n_max = check_settings(max_evals, timeout, loss_threshold, max_queue_len)
    rng = as_generator(rstate)
    if trials is not None and trials.asynchronous:
        refuse_on_workers(catch_eval_exceptions, trials_save_file)
    if pruner is not None and not isinstance(pruner, Pruner):
        raise BadArgument(f"pruner must be an hqueue.pruners.Pruner such as "
                          f"SuccessiveHalving(), got {pruner!r}")
    if pruner is not None and trials is not None and trials.asynchronous:
        to_spec(pruner)  # workers rebuild it from data: BadArgument for a pruner of your own
    if trials_save_file and os.path.exists(trials_save_file):
        with open(trials_save_file, "rb") as f:
            trials = pickle.load(f)
    trials = Trials() if trials is None else trials
    domain = Domain(fn, space, pass_expr_memo_ctrl=pass_expr_memo_ctrl)
    search = Search(domain, trials, algo, rng, n_max, max_queue_len,
                    StopRules(timeout, loss_threshold, early_stop_fn),
                    catch_eval_exceptions=bool(catch_eval_exceptions),
                    trials_save_file=trials_save_file, pruner=pruner)
    runner = trials.backend.runner(search) if trials.asynchronous else SerialRunner(search)
    runner.start()
    try:
        if points_to_evaluate:
            add_points(search, points_to_evaluate)
        progress_callback = _progress_callback(show_progressbar if verbose else False)
        with progress_callback(initial=runner.n_done(), total=search.total()) as bar:
            if runner.n_done():  # a resumed search: its best so far, before anything new
                show_best(bar, trials.history())
            runner.run(bar)
    except KeyboardInterrupt:
        runner.interrupt()
        raise
    finally:
        runner.close()
    trials.sync()
    return best_point(trials, domain, return_argmin)


def overrides_fmin(trials: object) -> bool:
    """Whether ``trials`` is of a user's subclass that replaces ``Trials.fmin`` (hyperopt's
    extension point, honoured while ``allow_trials_fmin``); hqueue's own façades never do.

    Example:
        >>> overrides_fmin(Trials())
        False
    """
    return isinstance(trials, Trials) and type(trials).fmin is not Trials.fmin


def refuse_on_workers(catch_eval_exceptions: bool | None, trials_save_file: str) -> None:
    """A one-line BadArgument for an fmin keyword the asynchronous runner cannot honour.

    Example:
        >>> refuse_on_workers(None, "")
        >>> try:
        ...     refuse_on_workers(None, "t.pkl")
        ... except BadArgument as e:
        ...     print(str(e)[:52])
        trials_save_file='t.pkl' is not supported with Redis
    """
    if catch_eval_exceptions is False:
        raise BadArgument("catch_eval_exceptions=False is not supported with RedisTrials: "
                          "workers record a failing trial as ERROR and the search goes on (as "
                          "with catch_eval_exceptions=True); leave the argument out")
    if trials_save_file:
        raise BadArgument(f"trials_save_file={trials_save_file!r} is not supported with "
                          "RedisTrials: the experiment is saved in Redis, and running the same "
                          "script again resumes it")


def add_points(search: Search, points: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``points_to_evaluate`` as NEW trials (first in line) when the experiment has no
    trial yet; they come on top of ``max_evals`` (hyperopt's documented behaviour). Called
    after the runner published the domain, so a worker can run them at once."""
    if isinstance(points, Mapping) or not isinstance(points, Sequence):
        raise BadArgument("points_to_evaluate must be a list of {label: value} dicts")
    trials = search.trials
    trials.sync()
    if len(trials) > 0:
        return
    tids = trials.new_trial_ids(len(points))
    trials.insert_trial_docs([generate_trial(tid, p, trials.exp_key)
                              for tid, p in zip(tids, points)])
    if search.max_evals < sys.maxsize:
        search.max_evals += len(points)


def best_point(trials: Trials, domain: Domain, return_argmin: bool) -> Any:
    """What fmin returns: the best trial's point (``return_argmin``) or its configuration
    (``space_eval``; None when nothing finished)."""
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


def spec_from_misc(misc: Mapping[str, Any]) -> dict[str, Any]:
    """``{label: value}`` of a trial's active labels (:func:`hqueue.trial_doc.active_values`).

    Example:
        >>> spec_from_misc({"vals": {"x": [1.0], "y": []}})
        {'x': 1.0}
    """
    return active_values(misc)


use_search_entry(fmin)
