"""``hqueue show TID`` and ``hqueue best``: one trial in full.

Example:
    >>> from click.testing import CliRunner
    >>> CliRunner().invoke(show, ["--help"]).exit_code
    0
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from ..exceptions import HqueueError
from ._common import exp_key_option, fmt, open_mirror, url_option
from .curve import curve_lines

if TYPE_CHECKING:
    from ..backends.redis.overview import ExperimentMirror


def attachment_sizes(mirror: ExperimentMirror, tid: int) -> dict[str, int]:
    """``{name: bytes}`` of a trial's attachments."""
    from ..backends.redis.attachments import RedisAttachments

    keys = mirror.keys
    att = RedisAttachments(mirror.client, lambda name: keys.trial_attachment(tid, name),
                           f"trial {tid}", max_bytes=0)
    return {name: att.size(name) for name in sorted(att)}  # chunked values: not STRLEN


def describe(mirror: ExperimentMirror, tid: int) -> list[str]:
    """The lines ``hqueue show`` prints for trial ``tid``."""
    from ..backends.redis.overview import flat_params, trial_row

    doc = mirror.docs[tid]
    row = trial_row(doc)
    lines = [f"trial {tid} of experiment {mirror.exp_key!r}: {row['state']}"]
    for label, key in [("worker", "worker"), ("attempts", "attempts"), ("booked", "book_time"),
                       ("last update", "refresh_time"), ("seconds", "duration_s")]:
        if row[key] is not None:
            lines.append(f"  {label:<12} {fmt(row[key])}")
    params = flat_params(doc)
    lines.append("params (choices as indices)")
    lines += [f"  {k:<12} {fmt(v)}" for k, v in sorted(params.items())] or ["  (none)"]
    result = dict(doc.get("result") or {})
    traceback = result.pop("traceback", None)
    result.pop("intermediate", None)  # drawn as the learning curve instead
    if row["state"] == "running" and row["step"] is not None:
        lines += latest_report_lines(row)
    lines.append("partial result" if row["state"] == "running" else "result")
    lines += [f"  {k:<12} {_value(v)}" for k, v in result.items()] or ["  (none)"]
    lines += curve_lines(*curve_of(mirror, tid))
    sizes = attachment_sizes(mirror, tid)
    if sizes:
        lines.append("attachments")
        lines += [f"  {name:<12} {size} bytes" for name, size in sizes.items()]
    if row["error"] or traceback:
        lines.append("error")
        if row["error"]:
            lines.append(f"  {row['error']}")
        if traceback:
            lines += ["  " + line for line in str(traceback).rstrip().splitlines()]
    return lines


def curve_of(mirror: ExperimentMirror, tid: int) -> tuple[Any, Any]:
    """``(steps, values)`` of trial ``tid``'s learning curve."""
    from ..backends.redis.curves import trial_curves

    return trial_curves(mirror, [tid])[tid]


def latest_report_lines(row: dict[str, Any]) -> list[str]:
    """A running trial's latest ``ctrl.report`` (value and step) as ``show`` prints it.

    Example:
        >>> latest_report_lines({"loss": 0.25, "step": 7})
        ['latest report', '  value        0.25', '  step         7']
    """
    return ["latest report", f"  {'value':<12} {fmt(row['loss'])}",
            f"  {'step':<12} {fmt(row['step'])}"]


def _value(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return fmt(value)


def captured_output(mirror: ExperimentMirror, tid: int) -> str | None:
    """Trial ``tid``'s captured stdout/stderr as text (its last bytes, see
    :mod:`hqueue.worker.capture`), or None when nothing was captured.

    Example:
        >>> import fakeredis
        >>> from hqueue.backends.redis.overview import ExperimentMirror
        >>> captured_output(ExperimentMirror(fakeredis.FakeRedis(), "e"), 0) is None
        True
    """
    from ..backends.redis.output import TrialOutputs

    data = TrialOutputs(mirror.client, mirror.exp_key).read(tid)
    return None if data is None else data.decode("utf-8", "replace")


@click.command()
@click.argument("tid", type=int)
@url_option
@exp_key_option
@click.option("--output", "output", is_flag=True,
              help="Print the trial's captured stdout/stderr (its last bytes) instead.")
def show(tid: int, url: str | None, exp_key: str | None, output: bool) -> None:
    """One trial: params, result (or a running trial's partial result), its learning curve
    (every ctrl.report, as a sparkline), attachments (names and sizes), and the error with
    its traceback. With --output: what its objective printed (stdout and stderr, the last
    64 KiB by default), while it runs too.

    \b
    Example:
      hqueue show 17 --url redis://127.0.0.1:6379/0 --exp-key demo
      hqueue show 17 --output --url redis://127.0.0.1:6379/0 --exp-key demo
    """
    mirror = open_mirror(url, exp_key)
    if tid not in mirror.docs:
        span = f"tids {min(mirror.docs)}-{max(mirror.docs)}" if mirror.docs else "no trials"
        raise HqueueError(f"experiment {mirror.exp_key!r} has no trial {tid} ({span})")
    if output:
        text = captured_output(mirror, tid)
        if text is None:
            click.echo(f"trial {tid} has no captured output: it printed nothing yet, or its "
                       "worker does not capture (HQUEUE_OUTPUT_BYTES=0)", err=True)
            return
        click.echo(text, nl=not text.endswith("\n"))
        return
    click.echo("\n".join(describe(mirror, tid)))


@click.command()
@url_option
@exp_key_option
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object: {"tid", "loss", "params"}.')
def best(url: str | None, exp_key: str | None, as_json: bool) -> None:
    """The best trial so far: its loss and parameters (choices as indices).

    \b
    Example:
      hqueue best --url redis://127.0.0.1:6379/0 --exp-key demo
      hqueue best --url redis://127.0.0.1:6379/0 --json | jq .params
    """
    from ..backends.redis.overview import summarize

    mirror = open_mirror(url, exp_key)
    s = summarize(mirror, workers=[])
    if s.best_tid is None:
        raise HqueueError(f"experiment {mirror.exp_key!r} has no trial with a loss yet "
                          f"({s.counts['done']} done, {s.counts['running']} running, "
                          f"{s.counts['error']} errors): see `hqueue trials`")
    if as_json:
        click.echo(json.dumps({"exp_key": mirror.exp_key, "tid": s.best_tid,
                               "loss": s.best_loss, "params": s.best_params}, default=str))
        return
    click.echo(f"best loss {fmt(s.best_loss)} (trial {s.best_tid} of {s.counts['done']} done "
               f"in {mirror.exp_key!r})")
    for label, value in sorted(s.best_params.items()):
        click.echo(f"  {label:<12} {fmt(value)}")
