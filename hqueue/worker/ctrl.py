""":class:`RedisCtrl`: the ``ctrl`` an objective gets when a worker runs its trial.

Same API as :class:`hqueue.Ctrl` (it is a subclass), backed by the trial store:

- ``checkpoint(r)`` publishes a partial result (the driver sees it while the trial runs);
- ``report(value, step=None, **extra)`` appends to ``result["intermediate"]`` and checkpoints,
  in one round trip with the pruner's rung record (``RedisRungs.report``, one Lua script);
- ``should_stop()`` turns True when the trial was cancelled, timed out, lost its lease, or the
  worker is shutting down;
- ``attachments`` is a dict-like view over the trial's own Redis keys (bytes or str values,
  capped at the experiment's ``max_attachment_bytes``);
- ``inject_results(...)`` adds already evaluated (DONE) trials; ``enqueue(points)`` adds NEW
  trials and sends their tasks.

Side effects are idempotent per trial: the n-th ``inject_results``/``enqueue`` call of a trial
takes its tids from :meth:`TrialStore.reserve_effect` under the key (trial, n), so a retry of
the trial (its worker was lost after the call) gets the same tids back and creates nothing
twice. Attachments are keyed by name, so writing one again replaces it.

``ctrl.trials`` is None on a worker: the experiment's Trials object lives in the driver.
``ctrl.current_trial`` is the claimed document; on a retried trial its ``result`` is the last
checkpoint of the previous attempt, so an objective can resume from it.

Example:
    >>> import fakeredis
    >>> from hqueue.backends.redis.store import TrialStore
    >>> from hqueue.fmin import generate_trial
    >>> store = TrialStore(fakeredis.FakeRedis(), "demo")
    >>> _ = store.create([generate_trial(0, {"x": 1.0})])
    >>> claim = store.claim(0, owner="w1", lease_s=30)
    >>> ctrl = RedisCtrl(store, claim.doc, owner="w1")
    >>> ctrl.report(0.5, step=1)
    >>> store.get(0)["result"]["intermediate"]
    [{'step': 1, 'value': 0.5}]
    >>> ctrl.attachments["log"] = "epoch 1"
    >>> ctrl.attachments["log"], list(ctrl.attachments)
    (b'epoch 1', ['log'])
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from ..backends.redis.attachments import AttachmentTooLarge, RedisAttachments  # noqa: F401
from ..backends.redis.rungs import RedisRungs
from ..ctrl import Ctrl
from ..exceptions import BadArgument, HqueueError
from ..pruners import PruningSession, default_pruner
from ..pruners.spec import loads_spec
from ..states import JOB_STATE_DONE
from ..tasks import TaskSender, dispatch
from ..trial_doc import new_trial_doc, utcnow
from ..trials import Trials
from .experiment import DEFAULT_MAX_ATTACHMENT_BYTES, DEFAULT_QUEUE

if TYPE_CHECKING:
    from ..backends.redis.store import TrialStore

logger = logging.getLogger("hqueue.ctrl")



class TrialOver(HqueueError):
    """The trial was finished, released or lost: its ctrl no longer writes to Redis."""


class RedisCtrl(Ctrl):
    """The ctrl of a trial a worker runs (see the module docstring)."""

    def __init__(self, store: TrialStore, current_trial: dict, owner: str, *,
                 max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
                 queue: str = DEFAULT_QUEUE, send_task: TaskSender | None = None,
                 pruner_spec: str = "") -> None:
        # Ctrl.__init__ insists on a trials object; a worker has none (see module docstring)
        self.trials = None
        self.current_trial = current_trial
        self._stop_requested = False
        self.store, self.owner, self.queue = store, owner, queue
        self.max_attachment_bytes = int(max_attachment_bytes)
        self.send_task = send_task
        self.lost = False  # a checkpoint found the lease gone
        self.closed = False  # set by the runner once the trial is over for this worker
        self._effects = 0  # side effects (inject_results, enqueue) made so far by this attempt
        self.pruner_spec = pruner_spec  # the experiment's pruner as JSON ("": default ASHA)

    @property
    def tid(self) -> int:
        return int(self.current_trial["tid"])

    def _pruning_session(self) -> PruningSession | None:
        """Pruning (issue 14): the experiment's pruner (its spec in the options; the default
        ASHA when none was chosen) on the experiment's rungs in Redis; each report is also kept
        in the trial's curve key in the same round trip. A spec naming no known pruner raises
        :class:`~hqueue.pruners.spec.UnknownPruner` (the trial fails saying so)."""
        if getattr(self, "pruning", None) is None:
            chosen = loads_spec(getattr(self, "pruner_spec", ""))
            self._rungs = RedisRungs(self.store.client, self.store.exp_key)
            self.pruning = PruningSession(chosen or default_pruner(), self._rungs, self.tid,
                                          is_default=chosen is None)
        return self.pruning

    def report(self, value: float, step: int | None = None, **extra: Any) -> None:
        """Append ``value`` to the curve, checkpoint the partial result and record the report
        at the pruner's rungs: one Redis round trip (one Lua script, atomic)."""
        step, result = self._reported(value, step, extra)
        session = self._pruning_session()
        names = session.plan(value, step)
        if self.closed:
            logger.debug("trial %s: report after the trial ended, ignored", self.tid)
            return
        stored, snapshots = self._rungs.report(self.tid, self.owner, result, step, value,
                                               names or [], session.pruner.quantile)
        if result is not None and stored:
            self.current_trial["result"] = result
            self.current_trial["refresh_time"] = utcnow()
        elif not stored:
            self._lost()
        if names is not None and stored:
            session.judge(snapshots)

    def _check_open(self) -> None:
        if self.closed:
            raise TrialOver(f"trial {self.tid} is over on this worker (finished, released or "
                            "lost): its ctrl no longer writes")

    def checkpoint(self, r: Mapping[str, Any] | None = None) -> None:
        """Publish ``r`` as the trial's partial result (the driver sees it while it runs)."""
        if r is None:
            return
        result = dict(r)
        if self.closed:
            logger.debug("trial %s: checkpoint after the trial ended, ignored", self.tid)
            return
        if self.store.checkpoint(self.tid, self.owner, result):
            self.current_trial["result"] = result
            self.current_trial["refresh_time"] = utcnow()
        else:
            self._lost()

    def _lost(self) -> None:
        """A write was refused: this worker no longer holds the trial; ask the objective to
        stop (logged once)."""
        if not self.lost:
            self.lost = True
            self.request_stop()
            logger.warning("trial %s: checkpoint refused, this worker lost the trial (lease "
                           "expired or trial cancelled); the objective should stop", self.tid)

    @property
    def attachments(self) -> MutableMapping:
        """The trial's attachments (bytes or str values, one Redis key each)."""
        keys, tid = self.store.keys, self.tid
        return RedisAttachments(self.store.client, lambda name: keys.trial_attachment(tid, name),
                                f"trial {tid}", self.max_attachment_bytes,
                                guard=self._check_open)

    def inject_results(self, specs: Sequence[Any], results: Sequence[dict],
                       miscs: Sequence[dict], new_tids: Sequence[int] | None = None) -> list[int]:
        """Insert already evaluated (DONE) trials; returns their tids (the same ones when a
        retry of this trial makes the same call again: nothing is inserted twice)."""
        self._check_open()
        if not len(specs) == len(results) == len(miscs):
            raise BadArgument("inject_results: specs, results and miscs differ in length")
        tids = self._reserve(len(specs)) if new_tids is None else list(new_tids)
        if len(tids) != len(specs):
            raise BadArgument("inject_results: new_tids and specs differ in length")
        source, exp_key = self.current_trial, self.current_trial.get("exp_key")
        docs, check = [], Trials(refresh=False)
        for tid, spec, result, misc in zip(tids, specs, results, miscs):
            misc = dict(misc)
            misc.setdefault("tid", tid)
            misc.setdefault("cmd", source["misc"].get("cmd"))
            misc.setdefault("workdir", source["misc"].get("workdir"))
            misc["from_tid"] = source["tid"]
            _same_segment(misc, source)
            doc = new_trial_doc(tid, spec, dict(result), misc, exp_key)
            doc["state"] = JOB_STATE_DONE
            docs.append(check.assert_valid_trial(doc))
        self.store.create(docs)
        return tids

    def enqueue(self, points: Sequence[Mapping[str, Any]]) -> list[int]:
        """Queue new ``{label: value}`` points (choices as indices) and send their tasks;
        returns their tids (a retry of this trial gets the same ones, queued once)."""
        from ..fmin import generate_trials_to_calculate

        self._check_open()
        if isinstance(points, Mapping):
            raise BadArgument("enqueue() takes a list of {label: value} dicts, not one dict")
        points = list(points)
        if not all(isinstance(p, Mapping) for p in points):
            raise BadArgument("enqueue() takes a list of {label: value} dicts")
        tids = self._reserve(len(points))
        docs = generate_trials_to_calculate(points, tids=tids).trials
        for doc in docs:
            doc["exp_key"] = self.current_trial.get("exp_key")
            doc["misc"]["from_tid"] = self.tid
            _same_segment(doc["misc"], self.current_trial)
        self._send(self.store.create(docs))
        return tids

    def _reserve(self, n: int) -> list[int]:
        """Tids for this attempt's next side effect, the same on every attempt."""
        seq, self._effects = self._effects, self._effects + 1
        return self.store.reserve_effect(self.tid, seq, n)

    def _send(self, tids: list[int]) -> None:
        if not tids:
            return
        if self.send_task is None:
            logger.info("trial %s enqueued trials %s; the driver sends their tasks", self.tid,
                        tids)
            return
        dispatch(self.store, tids, self.queue, self.send_task)


def _same_segment(misc: dict, source: Mapping[str, Any]) -> None:
    """A trial made by a trial's objective belongs to its segment (issue 13, item 4)."""
    segment = (source.get("misc") or {}).get("segment")
    if segment is not None:
        misc.setdefault("segment", segment)
