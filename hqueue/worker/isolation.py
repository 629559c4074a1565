"""What one trial may change in its worker process, put back when it ends.

An objective runs in a thread of a long-lived worker process, so what it does to the process
outlives it unless someone undoes it. :func:`trial_scope` wraps each trial:

- per-process state: the recursion limit, the working directory and ``os.environ`` are
  captured when the process starts running trials and restored when it runs none again;
- child processes: every process the objective started and left behind (``subprocess.Popen``,
  ``os.fork``, a ``multiprocessing`` pool it did not close) is killed and reaped when the
  trial ends. In a Celery worker (:func:`subreaper_allowed`), the process running trials is
  made a child subreaper (Linux), so grandchildren orphaned by a dead child are re-parented to
  it and found too (not in a process that merely embeds the runner: the setting is
  process-wide and would leave orphans as its zombies);
- forked children: a process forked while a trial runs gets the default handlers of the
  termination signals (not Celery's, which would run a worker shutdown in the child), so
  ``Pool.terminate()`` and SIGTERM end it; if it returns into the runner it exits there
  (:func:`in_forked_child`) instead of writing to Redis as if it were the worker. The
  forking thread blocks those signals across the fork, so one sent to the child before its
  handlers are reset waits for them instead of reaching Celery's (and being lost).

With the ``threads`` pool several trials share the process: state is restored and leftover
children are killed when the last of them ends.

Example:
    >>> import sys
    >>> limit = sys.getrecursionlimit()
    >>> with trial_scope():
    ...     sys.setrecursionlimit(limit + 1000)
    >>> sys.getrecursionlimit() == limit
    True
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

#: signals whose handlers a child forked during a trial gets back at their defaults
RESET_SIGNALS = tuple(getattr(signal, name) for name in
                      ("SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2")
                      if hasattr(signal, name))
KILL_WAIT_S = 5.0  # how long leftover children get to die after SIGKILL
_PR_SET_CHILD_SUBREAPER = 36


@dataclass
class _Saved:
    recursion_limit: int
    cwd: str | None
    environ: dict[str, str]
    children: set[int] = field(default_factory=set)


_LOCK = threading.Lock()
_STATE: dict[str, object] = {"active": 0, "saved": None, "subreaper": False,
                             "subreaper_allowed": False, "forked_in_trial": False}


def trial_scope() -> contextlib.AbstractContextManager[None]:
    """Context manager around one trial (see the module docstring)."""
    return _scope()


@contextlib.contextmanager
def _scope() -> Iterator[None]:
    _enter()
    try:
        yield
    finally:
        _exit()


def subreaper_allowed() -> None:
    """Let this process become a child subreaper when it runs its first trial (a Celery
    worker process calls this; see the module docstring)."""
    _STATE["subreaper_allowed"] = True


def in_forked_child() -> bool:
    """True in a process forked by an objective (not the worker that runs the trial)."""
    return bool(_STATE["forked_in_trial"])


def _enter() -> None:
    with _LOCK:
        if _STATE["active"] == 0:
            _STATE["saved"] = _capture()
            _become_subreaper()
        _STATE["active"] = int(_STATE["active"]) + 1


def _exit() -> None:
    with _LOCK:
        _STATE["active"] = int(_STATE["active"]) - 1
        if _STATE["active"] > 0:
            return
        saved = _STATE["saved"]
        _STATE["saved"] = None
    if isinstance(saved, _Saved):
        _restore(saved)
        kill_leftover_children(keep=saved.children)


def _capture() -> _Saved:
    try:
        cwd: str | None = os.getcwd()
    except OSError:
        cwd = None
    return _Saved(sys.getrecursionlimit(), cwd, dict(os.environ), set(_descendants()))


def _restore(saved: _Saved) -> None:
    if sys.getrecursionlimit() != saved.recursion_limit:
        logger.info("the trial changed the recursion limit to %d; restored to %d",
                    sys.getrecursionlimit(), saved.recursion_limit)
        sys.setrecursionlimit(saved.recursion_limit)
    if saved.cwd is not None:
        with contextlib.suppress(OSError):
            if os.getcwd() != saved.cwd:
                os.chdir(saved.cwd)
    if dict(os.environ) != saved.environ:
        for name in set(os.environ) - set(saved.environ):
            del os.environ[name]
        os.environ.update(saved.environ)


def _become_subreaper() -> None:
    if _STATE["subreaper"] or not _STATE["subreaper_allowed"] \
            or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0:
            _STATE["subreaper"] = True
    except (OSError, AttributeError):  # not Linux after all, or no prctl: direct children only
        logger.debug("could not become a child subreaper", exc_info=True)


def _descendants() -> list[int]:
    pids = descendant_pids(os.getpid())
    if pids is not None:
        return pids
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency of the worker
        return []
    try:
        return [p.pid for p in psutil.Process().children(recursive=True)]
    except psutil.Error:
        return []


def descendant_pids(pid: int) -> list[int] | None:
    """Every descendant of ``pid``, read from its threads' ``/proc/PID/task/TID/children``
    files and theirs (cost proportional to the descendants; psutil reads every process on the
    machine, several ms per trial on a busy box); None where the kernel has no such files.

    Example:
        >>> import subprocess
        >>> child = subprocess.Popen(["sleep", "30"])
        >>> found = descendant_pids(os.getpid())
        >>> found is None or child.pid in found
        True
        >>> child.kill(); child.wait()
        -9
    """
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:  # gone meanwhile, or no /proc
            if parent == pid:
                return None
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{parent}/task/{tid}/children", "rb") as f:
                    kids = [int(x) for x in f.read().split()]
            except FileNotFoundError:
                if parent == pid and not os.path.exists(f"/proc/{parent}/task/{tid}"):
                    continue  # the thread ended meanwhile
                if parent == pid:
                    return None  # a kernel without CONFIG_PROC_CHILDREN
                continue
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def kill_leftover_children(keep: set[int] | frozenset[int] = frozenset()) -> list[int]:
    """SIGKILL every descendant of this process not in ``keep`` and reap those that are its
    own children; returns their pids.

    Example:
        >>> import subprocess, sys
        >>> p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        >>> p.pid in kill_leftover_children()
        True
    """
    me = os.getpid()
    fast = descendant_pids(me)
    if fast is not None and not set(fast) - set(keep):
        return []  # the usual case, known without psutil's scan of every process
    import psutil

    try:
        procs = [p for p in psutil.Process(me).children(recursive=True) if p.pid not in keep]
    except psutil.Error:
        return []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    deadline = time.monotonic() + KILL_WAIT_S
    for proc in procs:
        _reap(proc, me, deadline)
    if procs:
        logger.warning("killed %d process(es) the trial left running: %s", len(procs),
                       [p.pid for p in procs])
    return [p.pid for p in procs]


def _reap(proc: object, me: int, deadline: float) -> None:
    import psutil

    assert isinstance(proc, psutil.Process)
    while time.monotonic() < deadline:
        try:
            if proc.ppid() == me:
                pid, _ = os.waitpid(proc.pid, os.WNOHANG)
                if pid:
                    return
            elif not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE:
                return  # its own parent (or init) reaps it
        except (ChildProcessError, psutil.Error):
            return  # already reaped (by subprocess or multiprocessing)
        time.sleep(0.01)


_FORKING = threading.local()  # the signal mask of a thread that is forking


def _before_fork() -> None:
    """Block the termination signals in the forking thread while a trial runs."""
    if _STATE["active"] and hasattr(signal, "pthread_sigmask"):
        _FORKING.mask = signal.pthread_sigmask(signal.SIG_BLOCK, RESET_SIGNALS)


def _after_fork_in_parent() -> None:
    mask = getattr(_FORKING, "mask", None)
    if mask is not None:
        _FORKING.mask = None
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _after_fork_in_child() -> None:
    """In a child forked while a trial runs: default signal handlers, no trial of its own;
    then the signals sent meanwhile are delivered (with their default action)."""
    if _STATE["active"]:
        for signum in RESET_SIGNALS:
            with contextlib.suppress(OSError, ValueError):
                signal.signal(signum, signal.SIG_DFL)
        _STATE["active"], _STATE["saved"], _STATE["forked_in_trial"] = 0, None, True
    _after_fork_in_parent()  # restore the mask the forking thread had


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)
