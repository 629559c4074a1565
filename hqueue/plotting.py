"""Plots of a search: loss history, loss histogram, and each hyperparameter against time.

The functions keep hyperopt's signatures and draw on matplotlib's current figure (so they can
fill a subplot a caller has prepared), call ``plt.show()`` only when ``do_show`` is true, and
return the figure. They read only the public Trials API (``trials.trials``, ``losses()``,
``statuses()``), so they work with ``Trials``, ``RedisTrials`` and hyperopt's own Trials.

matplotlib is an optional dependency: ``pip install 'hqueue[plot]'``.

Example:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from hqueue import Trials, fmin, hp, rand
    >>> trials = Trials()
    >>> _ = fmin(lambda x: x ** 2, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=10,
    ...          trials=trials, show_progressbar=False)
    >>> fig = main_plot_history(trials, do_show=False)
    >>> fig.savefig("history.png")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from .exceptions import BadArgument
from .states import STATUS_FAIL, STATUS_NEW, STATUS_OK, STATUS_RUNNING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .trials import Trials

logger = logging.getLogger(__name__)

default_status_colors = {
    STATUS_NEW: "k",
    STATUS_RUNNING: "g",
    STATUS_OK: "b",
    STATUS_FAIL: "r",
}
_OTHER_STATUS_COLOR = "0.5"
_BEST_COLOR = "tab:green"


def _pyplot() -> ModuleType:
    """Import ``matplotlib.pyplot`` on first use (importing it early would fix the backend)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("hqueue.plotting needs matplotlib: pip install 'hqueue[plot]'") from exc
    return plt


def _finite(loss: Any) -> bool:
    return isinstance(loss, numbers.Real) and math.isfinite(loss)


def _describe(trials: Any) -> str:
    """'3 trials: 1 ok, 2 fail' -- for error messages."""
    statuses = list(trials.statuses())
    counts = {s: statuses.count(s) for s in dict.fromkeys(statuses)}
    parts = ", ".join(f"{n} {s}" for s, n in counts.items())
    return f"{len(statuses)} trials: {parts}"


def _require_trials(trials: Any, fn: str) -> None:
    if not len(trials.trials):
        raise BadArgument(f"{fn}: trials is empty; run fmin first")


def _running_best(losses: Sequence[Any], statuses: Sequence[str]) -> np.ndarray:
    """Lowest OK loss so far at each position (NaN before the first OK trial)."""
    ok = np.array(
        [y if s == STATUS_OK and _finite(y) else np.inf for y, s in zip(losses, statuses)],
        dtype=float,
    )
    best = np.minimum.accumulate(ok) if len(ok) else ok
    best[np.isinf(best)] = np.nan
    return best


def main_plot_history(
    trials: Trials,
    do_show: bool = True,
    status_colors: Mapping[str, Any] | None = None,
    title: str = "Loss History",
) -> Figure:
    """Scatter each trial's loss in order, coloured by status, with the best loss so far.

    As in hyperopt, the x axis counts the trials that have a loss (trials without one, such as
    failures, are left out) and a horizontal line marks ``trials.average_best_error()``.
    hqueue adds a step line of the best OK loss so far and a legend.

    Raises:
        BadArgument: (a ValueError) when there are no trials or none has a loss.

    Example:
        >>> fig = main_plot_history(trials, do_show=False)  # doctest: +SKIP
    """
    plt = _pyplot()
    _require_trials(trials, "main_plot_history")
    colors_by_status = dict(status_colors if status_colors is not None else default_status_colors)
    points = [(y, s) for y, s in zip(trials.losses(), trials.statuses()) if y is not None]
    if not points:
        raise BadArgument(f"main_plot_history: no trial has a loss ({_describe(trials)})")
    ys = [float(y) for y, _ in points]
    statuses = [s for _, s in points]
    xs = np.arange(len(ys))
    colors = [colors_by_status.get(s, _OTHER_STATUS_COLOR) for s in statuses]

    ax = plt.gca()
    ax.scatter(xs, ys, c=colors, label="loss (colour = status)")
    best = _running_best(ys, statuses)
    if not np.all(np.isnan(best)):
        ax.plot(xs, best, drawstyle="steps-post", color=_BEST_COLOR, label="best so far")
        try:
            best_err = float(trials.average_best_error())
        except (ValueError, ArithmeticError, LookupError) as exc:
            logger.info("main_plot_history: no average best error (%s)", exc)
        else:
            logger.info("avg best error: %s", best_err)
            ax.axhline(best_err, color=_BEST_COLOR, linestyle=":", label="avg best error")
    ax.set_xlabel("time")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend(loc="best", fontsize="small")
    if do_show:
        plt.show()
    return ax.figure


def main_plot_histogram(trials: Trials, do_show: bool = True,
                        title: str = "Loss Histogram") -> Figure:
    """Histogram of the finite losses of all trials that have one.

    Raises:
        BadArgument: (a ValueError) when there are no trials or no finite loss.

    Example:
        >>> fig = main_plot_histogram(trials, do_show=False)  # doctest: +SKIP
    """
    plt = _pyplot()
    _require_trials(trials, "main_plot_histogram")
    losses = [y for y in trials.losses() if y is not None]
    finite = [float(y) for y in losses if _finite(y)]
    if not finite:
        raise BadArgument(f"main_plot_histogram: no trial has a finite loss ({_describe(trials)})")
    if len(finite) < len(losses):
        logger.info(
            "main_plot_histogram: leaving out %d non-finite losses", len(losses) - len(finite)
        )
    logger.info("Showing Histogram of %i jobs", len(finite))
    ax = plt.gca()
    ax.hist(finite)
    ax.set_xlabel("loss")
    ax.set_ylabel("frequency")
    ax.set_title(title)
    if do_show:
        plt.show()
    return ax.figure


