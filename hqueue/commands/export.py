"""``hqueue export``: every trial as CSV or JSON Lines, one column per parameter.

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> write_rows([{"tid": 0, "loss": 0.5, "x": None}], out, "csv")
    >>> out.getvalue().splitlines()
    ['tid,loss,x', '0,0.5,']
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from ..backends.redis.overview import ExperimentMirror

import click

from ._common import exp_key_option, open_mirror, url_option
from .trials import STATES


def write_rows(rows: list[dict], out: IO[str], fmt: str) -> None:
    """``rows`` (same keys each) as CSV (header, empty cells for None) or JSON Lines."""
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, default=str) + "\n")
        return
    if not rows:
        return
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def add_curves(mirror: ExperimentMirror, rows: list[dict], as_text: bool) -> None:
    """Give each row a ``curve`` entry, ``[[step, value], ...]`` (JSON text when ``as_text``).

    Example:
        >>> import fakeredis
        >>> from hqueue.backends.redis.overview import ExperimentMirror
        >>> from hqueue.backends.redis.rungs import RedisRungs
        >>> client = fakeredis.FakeRedis()
        >>> _ = RedisRungs(client, "e").record(0, step=1, value=0.5, rungs=[])
        >>> rows = [{"tid": 0}]; add_curves(ExperimentMirror(client, "e"), rows, True); rows
        [{'tid': 0, 'curve': '[[1, 0.5]]'}]
    """
    from ..backends.redis.curves import curve_points, trial_curves

    curves = trial_curves(mirror, [row["tid"] for row in rows])
    for row in rows:
        cell = curve_points(*curves[row["tid"]])
        row["curve"] = json.dumps(cell) if as_text else cell


def _format_for(output: Path | None, fmt: str | None) -> str:
    if fmt:
        return fmt
    if output is not None and output.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "csv"


@click.command()
@url_option
@exp_key_option
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default=None,
              help="Output format [default: from the --output suffix, else csv].")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write [default: stdout].")
@click.option("--state", "-s", type=click.Choice(STATES), default=None,
              help="Only trials in this state.")
@click.option("--curves", is_flag=True,
              help="Add each trial's learning curve: a 'curve' column, [[step, value], ...] "
                   "(JSON text in CSV).")
def export(url: str | None, exp_key: str | None, fmt: str | None, output: Path | None,
           state: str | None, curves: bool) -> None:
    """Export trials: tid, state, loss, status, duration, worker, attempts, times, error, and
    one column per parameter (choices as indices; empty where a parameter is inactive); with
    --curves, the learning curve too.

    \b
    Example:
      hqueue export --url redis://127.0.0.1:6379/0 --exp-key demo -o demo.csv
      hqueue export --url redis://127.0.0.1:6379/0 --format jsonl --state done > done.jsonl
    """
    from ..backends.redis.overview import trial_rows

    mirror = open_mirror(url, exp_key)
    rows = trial_rows(mirror, state=state)
    kind = _format_for(output, fmt)
    if curves:
        add_curves(mirror, rows, as_text=kind == "csv")
    if output is None:
        write_rows(rows, sys.stdout, kind)
        return
    with open(output, "w", newline="") as fh:
        write_rows(rows, fh, kind)
    click.echo(f"{len(rows)} trials of {mirror.exp_key!r} written to {output} ({kind})",
               err=True)
