"""The asynchronous fmin driver: keep ``max_queue_len`` trials queued or running on workers,
wait for results by blocking on Redis, recover lost trials, stop cleanly, resume.

One loop step: top the queue up with new suggestions (running trials count as pending for the
algorithm), block on the experiment's event stream until a trial finishes (at most
``wait_s``), pull the changed documents, recover expired leases and re-send tasks that may
have been lost, check the stop rules.

Example:
    >>> from hqueue import fmin, hp, tpe
    >>> from hqueue.backends.redis.trials import RedisTrials
    >>> trials = RedisTrials("redis://localhost:6379/0", exp_key="demo")  # doctest: +SKIP
    >>> fmin(lambda x: x ** 2, hp.uniform("x", -1, 1), algo=tpe.suggest, max_evals=50,
    ...      trials=trials, max_queue_len=4)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ... import progress
from ...domain import Domain
from ...exceptions import AllTrialsFailed, HqueueError
from ...fmin import StopRules, _max_evals, _rstate, generate_trials_to_calculate, space_eval
from ...security import dumps_domain, load_secret
from ...states import (
    JOB_STATE_CANCEL,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
)
from .connection import server_run_id
from .damaged import guarded, naming
from .store import _load_script

logger = logging.getLogger(__name__)

WAIT_S = 1.0  # longest block on the event stream between housekeeping passes


class DriverBusy(HqueueError):
    """Another driver is already running this experiment."""


def publish_domain(trials: Any, domain: Domain) -> str:
    """Upload the signed domain once (content-addressed) and the experiment's options."""
    digest, blob = dumps_domain(domain, trials.keys.exp_key, load_secret())
    client, keys, opts = trials.client, trials.keys, trials.options
    if client.get(keys.domain(digest)) != blob:  # new, or damaged since: store it anew
        client.set(keys.domain(digest), blob)
    client.hset(keys.meta, mapping={
        "domain": digest, "queue": opts["queue"], "lease_s": opts["lease_s"],
        "max_retries": opts["max_retries"],
        "trial_timeout": "" if opts["trial_timeout"] is None else opts["trial_timeout"],
        "max_attachment_bytes": opts["max_attachment_bytes"], "created": time.time(),
        "max_result_bytes": opts["max_result_bytes"],
    })
    client.sadd("hq:experiments", keys.exp_key)
    return digest


class DriverLock:
    """A lease on the experiment so two drivers never feed one experiment by mistake.

    Taken with ``SET NX PX``; renewed and released by one script that checks the holder
    first, so a driver never extends or deletes another driver's lease.
    """

    def __init__(self, trials: Any, ttl_s: float) -> None:
        self.client, self.key = trials.client, trials.keys.driver
        self.ttl_ms = int(ttl_s * 1000)
        self.token = f"{uuid.uuid4().hex[:12]}"
        self._script = guarded(self.client.register_script(_load_script("driver_lock")))

    def acquire(self) -> None:
        if not self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            with naming(self.key):
                holder = self.client.get(self.key)
            raise DriverBusy(f"experiment is already driven by another fmin (driver "
                             f"{holder!r}); stop it, wait {self.ttl_ms // 1000} s after it "
                             "died, or use another exp_key")

    def renew(self) -> None:
        """Keep the lease (or retake it if it lapsed); DriverBusy if another driver took it
        while this one was cut off from Redis."""
        if not int(self._script(keys=[self.key], args=[self.token, self.ttl_ms, "renew"])):
            raise DriverBusy("another fmin took over this experiment while this driver was "
                             "cut off from Redis; this one stops (its trials are kept)")

    def release(self) -> None:
        try:
            self._script(keys=[self.key], args=[self.token, self.ttl_ms, "release"])
        except Exception as exc:  # leaving anyway: the lease lapses after its ttl
            logger.warning("could not release the experiment's driver lease (%s)", exc)


