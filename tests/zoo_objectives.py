"""The objective zoo: what real training code does inside an objective, one behaviour per tid.

Worker processes import this module (objectives are pickled by reference; ``e2e_helpers.
worker_env`` puts tests/ on their path). :class:`ZooObjective` logs each evaluation start
like ``e2e_helpers.LoggedObjective`` and writes the pids of the processes it leaves behind to
``<log>.pids`` so a test can check they were killed.

Behaviours (``ZooObjective(log, {tid: name})``; a tid without one just returns):

``fork_pool``     ``multiprocessing.get_context("fork").Pool(2).map`` (a DataLoader, joblib)
``fork_terminate`` a fork ``Process`` that ignores nothing, ``terminate()``d and joined
``subprocess``    ``subprocess.Popen`` of a sleeper, left running
``orphan``        a subprocess that starts a sleeper and exits: the sleeper is orphaned (it
                  is re-parented to the worker, a child subreaper, and killed with the rest)
``os_fork``       ``os.fork()``: the child sleeps, left running
``fork_returns``  ``os.fork()``: the child returns from the objective (into the runner)
``thread``        a non-daemon thread left running (it ends after 30 s)
``self_ref``      returns a dict that contains itself
``deep``          returns a dict nested 600 levels deep
``huge``          returns 2 MiB of bytes (over the search's ``max_result_bytes``)
``bad_str``       raises an exception whose ``__str__`` raises
``recursion``     raises the recursion limit to 100,000 and recurses 5,000 deep
``inject_kill``   ``ctrl.inject_results`` + ``ctrl.enqueue``, then SIGKILLs its process on
                  its first attempt
``exit_once``     ``os._exit(3)`` on its first attempt (in solo/threads: the whole worker)
``sigkill_once``  SIGKILL of its own process on its first attempt
``segfault_once`` a segmentation fault (``ctypes.string_at(0)``) on its first attempt
``gpu_pair``      returns its ``CUDA_VISIBLE_DEVICES``, after waiting (at most 120 s) until
                  trials from two processes have started, so two workers each run one
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from e2e_helpers import LoggedObjective, append_line, read_log

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
ZOO = ("fork_pool", "fork_terminate", "subprocess", "orphan", "os_fork", "fork_returns",
       "thread", "self_ref", "deep", "huge", "bad_str", "recursion")
ORPHAN_MAKER = [sys.executable, "-c", "import subprocess; print(subprocess.Popen("
                f"{SLEEPER!r}, stdin=-3, stdout=-3, stderr=-3).pid)"]  # -3: DEVNULL


def _square(x: float) -> float:
    return x * x


def _wait_forever() -> None:
    time.sleep(600)


class ExplodingStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ exploded")


def _depth(n: int) -> int:
    return 0 if n == 0 else 1 + _depth(n - 1)


class ZooObjective:
    """An ``(expr, memo, ctrl)`` objective behaving per tid (see the module docstring)."""

    fmin_pass_expr_memo_ctrl = True

    def __init__(self, log_path: Any, behaviours: Mapping[int, str]) -> None:
        self.log_path = str(log_path)
        self.behaviours = dict(behaviours)

    def leftover(self, pid: int) -> None:
        append_line(self.log_path + ".pids", {"pid": pid})

    def __call__(self, expr: Any, memo: Any, ctrl: Any) -> dict:
        trial = ctrl.current_trial
        tid, me = int(trial["tid"]), os.getpid()
        attempt = int(trial["misc"].get("attempts", 0))
        append_line(self.log_path, {"tid": tid, "pid": me, "event": "start", "attempt": attempt,
                                    "recursion_limit": sys.getrecursionlimit()})
        result = {"loss": float(tid), "status": "ok", "pid": me,
                  "recursion_limit": sys.getrecursionlimit()}
        what = self.behaviours.get(tid)
        extra = getattr(self, f"_{what}")(ctrl, result) if what else None
        if os.getpid() != me:  # a forked child got here: the runner must not use its result
            return {"loss": -1.0, "status": "ok", "from_child": True}
        return result if extra is None else extra

    def _fork_pool(self, ctrl: Any, result: dict) -> None:
        with multiprocessing.get_context("fork").Pool(2) as pool:
            result["squares"] = pool.map(_square, range(8))

    def _fork_terminate(self, ctrl: Any, result: dict) -> None:
        proc = multiprocessing.get_context("fork").Process(target=_wait_forever)
        proc.start()
        proc.terminate()
        proc.join(30)
        result["terminated"] = proc.exitcode

    def _subprocess(self, ctrl: Any, result: dict) -> None:
        self.leftover(subprocess.Popen(SLEEPER).pid)

    def _orphan(self, ctrl: Any, result: dict) -> None:
        out = subprocess.run(ORPHAN_MAKER, capture_output=True, text=True, check=True).stdout
        self.leftover(int(out.strip()))  # its parent has exited: an orphan

    def _os_fork(self, ctrl: Any, result: dict) -> None:
        pid = os.fork()
        if pid == 0:
            time.sleep(600)
            os._exit(0)
        self.leftover(pid)

    def _fork_returns(self, ctrl: Any, result: dict) -> None:
        if os.fork() == 0:
            return  # the child returns from the objective: __call__ sees another pid

    def _thread(self, ctrl: Any, result: dict) -> None:
        threading.Thread(target=time.sleep, args=(30,), daemon=False).start()

    def _self_ref(self, ctrl: Any, result: dict) -> dict:
        result["me"] = result
        return result

    def _deep(self, ctrl: Any, result: dict) -> dict:
        inner = result
        for _ in range(600):
            inner["next"] = {}
            inner = inner["next"]
        return result

    def _huge(self, ctrl: Any, result: dict) -> dict:
        return dict(result, blob=b"x" * (65 * 2**20))  # over the default max_result_bytes

    def _bad_str(self, ctrl: Any, result: dict) -> None:
        raise ExplodingStr()

    def _recursion(self, ctrl: Any, result: dict) -> None:
        sys.setrecursionlimit(100_000)
        result["depth"] = _depth(5_000)

    def _inject_kill(self, ctrl: Any, result: dict) -> None:
        ctrl.inject_results([None], [{"loss": 0.5, "status": "ok"}],
                            [{"idxs": {}, "vals": {}, "injected_by": ctrl.tid}])
        ctrl.enqueue([{"x": 0.25}])
        if int(ctrl.current_trial["misc"].get("attempts", 0)) == 1:
            os.kill(os.getpid(), signal.SIGKILL)


    def _exit_once(self, ctrl: Any, result: dict) -> None:
        if _first_attempt(ctrl):
            os._exit(3)

    def _sigkill_once(self, ctrl: Any, result: dict) -> None:
        if _first_attempt(ctrl):
            os.kill(os.getpid(), signal.SIGKILL)

    def _segfault_once(self, ctrl: Any, result: dict) -> None:
        if _first_attempt(ctrl):
            import ctypes

            ctypes.string_at(0)

    def _gpu_pair(self, ctrl: Any, result: dict) -> None:
        result["cuda"] = os.environ.get("CUDA_VISIBLE_DEVICES")
        deadline = time.monotonic() + 120
        while len({r["pid"] for r in read_log(self.log_path)}) < 2 and \
                time.monotonic() < deadline:
            time.sleep(0.1)


def _first_attempt(ctrl: Any) -> bool:
    return int(ctrl.current_trial["misc"].get("attempts", 0)) == 1


#: zoo behaviours whose trial ends ERROR (the rest end DONE)
ERRORS = ("self_ref", "deep", "huge", "bad_str")


class MixedObjective(LoggedObjective):
    """A :class:`e2e_helpers.LoggedObjective` that also runs zoo behaviours (``zoo`` maps a
    tid to one) after logging, for the fault campaign's mixed search (``--zoo``)."""

    def __init__(self, log_path: Any, zoo: Mapping[int, str], **options: Any) -> None:
        super().__init__(log_path, **options)
        self.zoo = dict(zoo)

    def leftover(self, pid: int) -> None:
        append_line(self.log_path + ".pids", {"pid": pid})

    def __call__(self, expr: Any, memo: Any, ctrl: Any) -> dict:
        result = super().__call__(expr, memo, ctrl)
        what, me = self.zoo.get(int(ctrl.current_trial["tid"])), os.getpid()
        extra = getattr(ZooObjective, f"_{what}")(self, ctrl, result) if what else None
        if os.getpid() != me:
            return {"loss": -1.0, "status": "ok", "from_child": True}
        return result if extra is None else extra
