"""Per-trial captured output: what an objective writes to stdout/stderr, kept per trial.

On a worker, each trial's output goes to its own Redis key (:mod:`hqueue.backends.redis.output`)
instead of the worker's log, where ``print()`` used to land split across log lines. Only the
last :func:`output_cap` bytes are kept (64 KiB by default; ``HQUEUE_OUTPUT_BYTES`` in the
worker's environment sets it, 0 turns capture off). The key is rewritten every
:data:`SAVE_EVERY_S` while the trial runs (when something new was written) and once when it
ends, before its result is written; ``hqueue show TID --output`` and the dashboard read it.

What each pool captures (the mode is chosen when the worker starts, :func:`install`):

- **solo and prefork** (``"fd"``): one trial at a time per process, so file descriptors 1 and 2
  are pointed (``dup2``) at a temporary file for the trial: ``print()``, ``sys.stderr``,
  C libraries writing to the descriptors and the processes the objective starts are caught.
  The worker's own log lines go on to its log (its logging handlers are pointed at the
  original descriptors meanwhile).
- **threads** (``"thread"``): trials share the process, so capture is per thread:
  ``sys.stdout``/``sys.stderr`` writes from the objective's thread are caught; output from
  threads it starts, from subprocesses and from C code goes to the worker's log as before.
- In-process ``Trials`` (and a runner embedded without :func:`install`): nothing is captured.

Example:
    >>> import fakeredis
    >>> from hqueue.backends.redis.output import TrialOutputs
    >>> outputs = TrialOutputs(fakeredis.FakeRedis(), "demo")
    >>> capture = TrialCapture(outputs, 3, mode="thread", cap=8)
    >>> with capture:
    ...     capture.attach()
    ...     print("epoch 1 done")
    >>> outputs.read(3)
    b' 1 done\\n'
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
import os
import sys
import tempfile
import threading
from typing import Any

from celery import signals

logger = logging.getLogger(__name__)

OUTPUT_ENV = "HQUEUE_OUTPUT_BYTES"
DEFAULT_OUTPUT_BYTES = 64 * 1024
SAVE_EVERY_S = 2.0  # how often a running trial's output is written to Redis (when it grew)
SHRINK_FACTOR = 16  # the temporary file is cut back to its tail past this many times the cap
_MODE: dict[str, str | None] = {"mode": None}  # "fd", "thread" or None (no capture)
_ROUTES: dict[threading.Thread, TrialCapture] = {}  # thread mode: objective thread -> capture


def output_cap() -> int:
    """How many bytes of a trial's output are kept (``$HQUEUE_OUTPUT_BYTES``, default 64 KiB;
    0 turns capture off).

    Example:
        >>> output_cap() == int(os.environ.get(OUTPUT_ENV, DEFAULT_OUTPUT_BYTES))
        True
    """
    raw = os.environ.get(OUTPUT_ENV, "").strip()
    if not raw:
        return DEFAULT_OUTPUT_BYTES
    try:
        return max(0, int(raw))
    except ValueError:
        logger.warning("%s=%r is not a number of bytes; using %d", OUTPUT_ENV, raw,
                       DEFAULT_OUTPUT_BYTES)
        return DEFAULT_OUTPUT_BYTES


def install() -> None:
    """Choose the capture mode when a Celery worker starts (its pool decides; idempotent)."""
    signals.worker_init.connect(_on_worker_init, weak=False,
                                dispatch_uid="hqueue.worker.capture.init")


def set_mode(mode: str | None) -> None:
    """``"fd"``, ``"thread"`` or None (capture off); :func:`install` sets it in workers."""
    if mode not in ("fd", "thread", None):
        raise ValueError(f"capture mode is 'fd', 'thread' or None, not {mode!r}")
    _MODE["mode"] = mode


def mode_for_pool(pool: Any) -> str:
    """The capture mode of a Celery pool (its name or class).

    Example:
        >>> mode_for_pool("solo"), mode_for_pool("prefork"), mode_for_pool("threads")
        ('fd', 'fd', 'thread')
    """
    name = f"{getattr(pool, '__module__', '')}.{getattr(pool, '__name__', pool)}".lower()
    return "thread" if any(w in name for w in ("thread", "gevent", "eventlet")) else "fd"


def _on_worker_init(sender: Any = None, **_: Any) -> None:
    set_mode(mode_for_pool(getattr(sender, "pool_cls", "prefork")))


class TrialCapture:
    """Captures one trial's output (a context manager around the trial; the objective's
    thread calls :meth:`attach`). ``mode`` and ``cap`` default to the worker's settings."""

    def __init__(self, outputs: Any, tid: int, mode: str | None = None,
                 cap: int | None = None) -> None:
        self.outputs, self.tid = outputs, int(tid)
        self.cap = output_cap() if cap is None else int(cap)
        self.mode = (_MODE["mode"] if mode is None else mode) if self.cap > 0 else None
        self._sink: _Sink | None = None
        self._saved: object = None  # the sink's version when the output was last stored
        self._stop = threading.Event()
        self._saver: threading.Thread | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> TrialCapture:
        if self.mode is None:
            return self
        try:
            self._sink = _FdSink(self.cap) if self.mode == "fd" else _MemorySink(self.cap)
        except OSError as exc:  # no temporary file: run the trial uncaptured
            logger.warning("trial %s: output not captured (%s)", self.tid, exc)
            return self
        self._saved = self._sink.version()  # a trial that prints nothing stores no key
        self._saver = threading.Thread(target=self._save_loop, daemon=True,
                                       name=f"hqueue-output-{self.tid}")
        self._saver.start()
        return self

    def attach(self) -> None:
        """In the objective's thread: route this thread's output here (thread mode)."""
        if isinstance(self._sink, _MemorySink):
            _install_routers()
            _ROUTES[threading.current_thread()] = self

    def _save_loop(self) -> None:
        while not self._stop.wait(SAVE_EVERY_S):
            self.save()

    def save(self) -> None:
        """Store the output's tail in Redis if it grew since last time (errors are logged)."""
        with self._lock:
            sink = self._sink
            if sink is None or sink.version() == self._saved:
                return
            version, data = sink.version(), sink.tail()
            try:
                self.outputs.write(self.tid, data)
                self._saved = version
            except Exception as exc:  # Redis away for a moment: the next save tries again
                logger.warning("trial %s: could not store its output (%s)", self.tid, exc)

    def close(self) -> None:
        """Stop capturing and store the output (idempotent)."""
        self._stop.set()
        for thread, capture in list(_ROUTES.items()):
            if capture is self:
                _ROUTES.pop(thread, None)
        sink = self._sink
        if sink is None:
            return
        with self._lock:
            sink.stop()
        self.save()
        with self._lock:
            sink.close()
            self._sink = None

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Sink:
    """Where a trial's output goes; ``version()`` changes whenever something is written."""

    def version(self) -> object:
        raise NotImplementedError

    def tail(self) -> bytes:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop capturing (the tail stays readable)."""

    def close(self) -> None:
        """Free what the sink holds."""


class _MemorySink(_Sink):
    """Thread mode: the tail in memory."""

    def __init__(self, cap: int) -> None:
        self.cap, self.buf, self.written = cap, bytearray(), 0

    def version(self) -> object:
        return self.written

    def write(self, data: bytes) -> None:
        self.buf += data
        self.written += len(data)
        if len(self.buf) > 2 * self.cap:
            del self.buf[:-self.cap]

    def tail(self) -> bytes:
        return bytes(self.buf[-self.cap:])


class _FdSink(_Sink):
    """Fd mode: descriptors 1 and 2 on an unlinked temporary file for the trial."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        self.file = tempfile.TemporaryFile(prefix="hqueue-output-")
        self.fd = self.file.fileno()
        fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) | os.O_APPEND)
        self.saved = {1: os.dup(1), 2: os.dup(2)}
        self.log_streams = {fd: open(saved, "w", buffering=1, closefd=False,  # noqa: SIM115
                                     errors="backslashreplace")
                            for fd, saved in self.saved.items()}
        self.handlers = _point_log_handlers(self.log_streams)
        self.std = (sys.stdout, sys.stderr)
        os.dup2(self.fd, 1)
        os.dup2(self.fd, 2)
        sys.stdout, sys.stderr = _text(1), _text(2)
        self.active = True

    def version(self) -> object:
        st = os.fstat(self.fd)
        return st.st_size, st.st_mtime_ns

    def tail(self) -> bytes:
        size = os.fstat(self.fd).st_size
        data = os.pread(self.fd, self.cap, max(0, size - self.cap))
        if self.active and size > SHRINK_FACTOR * self.cap:
            os.ftruncate(self.fd, 0)  # O_APPEND: writers go on at the new end
            os.write(self.fd, data)
        return data

    def stop(self) -> None:
        if not self.active:
            return
        self.active = False
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        sys.stdout, sys.stderr = self.std
        for fd, saved in self.saved.items():
            os.dup2(saved, fd)
        for handler, stream in self.handlers:
            handler.setStream(stream)
        for stream in self.log_streams.values():
            stream.close()
        for saved in self.saved.values():
            os.close(saved)

    def close(self) -> None:
        self.stop()
        self.file.close()


