"""Health check of a worker container: ``python -m hqueue.worker.health``.

Healthy when a Celery worker process for hqueue (``celery -A hqueue.worker worker``, which
``hqueue worker`` starts) is alive on this machine, and Redis at ``$HQUEUE_URL`` answers a
PING with the worker's credentials. Exit status 0 when healthy, 1 otherwise, with one line
saying what is wrong. The worker image's ``HEALTHCHECK`` runs it; a Kubernetes liveness probe
should pass ``--skip-redis`` (a Redis restart must not get every worker killed: workers
reconnect by themselves), a readiness probe may check both.

The process check reads ``/proc`` (Linux), so it sees the processes of this container only.

Example:
    >>> import tempfile, pathlib
    >>> proc = pathlib.Path(tempfile.mkdtemp())
    >>> (proc / "7").mkdir()
    >>> _ = (proc / "7" / "cmdline").write_bytes(
    ...     b"python\\0-m\\0celery\\0-A\\0hqueue.worker\\0worker\\0--concurrency=1\\0")
    >>> worker_pids(proc)
    [7]
    >>> check(None, proc_root=proc, skip_redis=True)
    []
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..exceptions import HqueueError
from . import URL_ENV

APP_MODULE = "hqueue.worker"
DEFAULT_TIMEOUT_S = 5.0


def is_worker_cmdline(argv: Sequence[str]) -> bool:
    """Whether a process's argument list is a Celery worker of the hqueue app.

    Example:
        >>> is_worker_cmdline(["/opt/hqueue/bin/celery", "--app=hqueue.worker", "worker"])
        True
        >>> is_worker_cmdline(["python", "-m", "hqueue.worker.health"])
        False
    """
    args = list(argv)
    has_app = any(a == APP_MODULE or a in (f"--app={APP_MODULE}", f"-A{APP_MODULE}")
                  for a in args)
    has_celery = any(os.path.basename(a) == "celery" for a in args)
    return has_app and has_celery and "worker" in args


def worker_pids(proc_root: str | Path = "/proc") -> list[int]:
    """Process ids of live (not zombie) hqueue Celery workers under ``proc_root``.

    Example:
        >>> worker_pids("/nonexistent")
        []
    """
    root = Path(proc_root)
    if not root.is_dir():
        return []
    found = []
    for entry in root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text() if (entry / "stat").exists() else ""
        except OSError:  # the process ended while we looked
            continue
        if stat and stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]:
            continue
        if is_worker_cmdline([a.decode(errors="replace") for a in raw.split(b"\0") if a]):
            found.append(int(entry.name))
    return sorted(found)


def redis_problem(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> str | None:
    """None when Redis at ``url`` answers PING with these credentials, else why not (one line,
    the password masked).

    Example:
        >>> print(redis_problem("redis://127.0.0.1:1/0", timeout_s=0.5))  # doctest: +ELLIPSIS
        cannot reach Redis at redis://127.0.0.1:1/0 ...
    """
    from .launch import check_redis

    try:
        check_redis(url, timeout_s=timeout_s)
    except HqueueError as exc:
        return str(exc)
    return None


def check(url: str | None, *, proc_root: str | Path = "/proc", skip_redis: bool = False,
          timeout_s: float = DEFAULT_TIMEOUT_S) -> list[str]:
    """Every problem found (an empty list means healthy).

    Example:
        >>> check(None, proc_root="/nonexistent", skip_redis=True)  # doctest: +ELLIPSIS
        ['no hqueue worker process is running ...']
    """
    problems = []
    if not worker_pids(proc_root):
        problems.append("no hqueue worker process is running (celery -A hqueue.worker worker)")
    if not skip_redis:
        if not url:
            problems.append(f"{URL_ENV} is not set: the health check needs the worker's URL")
        else:
            problem = redis_problem(url, timeout_s)
            if problem:
                problems.append(problem)
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry: prints ``healthy`` or ``unhealthy: <reasons>``; returns 0 or 1.

    Example:
        >>> main(["--skip-redis", "--proc", "/nonexistent"])  # doctest: +ELLIPSIS
        unhealthy: no hqueue worker process is running ...
        1
    """
    parser = argparse.ArgumentParser(prog="python -m hqueue.worker.health",
                                     description="Health check of an hqueue worker container.")
    parser.add_argument("--url", default=os.environ.get(URL_ENV),
                        help=f"Redis URL (default: ${URL_ENV})")
    parser.add_argument("--skip-redis", action="store_true",
                        help="only check that a worker process lives (liveness probes)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="seconds to wait for Redis")
    parser.add_argument("--proc", default="/proc", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    problems = check(args.url, proc_root=args.proc, skip_redis=args.skip_redis,
                     timeout_s=args.timeout)
    if problems:
        print("unhealthy: " + "; ".join(problems))
        return 1
    print("healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
