"""``hqueue cancel``, ``hqueue requeue`` and ``hqueue enqueue``: change what workers do.

Every state change goes through the trial store's atomic scripts; tasks are sent to the
experiment's Celery queue as the driver sends them.

Example:
    >>> from click.testing import CliRunner
    >>> "--stale" in CliRunner().invoke(requeue, ["--help"]).output
    True
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

from ..exceptions import HqueueError
from ._common import exp_key_option, fmt, open_mirror, require_url, send_tasks, url_option

if TYPE_CHECKING:
    from ..backends.redis.overview import ExperimentMirror


def _driver_note(mirror: ExperimentMirror) -> str | None:
    if mirror.client.exists(mirror.keys.driver):
        return ("note: a driver (fmin) is running this experiment and keeps its queue filled; "
                "stop it (Ctrl-C) to stop the search")
    return None


@click.command()
@url_option
@exp_key_option
@click.option("--tid", type=int, default=None, help="Cancel only this trial.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before cancelling every trial.")
def cancel(url: str | None, exp_key: str | None, tid: int | None, yes: bool) -> None:
    """Cancel an experiment's queued and running trials, or one trial with --tid.

    Queued trials become "cancel" at once; running ones are told to stop (their objective
    sees ctrl.should_stop()) and end as "cancel". `hqueue requeue --cancelled` undoes it.

    \b
    Example:
      hqueue cancel --url redis://127.0.0.1:6379/0 --exp-key demo --tid 42
      hqueue cancel --url redis://127.0.0.1:6379/0 --exp-key demo --yes
    """
    url = require_url(url)
    mirror = open_mirror(url, exp_key)
    store = mirror.store
    if tid is not None:
        if tid not in mirror.docs:
            raise HqueueError(f"experiment {mirror.exp_key!r} has no trial {tid}")
        outcome = store.cancel(tid)
        click.echo({"cancelled": f"trial {tid} cancelled (it was queued)",
                    "stopping": f"trial {tid} is running: its worker was told to stop",
                    "finished": f"trial {tid} had already finished: nothing to cancel"}[outcome])
        return
    queued, running = store.queued_tids(), store.running_tids()
    if not queued and not running:
        click.echo(f"experiment {mirror.exp_key!r} has no queued or running trial")
        return
    if not yes:
        click.confirm(f"Cancel {len(queued)} queued and {len(running)} running trials of "
                      f"{mirror.exp_key!r}?", abort=True)
    outcomes = [store.cancel(t) for t in queued + running]
    click.echo(f"{outcomes.count('cancelled')} queued trials cancelled, "
               f"{outcomes.count('stopping')} running trials told to stop")
    note = _driver_note(mirror)
    if note:
        click.echo(note)


@click.command()
@url_option
@exp_key_option
@click.option("--tid", type=int, default=None, help="Requeue only this trial.")
@click.option("--cancelled", is_flag=True, help="Requeue cancelled trials (not errored ones).")
@click.option("--stale", is_flag=True,
              help="Instead: re-send tasks of queued trials waiting longer than --older-than, "
                   "and requeue running trials whose worker stopped renewing its lease.")
@click.option("--older-than", type=click.FloatRange(0), default=60.0, show_default=True,
              metavar="SECONDS", help="With --stale: how long a queued trial may wait.")
def requeue(url: str | None, exp_key: str | None, tid: int | None, cancelled: bool,
            stale: bool, older_than: float) -> None:
    """Run errored (or cancelled) trials again, or recover stale ones.

    A requeued trial is NEW again (its result, error and attempts cleared) and its task is
    sent to the experiment's queue; any worker on that queue runs it, with or without a
    driver. --stale does what a running driver does on its own: for a search whose driver
    is gone.

    \b
    Example:
      hqueue requeue --url redis://127.0.0.1:6379/0 --exp-key demo            # errored
      hqueue requeue --url redis://127.0.0.1:6379/0 --exp-key demo --tid 7
      hqueue requeue --url redis://127.0.0.1:6379/0 --exp-key demo --stale
    """
    from ..states import JOB_STATE_CANCEL, JOB_STATE_ERROR, JOB_STATE_RUNNING

    url = require_url(url)
    mirror = open_mirror(url, exp_key)
    store, queue = mirror.store, mirror.queue
    if stale:
        if tid is not None or cancelled:
            raise HqueueError("--stale recovers the whole experiment: leave out --tid and "
                              "--cancelled")
        store.adopt_orphans(t for t, d in mirror.docs.items() if d["state"] == JOB_STATE_RUNNING)
        requeued, _ = store.expire_leases(max_attempts=2**31 - 1)
        waiting = store.stale_queued(older_than)
        send_tasks(url, store, sorted(set(requeued) | set(waiting)), queue)
        click.echo(f"{len(requeued)} running trials whose lease expired requeued, "
                   f"{len(waiting)} queued trials re-sent (queue {queue!r})")
        return
    state = JOB_STATE_CANCEL if cancelled else JOB_STATE_ERROR
    word = "cancelled" if cancelled else "errored"
    if tid is not None:
        if tid not in mirror.docs:
            raise HqueueError(f"experiment {mirror.exp_key!r} has no trial {tid}")
        candidates = [tid]
    else:
        candidates = sorted(t for t, d in mirror.docs.items() if d["state"] == state)
    done = [t for t in candidates if store.requeue(t, states=(state,))]
    if tid is not None and not done:
        raise HqueueError(f"trial {tid} is not {word} (it is "
                          f"{_state_name(mirror.docs[tid]['state'])}): only {word} trials "
                          f"are requeued{'' if cancelled else ' (--cancelled for cancelled ones)'}")
    send_tasks(url, store, done, queue)
    click.echo(f"{len(done)} {word} trials requeued on queue {queue!r}"
               + (f": {' '.join(map(str, done))}" if 0 < len(done) <= 20 else ""))


def _state_name(state: int) -> str:
    from ..backends.redis.overview import STATE_NAMES

    return STATE_NAMES.get(state, str(state))


def parse_points(text: str) -> list[dict[str, Any]]:
    """Configurations from JSON: one ``{label: value}`` object or a list of them; values are
    numbers (a choice as the index of its option).

    Example:
        >>> parse_points('{"x": 0.5, "model": 1}')
        [{'x': 0.5, 'model': 1}]
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise HqueueError(f"the configuration is not valid JSON ({e}): give an object like "
                          "'{\"x\": 0.5, \"model\": 1}'") from None
    points = data if isinstance(data, list) else [data]
    if not points or not all(isinstance(p, Mapping) and p for p in points):
        raise HqueueError("give a JSON object {label: value, ...} or a list of them")
    for p in points:
        for label, value in p.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not math.isfinite(value):
                raise HqueueError(f"{label!r}: {json.dumps(value)} is not a number: values are "
                                  "numbers, a choice given as the index of its option")
    return [dict(p) for p in points]