def _points_by_label(trial_docs: Sequence[Mapping]) -> dict[str, list[tuple[int, Any]]]:
    """``label -> [(tid, value), ...]`` over all trials; a label inactive in a trial (``[]``,
    or missing from its ``misc``) has no point there."""
    points: dict[str, list[tuple[int, Any]]] = {}
    for doc in trial_docs:
        misc = doc["misc"]
        vals = misc.get("vals", {})
        for label, idxs in misc.get("idxs", {}).items():
            pts = points.setdefault(label, [])
            pts.extend(zip(idxs, vals.get(label, [])))
    return points


def _is_index(values: Sequence[Any]) -> bool:
    """True for choice indices / randint values (plotted on an integer axis)."""
    return bool(values) and all(
        isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool) for v in values
    )


def _loss_color(loss: Any, lo: float, hi: float, best_thresh: float | None) -> tuple:
    """Black (best) to light grey (worst); the highlighted best in green."""
    t = (loss - lo) / (hi - lo) if hi > lo else 0.0
    if best_thresh is not None and loss <= best_thresh:
        return (0.0, 0.8 - 0.5 * t, 0.0)
    return (0.8 * t,) * 3


def main_plot_vars(
    trials: Trials,
    do_show: bool = True,
    fontsize: int = 10,
    colorize_best: int | None = None,
    columns: int = 5,
    arrange_by_loss: bool = False,
) -> Figure:
    """One subplot per hyperparameter: its value in each trial where it is active.

    The x axis is the trial id, or the trial's loss with ``arrange_by_loss``. Points are shaded
    by loss from black (best) to light grey (worst); ``colorize_best=n`` draws the ``n`` best
    trials in green (hyperopt highlights ``n + 1``). Trials without a finite loss are red
    crosses (left out when ``arrange_by_loss``). A conditional hyperparameter shows only the
    trials where it was active; a choice (integer values: the option index) gets integer ticks.
    Labels containing ``"log"`` get a log y axis when all their values are positive (hyperopt's
    naming heuristic; trials do not record the distribution).

    Raises:
        BadArgument: (a ValueError) when there are no trials, no hyperparameters, or no
            finite loss.

    Example:
        >>> fig = main_plot_vars(trials, do_show=False, colorize_best=3)  # doctest: +SKIP
    """
    plt = _pyplot()
    _require_trials(trials, "main_plot_vars")
    docs = list(trials.trials)
    points = _points_by_label(docs)
    if not points:
        raise BadArgument("main_plot_vars: the trials record no hyperparameters")
    loss_by_tid = {doc["tid"]: loss for doc, loss in zip(docs, trials.losses())}
    finite = sorted(float(y) for y in loss_by_tid.values() if _finite(y))
    if not finite:
        raise BadArgument(f"main_plot_vars: no trial has a finite loss ({_describe(trials)})")
    lo, hi = finite[0], finite[-1]
    best_thresh = None
    if colorize_best is not None and colorize_best > 0:
        best_thresh = finite[min(colorize_best, len(finite)) - 1]
    logger.info("finite loss range %s %s %s", lo, hi, best_thresh)

    labels = sorted(points)
    n_cols = max(1, min(columns, len(labels)))
    n_rows = math.ceil(len(labels) / n_cols)
    for plotnum, label in enumerate(labels):
        ax = plt.subplot(n_rows, n_cols, plotnum + 1)
        _draw_var(
            ax,
            label,
            points[label],
            loss_by_tid,
            arrange_by_loss,
            lambda y: _loss_color(y, lo, hi, best_thresh),
        )
        ax.set_title(label, fontsize=fontsize)
    if do_show:
        plt.show()
    return plt.gcf()


def _draw_var(
    ax: Axes,
    label: str,
    pts: Sequence[tuple[int, Any]],
    loss_by_tid: Mapping,
    arrange_by_loss: bool,
    color_fn: Callable[[float], tuple],
) -> None:
    """One subplot of :func:`main_plot_vars`."""
    scored = [(tid, v) for tid, v in pts if _finite(loss_by_tid.get(tid))]
    unscored = [(tid, v) for tid, v in pts if not _finite(loss_by_tid.get(tid))]
    if scored:
        xs = [float(loss_by_tid[tid]) if arrange_by_loss else tid for tid, _ in scored]
        ax.scatter(
            xs, [v for _, v in scored], c=[color_fn(float(loss_by_tid[tid])) for tid, _ in scored]
        )
    if unscored and not arrange_by_loss:
        ax.scatter([tid for tid, _ in unscored], [v for _, v in unscored], marker="x", color="r")
    values = [v for _, v in pts]
    if not values:
        ax.text(0.5, 0.5, "never active", ha="center", va="center", transform=ax.transAxes)
    elif _is_index(values):
        from matplotlib.ticker import MaxNLocator

        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    elif "log" in label and all(_finite(v) and v > 0 for v in values):
        ax.set_yscale("log")
    ax.tick_params(axis="x", labelbottom=False)
