"""Simulated workers and a phase clock for ``driver_capacity``.

:class:`SimWorkers` are separate processes (not threads of the driver: a thread would share
the driver's GIL, and every socket call of the driver would then wait up to the interpreter's
switch interval for it to come back) that claim and finish each trial whose task they are
sent, through the store, as fast as Redis answers. :class:`PhaseClock` splits the driver's
wall time into phases (waiting on the event stream, suggesting, creating and sending, pulling
changes, housekeeping) by wrapping the methods that do them.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from benchmarks.dispatch import cpu_seconds


def _sim_loop(url: str, tasks: Any, ready: Any, name: str) -> None:
    """One simulated worker process: ``(exp_key, tid)`` messages until ``None``; says
    ``name`` on ``ready`` once its imports are done."""
    from hqueue.backends.redis.store import TrialStore
    from hqueue.states import JOB_STATE_DONE

    stores: dict[str, TrialStore] = {}
    ready.put(name)
    while True:
        msg = tasks.get()
        if msg is None:
            return
        exp_key, tid = msg
        store = stores.get(exp_key)
        if store is None:
            store = stores[exp_key] = TrialStore.from_url(url, exp_key)
        claim = store.claim(tid, owner=name, lease_s=60.0)
        if claim is None:
            continue
        x = claim.doc["misc"]["vals"]["x"][0]
        store.finish(tid, name, JOB_STATE_DONE, {"loss": float(x) ** 2, "status": "ok"})


class SimWorkers:
    """``procs`` worker processes fed through one pipe; :meth:`send` is a ``TaskSender``.

    Example (needs a Redis server):
        >>> sim = SimWorkers(url, procs=2)  # doctest: +SKIP
        >>> trials = RedisTrials(url, "exp", send_task=sim.send)  # doctest: +SKIP
    """

    def __init__(self, url: str, procs: int) -> None:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process holding clients
        self.tasks, ready = ctx.SimpleQueue(), ctx.SimpleQueue()
        self.procs = [ctx.Process(target=_sim_loop, args=(url, self.tasks, ready, f"sim{i}"),
                                  daemon=True) for i in range(procs)]
        for p in self.procs:
            p.start()
        for _ in self.procs:  # started and imported: the first timed run waits for none
            ready.get()

    def send(self, exp_key: str, tid: int, queue_name: str) -> None:
        self.tasks.put((exp_key, int(tid)))

    def cpu_seconds(self) -> float | None:
        """CPU seconds the worker processes used so far (Linux ``/proc``; else None)."""
        return cpu_seconds([p.pid for p in self.procs if p.pid is not None])

    def close(self) -> None:
        """Stop the processes (after the messages already sent)."""
        for _ in self.procs:
            self.tasks.put(None)
        for p in self.procs:
            p.join(30)
            if p.is_alive():
                p.kill()
        bad = [p.exitcode for p in self.procs if p.exitcode]
        if bad:
            raise RuntimeError(f"a simulated worker exited with {bad[0]}")


PHASES = ("wait", "suggest", "create+send", "pull", "housekeeping")


class PhaseClock:
    """Exclusive wall time per phase: a phase nested in another (the pull inside a suggest)
    is counted to itself only; what no phase covers is ``other``.

    Example:
        >>> clock = PhaseClock()
        >>> with clock.phase("wait"):
        ...     pass
        >>> sorted(clock.seconds)
        ['wait']
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stack: list[list[Any]] = []  # [name, start, time spent in nested phases]

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        frame = [name, time.perf_counter(), 0.0]
        self._stack.append(frame)
        try:
            yield
        finally:
            self._stack.pop()
            spent = time.perf_counter() - frame[1]
            self.seconds[name] = self.seconds.get(name, 0.0) + spent - frame[2]
            if self._stack:
                self._stack[-1][2] += spent

    def wrap(self, owner: type, method: str, name: str) -> Callable[[], None]:
        """Time every call of ``owner.method`` as phase ``name``; returns the undo."""
        original = owner.__dict__[method]

        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name):
                return original(*args, **kwargs)

        setattr(owner, method, timed)
        return lambda: setattr(owner, method, original)

    @contextmanager
    def installed(self) -> Iterator[PhaseClock]:
        """Wrap the driver's phases for the duration of the block."""
        from hqueue.backends.redis.driver import AsyncRunner
        from hqueue.search import Search
        from hqueue.trials import Trials

        undo = [self.wrap(AsyncRunner, "wait_for_events", "wait"),
                self.wrap(Search, "suggest", "suggest"),
                self.wrap(Trials, "insert_trial_docs", "create+send"),
                self.wrap(Trials, "sync", "pull"),
                self.wrap(AsyncRunner, "housekeeping", "housekeeping")]
        try:
            yield self
        finally:
            for u in reversed(undo):
                u()

    def shares(self, total: float, phases: Sequence[str] = PHASES) -> dict[str, float]:
        """Each phase's share of ``total`` seconds, and ``other`` for the rest."""
        out = {p: self.seconds.get(p, 0.0) / total for p in phases}
        out["other"] = max(0.0, 1.0 - sum(out.values()))
        return out
