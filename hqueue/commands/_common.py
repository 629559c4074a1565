"""What the ``hqueue`` commands share: the ``--url`` and ``--exp-key`` options, connecting with
one-line errors, picking the experiment, and plain-text tables.

Example:
    >>> print(table(["TID", "LOSS"], [[1, 0.5], [12, None]]))
    TID  LOSS
      1   0.5
     12     -
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from ..exceptions import HqueueError

if TYPE_CHECKING:
    from redis import Redis

    from ..backends.redis.overview import ExperimentMirror
    from ..backends.redis.store import TrialStore

URL_HELP = "Redis URL (redis://, rediss:// or unix://; password in the URL)."
EXP_HELP = "Experiment key (RedisTrials(exp_key=...)); may be left out when there is only one."


def url_option(f: Callable) -> Callable:
    """``--url`` (or ``$HQUEUE_URL``)."""
    return click.option("--url", envvar="HQUEUE_URL", show_envvar=True, default=None,
                        metavar="URL", help=URL_HELP)(f)


def exp_key_option(f: Callable) -> Callable:
    """``--exp-key`` (or ``$HQUEUE_EXP_KEY``)."""
    return click.option("--exp-key", "-e", envvar="HQUEUE_EXP_KEY", show_envvar=True,
                        default=None, metavar="KEY", help=EXP_HELP)(f)


def require_url(url: str | None) -> str:
    """``url``, or an error saying how to give one."""
    if not url:
        raise HqueueError("no Redis URL: pass --url redis://HOST:6379/0 or set HQUEUE_URL "
                          "(start a local Redis with `hqueue serve` or `hqueue demo --keep`)")
    return url


def connect(url: str | None) -> Redis:
    """A redis-py client for ``url``, after a PING that turns a wrong address or password into
    one line saying what to fix (:class:`~hqueue.exceptions.HqueueError`)."""
    from ..backends.redis.connection import check_redis, client_from_url

    url = require_url(url)
    check_redis(url)
    return client_from_url(url, socket_connect_timeout=10, socket_timeout=30)


def pick_experiment(client: Redis, exp_key: str | None) -> str:
    """``exp_key`` if it exists; without one, the only experiment there is (else an error
    listing them)."""
    from ..backends.redis.overview import UnknownExperiment, list_experiments, require_experiment

    if exp_key is not None:
        return require_experiment(client, exp_key)
    known = list_experiments(client)
    if len(known) == 1:
        return known[0]
    if not known:
        raise UnknownExperiment("this Redis has no experiment yet: run a search with "
                                "RedisTrials(url, exp_key=...) first (or `hqueue demo`)")
    raise UnknownExperiment(f"this Redis has {len(known)} experiments ({', '.join(known)}): "
                            "pick one with --exp-key")


def open_mirror(url: str | None, exp_key: str | None) -> ExperimentMirror:
    """Connect, pick the experiment and return its refreshed
    :class:`~hqueue.backends.redis.overview.ExperimentMirror`."""
    from ..backends.redis.overview import ExperimentMirror

    client = connect(url)
    mirror = ExperimentMirror(client, pick_experiment(client, exp_key))
    mirror.refresh()
    return mirror


def send_tasks(url: str, store: TrialStore, tids: Sequence[int], queue: str) -> None:
    """Send the Celery task of each trial in ``tids`` of ``store``'s experiment to ``queue``
    (:func:`hqueue.tasks.dispatch`, as the driver does)."""
    from ..tasks import celery_sender, dispatch

    if tids:
        dispatch(store, tids, queue, celery_sender(url))


def fmt(value: Any) -> str:
    """A cell: ``-`` for None, 4 significant digits for floats.

    Example:
        >>> fmt(None), fmt(0.123456), fmt(3), fmt("adam")
        ('-', '0.1235', '3', 'adam')
    """
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    return str(value)


def fmt_age(seconds: float) -> str:
    """A duration, short.

    Example:
        >>> fmt_age(4.2), fmt_age(125), fmt_age(7300)
        ('4s', '2m05s', '2h01m')
    """
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as aligned columns (numbers right-aligned, text left-aligned)."""
    cells = [[fmt(v) for v in row] for row in rows]
    right = [bool(rows) and all(_numeric(r[i]) or r[i] is None for r in rows)
             for i in range(len(headers))]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if r else v.ljust(w)
                         for v, w, r in zip(values, widths, right)).rstrip()

    return "\n".join([line(list(headers))] + [line(c) for c in cells])
