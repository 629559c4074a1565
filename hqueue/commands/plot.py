"""``hqueue plot``: a PNG with the loss history (and best so far) and loss against each
parameter.

Example:
    >>> history_series([{"tid": 0, "loss": 2.0}, {"tid": 1, "loss": 3.0},
    ...                 {"tid": 2, "loss": 1.0}])
    ([0, 1, 2], [2.0, 3.0, 1.0], [2.0, 2.0, 1.0])
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from ..exceptions import HqueueError
from ._common import exp_key_option, open_mirror, url_option


def history_series(rows: list[dict]) -> tuple[list[int], list[float], list[float]]:
    """``(tids, losses, best_so_far)`` of the trials with a loss, in tid order."""
    tids, losses, best = [], [], []
    for row in sorted(rows, key=lambda r: r["tid"]):
        loss = row["loss"]
        if loss is None or math.isnan(loss):
            continue
        tids.append(row["tid"])
        losses.append(loss)
        best.append(loss if not best else min(best[-1], loss))
    return tids, losses, best


def render(rows: list[dict], labels: list[str], title: str, path: Path) -> None:
    """Draw the figure into ``path`` (PNG) with matplotlib's Agg canvas (no display needed)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise HqueueError("hqueue plot needs matplotlib: pip install 'hqueue[plot]'") from None
    tids, losses, best = history_series(rows)
    ncols = 3
    nrows = 1 + math.ceil(len(labels) / ncols)
    fig = Figure(figsize=(12, 3.6 * nrows), layout="constrained")
    grid = fig.add_gridspec(nrows, ncols)
    ax = fig.add_subplot(grid[0, :])
    ax.scatter(tids, losses, s=14, alpha=0.6, label="loss")
    ax.step(tids, best, where="post", color="C3", label="best so far")
    ax.set(title=f"{title}: {len(losses)} trials with a loss", xlabel="trial id (tid)",
           ylabel="loss")
    ax.legend(loc="best")
    by_tid = {r["tid"]: r for r in rows}
    for i, label in enumerate(labels):
        sub = fig.add_subplot(grid[1 + i // ncols, i % ncols])
        points = [(by_tid[t][label], loss) for t, loss in zip(tids, losses)
                  if _plottable(by_tid[t].get(label))]
        if points:
            xs, ys = zip(*points)
            sub.scatter(xs, ys, s=12, alpha=0.6)
            if all(float(x).is_integer() for x in xs) and len(set(xs)) <= 12:
                sub.set_xticks(sorted(set(xs)))  # choice indices and small integer ranges
            elif min(xs) > 0 and max(xs) / min(xs) > 100:
                sub.set_xscale("log")
        sub.set(title=f"{label} ({len(points)} trials)", xlabel=label, ylabel="loss")
    fig.savefig(path, dpi=90, format="png")


def _plottable(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


@click.command()
@url_option
@exp_key_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PNG file to write [default: EXP_KEY.png].")
def plot(url: str | None, exp_key: str | None, output: Path | None) -> None:
    """Plot an experiment into a PNG: the loss of each trial with the best so far, and the
    loss against each parameter (choices as indices). Needs matplotlib (hqueue[plot]).

    \b
    Example:
      hqueue plot --url redis://127.0.0.1:6379/0 --exp-key demo --output demo.png
    """
    from ..backends.redis.overview import FIXED_COLUMNS, trial_rows

    mirror = open_mirror(url, exp_key)
    rows = trial_rows(mirror, state="done")
    if not rows:
        raise HqueueError(f"experiment {mirror.exp_key!r} has no finished trial to plot yet")
    path = output or Path(f"{mirror.exp_key}.png")
    labels = [key for key in rows[0] if key not in FIXED_COLUMNS]
    render(rows, labels, mirror.exp_key, path)
    _, losses, best = history_series(rows)
    click.echo(f"{path}: {len(losses)} trials, best loss {best[-1]:.4g}" if best else
               f"{path}: no trial has a loss yet")