def fmin_async(trials: Any, fn: Callable, space: Any, algo: Callable | None = None,
               max_evals: int | None = None, timeout: float | None = None,
               loss_threshold: float | None = None, rstate: Any = None,
               pass_expr_memo_ctrl: bool | None = None, catch_eval_exceptions: bool = False,
               verbose: bool = True, return_argmin: bool = True,
               points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
               max_queue_len: int = 1, show_progressbar: bool | Callable = True,
               early_stop_fn: Callable | None = None, trials_save_file: str = "",
               allow_trials_fmin: bool = False) -> Any:
    """fmin over workers; same arguments and return value as :func:`hqueue.fmin`."""
    if algo is None:
        from ...algos.tpe import suggest as algo
    domain = Domain(fn, space, pass_expr_memo_ctrl=pass_expr_memo_ctrl)
    loop = AsyncLoop(trials, domain, algo, _rstate(rstate), _max_evals(max_evals),
                     max_queue_len, timeout, loss_threshold, early_stop_fn)
    loop.start(points_to_evaluate)
    try:
        callback = _progress(show_progressbar if verbose else False)
        with callback(initial=loop.n_finished(),
                      total=loop.max_evals if loop.max_evals < sys.maxsize else None) as bar:
            loop.run(bar)
    except KeyboardInterrupt:
        loop.stop("interrupted")
        raise
    finally:
        loop.lock.release()
    trials.refresh()
    if return_argmin:
        if not trials.trials:
            raise AllTrialsFailed("There are no evaluation tasks, cannot return argmin of task "
                                  "losses")
        return trials.argmin
    return space_eval(domain.expr, trials.argmin) if trials.trials else None


def _progress(show: bool | Callable) -> Callable:
    if callable(show):
        return show
    return progress.default_callback if show else progress.no_progress_callback


