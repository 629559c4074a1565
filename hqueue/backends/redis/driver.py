"""The asynchronous fmin driver: keep ``max_queue_len`` trials queued or running on workers,
wait for results by blocking on Redis, recover lost trials, stop cleanly, resume.

One loop step: top the queue up with new suggestions (running trials count as pending for the
algorithm), block on the experiment's event stream until a trial finishes (at most
``wait_s``), pull the changed documents, recover expired leases and re-send tasks that may
have been lost, check the stop rules.

``fmin`` (:mod:`hqueue.fmin`) does the setup and teardown; this module is only the runner
(:class:`AsyncRunner`, built by :meth:`RedisBackend.runner`).

Example:
    >>> from hqueue import fmin, hp, tpe
    >>> from hqueue.backends.redis.trials import RedisTrials
    >>> trials = RedisTrials("redis://localhost:6379/0", exp_key="demo")  # doctest: +SKIP
    >>> fmin(lambda x: x ** 2, hp.uniform("x", -1, 1), algo=tpe.suggest, max_evals=50,
    ...      trials=trials, max_queue_len=4)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ...exceptions import SearchInterrupted
from ...failures import FailureLog
from ...search import ProgressBar, Search, StopReason, show_best
from ...states import (
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
)
from .connection import mask_url, server_run_id
from .records import DriverBusy, DriverLock  # noqa: F401  (their old home: tests import them here)

if TYPE_CHECKING:
    from ...domain import Domain
    from .backend import RedisBackend
    from .trials import RedisTrials

logger = logging.getLogger(__name__)

WAIT_S = 1.0  # longest block on the event stream between housekeeping passes
ALL_STATES = (JOB_STATE_NEW, JOB_STATE_RUNNING, JOB_STATE_DONE, JOB_STATE_ERROR)


def publish_domain(trials: RedisTrials, domain: Domain) -> str:
    """Upload the signed domain once (content-addressed) and the experiment's options; the
    digest (:meth:`RedisBackend.publish`)."""
    return trials.backend.publish(domain)


class AsyncRunner:
    """The asynchronous runner of one search over Redis (see the module docstring)."""

    def __init__(self, search: Search, backend: RedisBackend) -> None:
        self.search, self.backend = search, backend
        self.trials: RedisTrials = search.trials  # type: ignore[assignment]
        self.store, self.records = backend.store, backend.records
        self.lease_s = backend.options.lease_s
        self.lock = self.records.lock(ttl_s=max(3 * WAIT_S, self.lease_s))
        self.last_housekeeping = 0.0
        self.run_id: str | None = None  # the Redis server's, to notice a restart
        self.last_event: Any = "0-0"
        url = f" --url {mask_url(self.trials.url)}" if self.trials.url else ""
        self.failures = FailureLog(
            show_hint=f"hqueue show {{tid}} --exp-key {self.trials.exp_key}{url}",
            objective_module=getattr(search.domain.fn, "__module__", None))
        self.n_errors_seen = 0

    def start(self) -> None:
        """Take the experiment, publish the domain, recover what a previous run left; all
        before any new task is sent."""
        self.lock.acquire()
        try:
            publish_domain(self.trials, self.search.domain)
            self.trials.refresh()
            self.housekeeping(force=True, resend_queued=True)
            self.last_event = self.records.latest_event()
        except BaseException:  # e.g. SpaceChanged: leave the experiment free for the next one
            self.lock.release()
            raise

    def n_finished(self) -> int:
        """Trials with a final result, errored ones included (they use up the budget too)."""
        return self.trials.count_in_states(JOB_STATE_DONE, JOB_STATE_ERROR)

    n_done = n_finished

    def n_pending(self) -> int:
        return self.trials.count_in_states(JOB_STATE_NEW, JOB_STATE_RUNNING)

    def run(self, bar: ProgressBar) -> None:
        done_before = self.n_finished()
        while True:
            self.top_up()
            if self.n_pending():
                self.wait_for_events()
            self.trials.sync()
            self.housekeeping()
            self.note_failures()
            done_before = self._report(bar, done_before)
            reason = self.search.stop_rules.check(self.trials)
            if reason:
                logger.info("fmin stopped early: %s", reason.value)
                self.stop(reason)
                break
            if self.n_pending() == 0 and self.budget_left() <= 0:
                break
        self._report(bar, done_before)  # trials that finished in the last pull (history())
        self.note_failures()
        summary = self.failures.summary(self.trials.count_in_states(*ALL_STATES))
        if summary:
            logger.warning("%s", summary)
        self.failures.raise_if_all_failed(self.trials.count_in_states(JOB_STATE_DONE))

    def note_failures(self) -> None:
        """Tell the user about trials that failed on workers since the last look (the
        documents are scanned only when the ERROR count grew)."""
        n_errors = self.trials.count_in_states(JOB_STATE_ERROR)
        if n_errors > self.n_errors_seen:
            self.n_errors_seen = n_errors
            self.failures.note(self.trials.mirror.docs.values())

    def interrupt(self) -> None:
        """Ctrl-C: cancel what is queued, ask what runs to stop, and end with one line
        (:class:`SearchInterrupted`) instead of a traceback from inside the Redis client."""
        queued, running = len(self.store.queued_tids()), len(self.store.running_tids())
        self.stop(StopReason.INTERRUPTED)
        done = self.trials.count_in_states(JOB_STATE_DONE)
        raise SearchInterrupted(
            f"search interrupted: {queued} queued trial(s) cancelled, {running} running one(s) "
            f"told to stop, {done} finished trial(s) kept; run the same fmin again "
            f"(exp_key {self.trials.exp_key!r}) to resume") from None

    def close(self) -> None:
        """Give the experiment's driver lease up."""
        self.lock.release()

    def _report(self, bar: ProgressBar, done_before: int) -> int:
        """Advance the progress bar to the trials finished so far; the new count."""
        done = self.n_finished()
        if done > done_before:
            bar.update(done - done_before)
            show_best(bar, self.trials.history(sync=False))  # run() has just synced
        return done

    def budget_left(self) -> int:
        """Trials still to queue. Every trial counts toward max_evals, errored ones too (a
        failing objective must not loop forever), except those cancelled when a previous run
        stopped early."""
        return self.search.max_evals - self.trials.count_in_states(*ALL_STATES)

    def top_up(self) -> None:
        """Queue new suggestions until max_queue_len trials are pending or the budget is
        spent (trials already in the experiment count toward max_evals): the whole deficit
        in one call of the algorithm, one write and one send. It works on what the last pull
        read (``RedisBackend.pull_locally``): a trial that finished since is read by the next
        pull, so the count of pending trials can only be too high, never too low
        (``max_queue_len`` holds)."""
        budget = self.budget_left()
        room = min(self.search.max_queue_len - self.n_pending(), budget)
        if room <= 0:
            return
        with self.backend.pull_locally():  # run() pulled just before: no read of Redis here
            docs = self.search.suggest(room)
            if docs is None:
                self.search.max_evals -= budget  # the algorithm has nothing more to try
                return
            self.trials.insert_trial_docs(docs)
            self.trials.sync()

    def wait_for_events(self) -> None:
        """Block on the event stream until a trial finishes (or WAIT_S passes)."""
        self.last_event = self.records.wait_for_event(self.last_event, WAIT_S)

    def housekeeping(self, force: bool = False, resend_queued: bool = False) -> None:
        """Recover expired leases and re-send tasks that may have been lost (all queued
        trials when ``resend_queued``: on start, a previous driver may have died between
        creating trials and sending their tasks; duplicate deliveries are dropped)."""
        now = time.monotonic()
        if not force and now - self.last_housekeeping < min(self.lease_s / 3, 5.0):
            return
        self.last_housekeeping = now
        self.lock.renew()
        self.watch_server()
        store = self.store
        store.adopt_orphans([d["tid"] for d in self.trials.trials
                             if d["state"] == JOB_STATE_RUNNING], self.lease_s)
        requeued, errored = store.expire_leases(self.backend.options.max_retries)
        if errored:
            logger.error("trials %s lost their workers too often and are marked ERROR", errored)
        stale = set(store.queued_tids() if resend_queued else
                    store.stale_queued(older_than_s=max(2 * self.lease_s, 30.0)))
        self.trials.send_tasks(sorted(set(requeued) | stale))
        if requeued or errored:
            self.trials.sync()

    def watch_server(self) -> None:
        """Notice a Redis restart (its run id changed) or lost changes (the change counter
        went back) and bring Redis and the mirror back in step (:meth:`resync`)."""
        run_id = server_run_id(self.store.client)
        restarted = self.run_id is not None and run_id != self.run_id
        self.run_id = run_id
        if restarted or self.store.current_seq() < self.trials.mirror.seq:
            self.resync(restarted)

    def resync(self, restarted: bool) -> None:
        """After a Redis restart: fresh leases for running trials (their heartbeats could not
        cross the downtime). After lost writes (a crash between fsyncs): put back what Redis
        lost from the driver's copy (finished results, trials it no longer has), keep tids
        unique, re-send every queued trial's task, and reload the mirror from scratch."""
        trials, store = self.trials, self.store
        pending = (JOB_STATE_NEW, JOB_STATE_RUNNING)
        if restarted:
            extended = store.extend_leases(self.lease_s)
            logger.warning("Redis restarted: %d running trial(s) got a fresh lease", extended)
        _, remote_docs = store.changes_since(0)
        remote = {d["tid"]: d for d in remote_docs}
        local = trials.mirror.docs
        if local:
            store.raise_tid_counter(max(local) + 1)
        restored, recreated = [], []
        for tid, doc in local.items():
            there = remote.get(tid)
            if doc["state"] not in pending:
                if there is None:
                    store.create([doc])
                    restored.append(tid)
                elif there["state"] in pending and store.restore_final(doc):
                    restored.append(tid)
            elif there is None:
                fresh = dict(doc, state=JOB_STATE_NEW, owner=None, result={"status": "new"})
                store.create([fresh])
                recreated.append(tid)
        if restored or recreated:
            logger.warning("Redis lost recent writes: restored %d finished trial(s) and "
                           "re-created %d pending one(s) from the driver's copy",
                           len(restored), len(recreated))
        trials.send_tasks(store.queued_tids())
        trials.reload()

    def stop(self, reason: StopReason) -> None:
        """Cancel queued trials and ask running ones to stop (their ctrl.should_stop())."""
        for tid in self.store.queued_tids() + self.store.running_tids():
            self.backend.cancel(tid)
        logger.info("search stopped (%s): queued trials cancelled, running ones told to stop",
                    reason.value)
        self.trials.refresh()


AsyncLoop = AsyncRunner  # the name benchmarks/dispatch.py times
