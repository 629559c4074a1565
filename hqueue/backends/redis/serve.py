"""``hqueue serve``: a Redis server in the foreground for a one-box setup.

Example:
    >>> default_data_dir().parts[-2:]
    ('hqueue', 'redis')
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from .server import RedisServer, RedisServerError, is_loopback, redis_url


def default_data_dir() -> Path:
    """Where ``hqueue serve`` keeps data by default: ``$XDG_DATA_HOME/hqueue/redis``.

    Example:
        >>> default_data_dir().parts[-2:]
        ('hqueue', 'redis')
    """
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hqueue" / "redis"


def describe(server: RedisServer) -> Iterator[str]:
    """The lines ``hqueue serve`` prints: where data lives and the URL to give workers."""
    public = server.host if is_loopback(server.bind) else socket.gethostname()
    shown = redis_url(public, server.port, "PASSWORD" if server.password else None)
    yield f"redis-server {server.binary} (pid {server.pid}) on {server.bind}:{server.port}"
    yield f"data: {server.dir} (AOF, fsync every second, and RDB snapshots)"
    yield f"log: {server.log_path}"
    yield f"workers: hqueue worker --url {shown}"
    yield f"drivers: RedisTrials({shown!r})"
    if is_loopback(server.bind):
        yield (
            "only this machine can connect: for workers on other machines use "
            "--bind 0.0.0.0 --password ..."
        )
    yield "stop with Ctrl-C (data is kept)"


def serve(
    port: int = 6379,
    dir: str | Path | None = None,
    password: str | None = None,
    bind: str = "127.0.0.1",
    *,
    echo: Callable[[str], None] | None = None,
) -> None:
    """Run a persistent Redis in the foreground until Ctrl-C or SIGTERM (``hqueue serve``).

    ``echo`` receives the start-up and shut-down lines (default: stdout).

    Example (blocks until Ctrl-C; ``hqueue serve --port 6380 --dir /tmp/hq-data`` is the same)::

        serve(port=6380, dir="/tmp/hq-data")
    """
    say = echo or _print
    data_dir = Path(dir) if dir is not None else default_data_dir()
    stopping = threading.Event()
    restore = _on_sigterm(stopping.set)  # before starting: a SIGTERM during start-up is honoured
    try:
        with RedisServer(port, data_dir, password, bind=bind, stop_timeout=60) as server:
            for line in describe(server):
                say(line)
            _wait_for_stop(server, stopping)
    finally:
        restore()
    say(f"redis-server stopped; data kept in {server.dir}")


def _print(line: str) -> None:
    print(line, flush=True)


def _wait_for_stop(server: RedisServer, stopping: threading.Event) -> None:
    """Block until ``stopping`` is set or Ctrl-C; raise if the server dies on its own."""
    try:
        while not stopping.is_set():
            code = server.wait(0.5)
            if code is not None:
                raise RedisServerError(
                    f"redis-server exited unexpectedly with code {code} (log {server.log_path}): "
                    f"{server.log_tail()}"
                )
    except KeyboardInterrupt:
        pass


def _on_sigterm(callback: Callable[[], None]) -> Callable[[], None]:
    """Run ``callback`` on SIGTERM (main thread only); returns a function restoring the old one."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: callback())
    return lambda: signal.signal(signal.SIGTERM, previous)