def check_labels(points: Sequence[Mapping[str, Any]], labels: Sequence[str],
                 exp_key: str) -> None:
    """Refuse labels the experiment's trials never had (when it has trials)."""
    if not labels:
        return
    unknown = sorted({k for p in points for k in p} - set(labels))
    if unknown:
        raise HqueueError(f"unknown label(s) {', '.join(map(repr, unknown))} for experiment "
                          f"{exp_key!r}; its labels: {', '.join(labels)}")


@click.command()
@click.argument("config", metavar="JSON")
@url_option
@exp_key_option
def enqueue(config: str, url: str | None, exp_key: str | None) -> None:
    """Queue configurations to evaluate: a JSON object {label: value} or a list of them.

    Values are as the search space stores them: a number for uniform/log/quantized
    parameters, the index of the option for hp.choice; give exactly the labels that apply
    (conditional ones only under their choice). Each configuration is checked against the
    experiment's search space when its signed domain can be loaded here (same HQUEUE_SECRET
    as the driver, the objective's module importable), else its labels against the
    experiment's trials. Use - to read the JSON from stdin.

    \b
    Example:
      hqueue enqueue --url redis://127.0.0.1:6379/0 --exp-key demo '{"model": 1, "lr": 0.01,
        "layers": 3, "units": 128, "dropout": 0.2, "batch_size": 1}'
      cat points.json | hqueue enqueue --url redis://127.0.0.1:6379/0 --exp-key demo -
    """
    from ..backends.redis.segments import parse_segment, stamp
    from ..fmin import generate_trials_to_calculate
    from ._space import load_space, space_problems

    points = parse_points(sys.stdin.read() if config == "-" else config)
    url = require_url(url)
    mirror = open_mirror(url, exp_key)
    if not mirror.meta().get("domain"):
        raise HqueueError(f"experiment {mirror.exp_key!r} has no search space published yet "
                          "(its driver never started), so no worker could evaluate these: "
                          "start the search with fmin(..., trials=RedisTrials(...)) first")
    try:
        space = load_space(mirror.store)
    except Exception as exc:  # not verifiable or loadable here: fall back to the labels
        reason = " ".join(str(exc).split())[:200]
        click.echo(f"note: not checked against the search space ({reason}); labels checked "
                   "against the experiment's trials", err=True)
        labels = mirror.labels()
        check_labels(points, labels, mirror.exp_key)
    else:
        labels = list(space.labels)
        for i, point in enumerate(points):
            problems = space_problems(space, point)
            if problems:
                which = f"configuration {i + 1}" if len(points) > 1 else "the configuration"
                raise HqueueError(f"{which} does not fit the search space of "
                                  f"{mirror.exp_key!r}: {'; '.join(problems)}")
    store = mirror.store
    tids = store.new_tids(len(points))
    docs = generate_trials_to_calculate(points, tids=tids).trials
    stamp(docs, parse_segment(mirror.meta()))  # in the search's current segment
    for doc in docs:
        doc["exp_key"] = mirror.exp_key
        for label in labels:  # inactive labels: empty, as in the trials fmin creates
            doc["misc"]["idxs"].setdefault(label, [])
            doc["misc"]["vals"].setdefault(label, [])
    created = store.create(docs)
    send_tasks(url, store, created, mirror.queue)
    for tid, point in zip(tids, points):
        if tid in created:
            shown = " ".join(f"{k}={fmt(v)}" for k, v in point.items())
            click.echo(f"trial {tid} queued on {mirror.queue!r}: {shown}")