class AsyncLoop:
    """State of one asynchronous search (see the module docstring)."""

    def __init__(self, trials: Any, domain: Domain, algo: Callable, rng: Any, max_evals: int,
                 max_queue_len: int, timeout: float | None, loss_threshold: float | None,
                 early_stop_fn: Callable | None) -> None:
        self.trials, self.domain, self.algo, self.rng = trials, domain, algo, rng
        self.max_evals, self.max_queue_len = max_evals, max_queue_len
        self.stop_rules = StopRules(timeout, loss_threshold, early_stop_fn)
        self.lease_s = trials.options["lease_s"]
        self.lock = DriverLock(trials, ttl_s=max(3 * WAIT_S, self.lease_s))
        self.last_housekeeping = 0.0
        self.run_id: str | None = None  # the Redis server's, to notice a restart

    def start(self, points: Sequence[Mapping[str, Any]] | None) -> None:
        """Take the experiment, publish the domain, recover what a previous run left."""
        self.lock.acquire()
        publish_domain(self.trials, self.domain)
        self.trials.refresh()
        if points and not self.trials.trials:
            tids = self.trials.new_trial_ids(len(points))
            docs = generate_trials_to_calculate(points, tids).trials
            for doc in docs:
                doc["exp_key"] = self.trials._exp_key
            self.trials.insert_trial_docs(docs)
            self.max_evals += len(points) if self.max_evals < sys.maxsize else 0
        self.housekeeping(force=True, resend_queued=True)
        self.last_event = self._latest_event_id()

    def n_finished(self) -> int:
        """Trials with a final result, errored ones included (they use up the budget too)."""
        return self.trials.count_in_states(JOB_STATE_DONE, JOB_STATE_ERROR)

    def n_pending(self) -> int:
        return self.trials.count_in_states(JOB_STATE_NEW, JOB_STATE_RUNNING)

    def run(self, bar: Any) -> None:
        done_before = self.n_finished()
        while True:
            self.top_up()
            if self.n_pending():
                self.wait_for_events()
            self.trials._refresh_incremental()
            self.housekeeping()
            done_before = self._report(bar, done_before)
            reason = self.stop_rules.check(self.trials)
            if reason:
                logger.info("fmin stopped early: %s", reason)
                self.stop(reason)
                break
            if self.n_pending() == 0 and self.budget_left() <= 0:
                break
        self._report(bar, done_before)  # trials that finished in the last pull (history())

    def _report(self, bar: Any, done_before: int) -> int:
        """Advance the progress bar to the trials finished so far; the new count."""
        done = self.n_finished()
        if done > done_before:
            bar.update(done - done_before)
            history = self.trials.history()
            if history.best_row() is not None:
                bar.postfix = f"best loss: {history.best_loss:.6g}"
        return done

    def budget_left(self) -> int:
        """Trials still to queue. Every trial counts toward max_evals, errored ones too (a
        failing objective must not loop forever), except those cancelled when a previous run
        stopped early."""
        used = len(self.trials._dynamic_trials) - self.trials.count_in_states(JOB_STATE_CANCEL)
        return self.max_evals - used

    def top_up(self) -> None:
        """Queue new suggestions until max_queue_len trials are pending or the budget is
        spent (trials already in the experiment count toward max_evals)."""
        trials = self.trials
        budget = self.budget_left()
        room = min(self.max_queue_len - self.n_pending(), budget)
        if room <= 0:
            return
        new_ids = trials.new_trial_ids(room)
        docs = self.algo(new_ids, self.domain, trials, int(self.rng.integers(2**31 - 1)))
        if isinstance(docs, str) or not docs:
            self.max_evals -= budget  # the algorithm has nothing more to try
            return
        trials.insert_trial_docs(docs)
        trials._refresh_incremental()

    def _latest_event_id(self) -> Any:
        with naming(self.trials.keys.events):
            last = self.trials.client.xrevrange(self.trials.keys.events, count=1)
        return last[0][0] if last else "0-0"

    def wait_for_events(self) -> None:
        """Block on the event stream until a trial finishes (or WAIT_S passes)."""
        with naming(self.trials.keys.events):
            reply = self.trials.client.xread({self.trials.keys.events: self.last_event},
                                             block=int(WAIT_S * 1000), count=1000)
        if reply:
            self.last_event = reply[0][1][-1][0]

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
        store = self.trials.store
        store.adopt_orphans([d["tid"] for d in self.trials.trials
                             if d["state"] == JOB_STATE_RUNNING], self.lease_s)
        requeued, errored = store.expire_leases(self.trials.options["max_retries"])
        if errored:
            logger.error("trials %s lost their workers too often and are marked ERROR", errored)
        stale = set(store.queued_tids() if resend_queued else
                    store.stale_queued(older_than_s=max(2 * self.lease_s, 30.0)))
        self.trials.send_tasks(sorted(set(requeued) | stale))
        if requeued or errored:
            self.trials._refresh_incremental()

    def watch_server(self) -> None:
        """Notice a Redis restart (its run id changed) or lost changes (the change counter
        went back) and bring Redis and the mirror back in step (:meth:`resync`)."""
        run_id = server_run_id(self.trials.client)
        restarted = self.run_id is not None and run_id != self.run_id
        self.run_id = run_id
        if restarted or self.trials.store.current_seq() < self.trials._seq:
            self.resync(restarted)

    def resync(self, restarted: bool) -> None:
        """After a Redis restart: fresh leases for running trials (their heartbeats could not
        cross the downtime). After lost writes (a crash between fsyncs): put back what Redis
        lost from the driver's copy (finished results, trials it no longer has), keep tids
        unique, re-send every queued trial's task, and reload the mirror from scratch."""
        trials, store = self.trials, self.trials.store
        pending = (JOB_STATE_NEW, JOB_STATE_RUNNING)
        if restarted:
            extended = store.extend_leases(self.lease_s)
            logger.warning("Redis restarted: %d running trial(s) got a fresh lease", extended)
        _, remote_docs = store.changes_since(0)
        remote = {d["tid"]: d for d in remote_docs}
        local = trials._mirror
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
        trials._reload()

    def stop(self, reason: str) -> None:
        """Cancel queued trials and ask running ones to stop (their ctrl.should_stop())."""
        store = self.trials.store
        for tid in store.queued_tids() + store.running_tids():
            store.cancel(tid)
        logger.info("search stopped (%s): queued trials cancelled, running ones told to stop",
                    reason)
        self.trials.refresh()
