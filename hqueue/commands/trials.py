"""``hqueue trials``: the trials of one experiment with their parameters and losses.

Example:
    >>> from click.testing import CliRunner
    >>> "--sort" in CliRunner().invoke(trials, ["--help"]).output
    True
"""

from __future__ import annotations

import math

import click

from ._common import exp_key_option, open_mirror, table, url_option

STATES = ["new", "running", "done", "error", "cancel"]


def sort_rows(rows: list[dict], by: str, reverse: bool = False) -> list[dict]:
    """Rows by ``tid`` or by ``loss`` (best first, trials without a loss last).

    Example:
        >>> [r["tid"] for r in sort_rows([{"tid": 0, "loss": 2.0}, {"tid": 1, "loss": None},
        ...                               {"tid": 2, "loss": 0.5}], "loss")]
        [2, 0, 1]
    """
    if by == "loss":
        def key(r: dict) -> tuple:
            loss = r["loss"]
            missing = loss is None or math.isnan(loss)
            return (missing, 0.0 if missing else loss, r["tid"])

        ordered = sorted(rows, key=key)
    else:
        ordered = sorted(rows, key=lambda r: r["tid"])
    return ordered[::-1] if reverse else ordered


@click.command()
@url_option
@exp_key_option
@click.option("--state", "-s", type=click.Choice(STATES), default=None,
              help="Only trials in this state.")
@click.option("--sort", "sort_by", type=click.Choice(["tid", "loss"]), default="tid",
              show_default=True, help="Order: by tid, or by loss (best first).")
@click.option("--reverse", is_flag=True, help="Reverse the order (latest or worst first).")
@click.option("--limit", "-n", type=click.IntRange(1), default=None,
              help="Show at most this many trials.")
@click.option("--segment", type=click.IntRange(0), default=None,
              help="Only trials of this segment (a search started over a changed space with "
                   "on_space_change='new_segment').")
def trials(url: str | None, exp_key: str | None, state: str | None, sort_by: str,
           reverse: bool, limit: int | None, segment: int | None) -> None:
    """Trials of an experiment: state, loss, duration, worker and every parameter.

    Parameters are shown as stored: a choice as the index of the option; "-" where a
    conditional parameter is inactive. A running trial shows its latest ctrl.report (LOSS
    and STEP), or its checkpoint's loss when it reported nothing yet.

    \b
    Example:
      hqueue trials --url redis://127.0.0.1:6379/0 --exp-key demo --sort loss --limit 10
      hqueue trials --url redis://127.0.0.1:6379/0 --state error
    """
    from ..backends.redis.overview import FIXED_COLUMNS, trial_rows
    from ..backends.redis.segments import parse_segment, segment_counts, segment_of

    mirror = open_mirror(url, exp_key)
    rows = sort_rows(trial_rows(mirror, state=state), sort_by, reverse)
    if segment is not None:
        rows = [r for r in rows if segment_of(mirror.docs[r["tid"]]) == segment]
    total = len(rows)
    if limit is not None:
        rows = rows[:limit]
    counts = segment_counts(list(mirror.docs.values()))
    if not rows:
        where = f" in segment {segment}" if segment is not None else ""
        click.echo(f"experiment {mirror.exp_key!r} has no "
                   f"{state + ' ' if state else ''}trials{where}")
        return
    labels = [k for k in rows[0] if k not in FIXED_COLUMNS]
    headers = ["TID", "STATE", "LOSS", "STEP", "SECONDS", "WORKER"] + labels
    cells = [[r["tid"], r["state"], r["loss"], r["step"], r["duration_s"], r["worker"]]
             + [r[k] for k in labels] for r in rows]
    click.echo(table(headers, cells))
    if len(rows) < total:
        click.echo(f"({len(rows)} of {total} trials; --limit to see more)")
    if len(counts) > 1:
        current = parse_segment(mirror.meta())
        listed = ", ".join(f"{n}: {c} trials{' (current)' if n == current else ''}"
                           for n, c in counts.items())
        click.echo(f"segments (searches over different spaces): {listed}; --segment N shows "
                   "one")