def _text(fd: int) -> io.TextIOWrapper:
    """A text stream writing straight through to descriptor ``fd`` (left open on close)."""
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace",
                            write_through=True)


def _point_log_handlers(streams: dict[int, Any]) -> list[tuple[logging.StreamHandler, Any]]:
    """Point every logging stream handler writing to descriptor 1 or 2 at ``streams[fd]``;
    returns ``(handler, previous stream)`` pairs to put back."""
    loggers = [logging.getLogger()] + [lg for lg in logging.root.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    moved = []
    for handler in {h for lg in loggers for h in lg.handlers}:
        if not isinstance(handler, logging.StreamHandler) or \
                isinstance(handler, logging.FileHandler):
            continue
        try:
            fd = handler.stream.fileno()
        except Exception:  # a stream without a descriptor (StringIO...): not ours to move
            continue
        if fd in streams:
            moved.append((handler, handler.setStream(streams[fd])))
    return moved


class _Router(io.TextIOBase):
    """Thread mode: ``sys.stdout``/``sys.stderr`` writes of an attached objective thread go
    to its capture, every other thread's to the stream this replaced."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        capture = _ROUTES.get(threading.current_thread())
        sink = None if capture is None else capture._sink
        if isinstance(sink, _MemorySink):
            sink.write(str(text).encode("utf-8", "backslashreplace"))
            return len(text)
        return self.inner.write(text)

    def flush(self) -> None:
        with contextlib.suppress(Exception):
            self.inner.flush()

    def fileno(self) -> int:
        return self.inner.fileno()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


def _install_routers() -> None:
    if not isinstance(sys.stdout, _Router):
        sys.stdout = _Router(sys.stdout)
    if not isinstance(sys.stderr, _Router):
        sys.stderr = _Router(sys.stderr)
