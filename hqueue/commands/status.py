"""``hqueue status``: every experiment at a glance, and the workers.

Example:
    >>> from click.testing import CliRunner
    >>> "--watch" in CliRunner().invoke(status, ["--help"]).output
    True
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from ._common import connect, exp_key_option, fmt_age, table, url_option

if TYPE_CHECKING:
    from redis import Redis

EXPERIMENT_HEADERS = ["EXPERIMENT", "NEW", "RUNNING", "DONE", "ERROR", "CANCEL", "BEST LOSS",
                      "BEST TID", "TRIALS/MIN", "QUEUED", "WORKERS", "DRIVER"]
WORKER_HEADERS = ["WORKER", "HOST", "PID", "TRIAL PID", "QUEUES", "GPUS", "SEEN", "STATE",
                  "RUNNING"]


class StatusView:
    """The summaries of the experiments shown, kept between redraws: with ``--watch`` each
    redraw reads and recounts only the trials that changed."""

    def __init__(self, client: Redis, exp_key: str | None = None) -> None:
        self.client, self.exp_key = client, exp_key
        self.trackers: dict[str, Any] = {}  # exp_key -> SummaryTracker

    def render(self, now: float | None = None) -> str:
        """The experiments table and the workers table, as text."""
        from ..backends.redis.overview import (
            ExperimentMirror,
            SummaryTracker,
            list_experiments,
            require_experiment,
        )
        from ..backends.redis.presence import WorkerRegistry

        now = time.time() if now is None else now
        keys = [require_experiment(self.client, self.exp_key)] if self.exp_key else \
            list_experiments(self.client)
        workers = WorkerRegistry(self.client).list(now=now)
        rows, damaged = [], []
        for key in keys:
            tracker = self.trackers.get(key)
            if tracker is None or tracker.mirror.went_back():  # new, or purged and made again
                tracker = self.trackers[key] = SummaryTracker(ExperimentMirror(self.client, key))
                tracker.mirror.went_back()  # notes a damaged counter
            tracker.mirror.refresh()
            tracker.update(tracker.mirror.changed)
            s = tracker.summary(workers, now=now)
            c = s.counts
            rows.append([s.exp_key, c["new"], c["running"], c["done"], c["error"], c["cancel"],
                         s.best_loss, s.best_tid, round(s.trials_per_min, 1), s.queue_depth,
                         s.live_workers, "alive" if s.driver_alive else "-"])
            if s.damaged:
                damaged.append(f"{s.exp_key}: damaged Redis key(s) {', '.join(s.damaged)} "
                               "(its row shows what could be read; delete them to repair)")
        parts = [table(EXPERIMENT_HEADERS, rows) if rows else
                 "no experiments yet: run a search with RedisTrials(url, exp_key=...)"]
        if keys and self.exp_key is None and len(keys) > 1:
            parts[0] += f"\n({len(keys)} experiments)"
        parts.extend(damaged)
        parts.append("")
        parts.append(worker_table(workers, now) if workers else
                     "no workers: start some with `hqueue worker --url URL`")
        return "\n".join(parts)


def worker_table(workers: list, now: float) -> str:
    """The workers table: id, host, the pid the user started (``hqueue worker``) and the pid
    of the process running trials, queues, GPUs, last announcement, alive/dead, trials (none
    for a dead worker: it runs nothing any more).

    Example:
        >>> from hqueue.backends.redis.presence import WorkerPresence
        >>> w = WorkerPresence("box:41:ab", "box", 41, ("hqueue",), started=0.0, seen=100.0,
        ...                    trials=(("e", 3),), launcher=40)
        >>> print(worker_table([w], now=101.0).splitlines()[1])
        box:41:ab  box    40         41  hqueue  -     1s ago  alive  e:3
        >>> worker_table([w], now=200.0).splitlines()[1].split()[-2:]
        ['dead', '-']
    """
    rows = []
    for w in workers:
        alive = w.alive(now)
        running = " ".join(f"{e}:{t}" for e, t in w.live_trials(now)) or "idle"
        rows.append([w.worker_id, w.host, w.user_pid, w.pid, ",".join(w.queues),
                     w.gpus or "-", fmt_age(w.age_s(now)) + " ago",
                     "alive" if alive else "dead", running if alive else "-"])
    return table(WORKER_HEADERS, rows)


def _pause(seconds: float) -> None:
    time.sleep(seconds)


@click.command()
@url_option
@exp_key_option
@click.option("--watch", "-w", is_flag=True, help="Redraw every --interval seconds until Ctrl-C.")
@click.option("--interval", "-n", type=click.FloatRange(0.2), default=2.0, show_default=True,
              help="Seconds between redraws with --watch.")
def status(url: str | None, exp_key: str | None, watch: bool, interval: float) -> None:
    """Experiments (trials per state, best loss, trials/min, queue, workers) and workers.

    PID is the process you started (`hqueue worker`); TRIAL PID the one running trials (a
    pool process). A worker is "alive" while it announces itself (every 2 s); "dead" after
    10 s of silence, or at once when `status` runs on its host and its process is gone. Dead
    workers are listed for 5 minutes, then forgotten.

    \b
    Example:
      hqueue status --url redis://127.0.0.1:6379/0
      hqueue status --url redis://127.0.0.1:6379/0 --exp-key demo --watch
    """
    view = StatusView(connect(url), exp_key)
    if not watch:
        click.echo(view.render())
        return
    try:
        while True:
            text = view.render()
            click.clear()
            click.echo(f"{time.strftime('%H:%M:%S')}  every {interval:g} s, Ctrl-C to stop\n")
            click.echo(text)
            _pause(interval)
    except KeyboardInterrupt:
        pass
