"""In-memory :class:`Trials`: the database of one search, with hyperopt's document schema.

A trial document is a dict::

    {"tid": 3, "spec": None, "result": {"loss": 0.2, "status": "ok"},
     "misc": {"tid": 3, "cmd": ("domain_attachment", "FMinIter_Domain"), "workdir": None,
              "idxs": {"x": [3]}, "vals": {"x": [0.41]}},
     "state": JOB_STATE_DONE, "owner": None, "book_time": datetime, "refresh_time": datetime,
     "exp_key": None, "version": 0}

``misc.idxs``/``misc.vals`` hold ``[tid]``/``[value]`` for active labels and ``[]`` for
inactive ones. Every read path used inside the fmin loop is incremental, so the loop's cost per
trial stays flat as the history grows; :meth:`Trials.refresh` is a full resync for callers that
edit documents by hand.

Example:
    >>> from hqueue import Trials, fmin, hp, rand
    >>> import numpy as np
    >>> trials = Trials()
    >>> _ = fmin(lambda x: x ** 2, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=5,
    ...          trials=trials, rstate=np.random.default_rng(0), show_progressbar=False)
    >>> len(trials), trials.best_trial["result"]["status"]
    (5, 'ok')
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

import numpy as np

from .backend import TrialBackend
from .backends.memory import DocumentList, MemoryBackend
from .exceptions import AllTrialsFailed, InvalidTrial
from .history import History
from .mirror import TrialMirror
from .states import (
    JOB_STATE_DONE,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    JOB_VALID_STATES,
    STATUS_OK,
)
from .trial_doc import (
    TRIAL_KEYS,
    TRIAL_MISC_KEYS,
    active_values,
    finished_loss,
    new_trial_doc,
    pruned_observation,
    sonify,
)

logger = logging.getLogger(__name__)


class _TrialAttachments(MutableMapping):
    """``trials.trial_attachments(trial)``: the attachments of one trial."""

    def __init__(self, store: dict, tid: int) -> None:
        self._store, self._prefix = store, f"ATTACH::{tid}::"

    def __getitem__(self, name: str) -> Any:
        return self._store[self._prefix + name]

    def __setitem__(self, name: str, value: Any) -> None:
        self._store[self._prefix + name] = value

    def __delitem__(self, name: str) -> None:
        del self._store[self._prefix + name]

    def __iter__(self) -> Iterator[str]:
        n = len(self._prefix)
        return (k[n:] for k in list(self._store) if k.startswith(self._prefix))

    def __len__(self) -> int:
        return sum(1 for _ in self)


#: the function ``Trials.fmin`` calls, plugged in by :mod:`hqueue.fmin` when it is imported
#: (the trials model never imports the loop above it; see :func:`use_search_entry`)
_SEARCH_ENTRY: list[Callable[..., Any]] = []


def use_search_entry(fmin: Callable[..., Any]) -> None:
    """Make ``fmin`` what ``Trials.fmin(...)`` calls (:mod:`hqueue.fmin` does, on import).

    Example:
        >>> from hqueue.fmin import fmin
        >>> use_search_entry(fmin)
    """
    _SEARCH_ENTRY[:] = [fmin]


def search_entry() -> Callable[..., Any]:
    """The function ``Trials.fmin`` calls (``hqueue.fmin.fmin``)."""
    if not _SEARCH_ENTRY:
        raise RuntimeError("hqueue.fmin is not imported: import hqueue first")
    return _SEARCH_ENTRY[0]


_TRIAL_KEY_SET = frozenset(TRIAL_KEYS)
_MISC_KEY_SET = frozenset(TRIAL_MISC_KEYS)


class Trials:
    """The trials database of one search (hyperopt's ``Trials``), a façade over a backend.

    The documents live in a :class:`~hqueue.backend.TrialBackend` (here the in-memory one;
    ``RedisTrials`` passes the Redis one); this object keeps an incremental
    :class:`~hqueue.mirror.TrialMirror` of them, the ``trials`` view (NEW, RUNNING and DONE
    trials) and the sampler's :class:`~hqueue.history.History`.

    ``learn_from_pruned``: True puts pruned trials in the sampler's history, ranked after the
    complete ones by how far they got (:class:`~hqueue.history.History`); False (the default)
    counts them as failed. The default follows the pruning benchmark's ablation
    (``benchmarks/results/pruning.md``: with ASHA, learning from pruned trials gave a higher
    final regret in all 8 cases). Set it before the first suggestion.
    """

    asynchronous = False
    learn_from_pruned = False

    def __init__(self, exp_key: str | None = None, refresh: bool = True) -> None:
        self._exp_key = exp_key
        self.attachments: MutableMapping[str, Any] = {}
        self._use(MemoryBackend(exp_key))
        if refresh:
            self.refresh()

    def _use(self, backend: TrialBackend) -> None:
        """Put this façade over ``backend``, with a fresh mirror and empty views."""
        self.backend = backend
        self._mirror = TrialMirror(backend)
        self._ids: set[int] = set()
        self._synced = -1  # the views are built on the first sync

    @property
    def exp_key(self) -> str | None:
        """The experiment key these trials belong to (None: the default experiment)."""
        return self._exp_key

    @property
    def mirror(self) -> TrialMirror:
        """The local copy of the experiment's documents (read it; never change it)."""
        return self._mirror

    @property
    def _dynamic_trials(self) -> list[dict]:
        """Every document of the experiment, in any state, in insertion order."""
        return self._mirror.ordered

    # -- synchronisation -------------------------------------------------------------------
    def _in_view(self, doc: Mapping) -> bool:
        return doc["state"] in JOB_VALID_STATES

    def refresh(self) -> None:
        """Bring ``trials`` and the sampler history up to date with the backend.

        A backend whose documents change only through it (Redis) costs what changed since
        the last call; the in-memory one, whose documents are edited in place, is rescanned
        (O(trials)) so hand edits are seen.
        """
        if self.backend.reports_changes:
            self.sync()
        else:
            self._mirror.pull()
            self._rebuild()

    def _rebuild(self) -> None:
        self._trials = [t for t in self._mirror.ordered if self._in_view(t)]
        self._ids.update(t["tid"] for t in self._trials)
        self._synced = len(self._mirror.ordered)
        self._history = History()
        self._unfinished: dict[int, dict] = {}
        self._history_cursor = 0
        self._by_tid = {t["tid"]: t for t in self._trials}

    def _append_new(self) -> None:
        docs = self._mirror.ordered
        for doc in docs[self._synced:]:
            if self._in_view(doc):
                self._trials.append(doc)
                self._by_tid[doc["tid"]] = doc
            self._ids.add(doc["tid"])
        self._synced = len(docs)

    def sync(self) -> None:
        """Apply what changed since the last call (what the fmin loop calls before asking the
        algorithm); cost proportional to the change, never a rescan.

        Example:
            >>> Trials().sync()
        """
        if self._mirror.pull() or self._synced < 0:
            self._rebuild()
        elif self._synced != len(self._mirror.ordered):
            self._append_new()

    _refresh_incremental = sync  # the name the loop and benchmarks used before

    def reload(self) -> None:
        """Re-read every document from the backend and rebuild the views and the sampler
        history (after the backend lost writes its change log cannot tell about).

        Example:
            >>> Trials().reload()
        """
        self._mirror.reload()
        self._rebuild()

    def count_in_states(self, *states: int) -> int:
        """How many of the experiment's trials (as of the last refresh) are in ``states``;
        O(1) on a backend that reports every change.

        Example:
            >>> Trials().count_in_states(JOB_STATE_NEW, JOB_STATE_RUNNING)
            0
        """
        if self.backend.reports_changes:
            return self._mirror.count(*states)
        wanted = set(states)
        return sum(1 for t in self._mirror.ordered if t["state"] in wanted)

    def history(self, sync: bool = True) -> History:
        """The sampler's columnar view of finished OK trials and pruned trials (see
        ``learn_from_pruned``), brought up to date (with ``sync=False``, up to the last
        :meth:`sync`: no round trip to the backend).

        Cost is proportional to what changed since the last call, not to the history size.

        Example:
            >>> len(Trials().history(sync=False).losses)
            0
        """
        if sync or not hasattr(self, "_synced"):
            self.sync()
        h = self._history
        new_docs = self._trials[self._history_cursor:]
        self._history_cursor = len(self._trials)
        for doc in new_docs:
            self._unfinished[doc["tid"]] = doc
        for tid, doc in list(self._unfinished.items()):
            state = doc["state"]
            if state in (JOB_STATE_NEW, JOB_STATE_RUNNING):
                continue
            del self._unfinished[tid]
            loss = finished_loss(doc) if state == JOB_STATE_DONE else None
            pruned = None if loss is not None or state != JOB_STATE_DONE or \
                not self.learn_from_pruned else pruned_observation(doc)
            if loss is not None:
                h.add(tid, loss, doc["misc"]["vals"])
            elif pruned is not None:
                h.add_pruned(tid, pruned[0], pruned[1], doc["misc"]["vals"])
            else:
                h.n_failed += 1
        h.pending = [d["misc"]["vals"] for d in self._unfinished.values()]
        return h

    # -- views ----------------------------------------------------------------------------
    @property
    def trials(self) -> list[dict]:
        return self._trials

    def __iter__(self) -> Iterator[dict]:
        return iter(self._trials)

    def __len__(self) -> int:
        return len(self._trials)

    def __getitem__(self, item: Any) -> Any:
        return self._trials[item]

    @property
    def tids(self) -> list[int]:
        return [t["tid"] for t in self._trials]

    @property
    def specs(self) -> list[Any]:
        return [t["spec"] for t in self._trials]

    @property
    def results(self) -> list[dict]:
        return [t["result"] for t in self._trials]

    @property
    def miscs(self) -> list[dict]:
        return [t["misc"] for t in self._trials]

    @property
    def idxs_vals(self) -> tuple[dict[str, list], dict[str, list]]:
        return miscs_to_idxs_vals(self.miscs)

    @property
    def idxs(self) -> dict[str, list]:
        return self.idxs_vals[0]

    @property
    def vals(self) -> dict[str, list]:
        return self.idxs_vals[1]

    def losses(self, bandit: Any = None) -> list[float | None]:
        """Loss of each trial (None where the trial has no loss yet or failed)."""
        if bandit is None:
            return [r.get("loss") for r in self.results]
        return [bandit.loss(r, s) for r, s in zip(self.results, self.specs)]

    def statuses(self, bandit: Any = None) -> list[str]:
        """``result['status']`` of each trial."""
        if bandit is None:
            return [r.get("status") for r in self.results]
        return [bandit.status(r, s) for r, s in zip(self.results, self.specs)]

    @property
    def best_trial(self) -> dict:
        """The finished trial with the lowest loss; raises AllTrialsFailed when none is OK."""
        h = self.history()
        row = h.best_row()
        if row is not None:
            doc = self._by_tid.get(int(h.tids[row]))
            if doc is not None and doc["state"] == JOB_STATE_DONE:
                return doc
        candidates = [t for t in self._trials if finished_loss(t) is not None]
        if not candidates:
            raise AllTrialsFailed("no trial finished with STATUS_OK and a (non-NaN) loss")
        return candidates[int(np.argmin([finished_loss(t) for t in candidates]))]

    @property
    def argmin(self) -> dict[str, Any]:
        """``{label: value}`` of the best trial (choices as indices)."""
        return active_values(self.best_trial["misc"])

    def average_best_error(self, bandit: Any = None) -> float:
        """Expected true loss of the best trial, weighing trials by P(their loss is lowest).

        With no ``loss_variance`` in the results this is the ``true_loss`` (or loss) of the
        best trial.
        """
        ok = [(r, s) for r, s in zip(self.results, self.specs) if r.get("status") == STATUS_OK]
        if bandit is None:
            rows = [(float(r["loss"]), float(r.get("loss_variance", 0.0)),
                     float(r.get("true_loss", r["loss"]))) for r, _ in ok]
        else:
            rows = [(bandit.loss(r, s), bandit.loss_variance(r, s), bandit.true_loss(r, s))
                    for r, s in ok]
        if not rows:
            raise ValueError("average_best_error: no trial finished with STATUS_OK")
        arr = np.asarray(sorted(rows), dtype=float)
        if np.all(arr[:, 1] == 0):
            return float(arr[np.argmin(arr[:, 0]), 2])
        cutoff = np.searchsorted(arr[:, 0], arr[0, 0] + 3 * np.sqrt(arr[0, 1]), side="left")
        cutoff = max(int(cutoff), 1)
        pmin = _pmin_sampled(arr[:cutoff, 0], arr[:cutoff, 1])
        return float((pmin * arr[:cutoff, 2]).sum())

    # -- writing --------------------------------------------------------------------------
    def assert_valid_trial(self, trial: Any) -> Mapping:
        """Check a document against the schema; raises InvalidTrial naming the problem."""
        if type(trial) is not dict and not isinstance(trial, Mapping):
            raise InvalidTrial("trial should be a dict", trial)
        if not trial.keys() >= _TRIAL_KEY_SET:  # one set test; the loop names the first miss
            for key in TRIAL_KEYS:
                if key not in trial:
                    raise InvalidTrial(f"trial missing key {key!r}", trial)
        misc = trial["misc"]
        if not ((type(misc) is dict or isinstance(misc, Mapping))
                and misc.keys() >= _MISC_KEY_SET):
            for key in TRIAL_MISC_KEYS:
                if key not in misc:
                    raise InvalidTrial(f"trial['misc'] missing key {key!r}", trial)
        tid, idxs, vals = trial["tid"], misc["idxs"], misc["vals"]
        if tid != misc["tid"]:
            raise InvalidTrial("tid mismatch between root and misc", trial)
        if idxs.keys() != vals.keys():
            raise InvalidTrial("misc idxs and vals have different labels", trial)
        for label, idx in idxs.items():
            if len(idx) != len(vals[label]):
                raise InvalidTrial(f"misc idxs/vals of {label!r} differ in length", trial)
            if idx and idx[0] != tid:
                raise InvalidTrial(f"misc idxs of {label!r} should be [tid]", trial)
        if self._exp_key is not None and trial["exp_key"] != self._exp_key:
            raise InvalidTrial(f"wrong exp_key {trial['exp_key']!r} (expected "
                               f"{self._exp_key!r})", trial)
        return trial

    def _insert_trial_docs(self, docs: Iterable[dict]) -> list[int]:
        docs = list(docs)
        created = self.backend.create(docs)
        if self.backend.asynchronous:  # else this process evaluates NEW trials itself
            done = set(created)
            self.send_tasks([d["tid"] for d in docs if d["tid"] in done and
                             d.get("state", JOB_STATE_NEW) == JOB_STATE_NEW])
        self._mirror.pull()
        return created

    def send_tasks(self, tids: Iterable[int]) -> None:
        """Hand NEW trials to their evaluators (the backend's dispatch: on Redis, one Celery
        task per trial; in memory, nothing: fmin evaluates them itself).

        Example:
            >>> Trials().send_tasks([])
        """
        tids = list(tids)
        if tids:
            self.backend.dispatch(tids)

    def insert_trial_doc(self, doc: dict) -> int:
        """Validate and insert one document; returns its tid."""
        return self.insert_trial_docs([doc])[0]

    def insert_trial_docs(self, docs: Iterable[dict]) -> list[int]:
        """Validate and insert documents (not visible in ``trials`` until a refresh); NEW
        ones are dispatched to their evaluators."""
        return self._insert_trial_docs([self.assert_valid_trial(sonify(d)) for d in docs])

    def new_trial_ids(self, n: int) -> list[int]:
        """Reserve ``n`` fresh tids (never handed out again by this experiment's backend)."""
        rval = self.backend.new_tids(n)
        self._ids.update(rval)
        return rval

    def new_trial_docs(self, tids: Sequence[int], specs: Sequence[Any],
                       results: Sequence[dict], miscs: Sequence[dict]) -> list[dict]:
        """Build NEW-state documents for the given tids (not inserted)."""
        if not len(tids) == len(specs) == len(results) == len(miscs):
            raise InvalidTrial("new_trial_docs: tids, specs, results, miscs differ in length")
        return [new_trial_doc(tid, spec, result, misc, self._exp_key)
                for tid, spec, result, misc in zip(tids, specs, results, miscs)]

    def source_trial_docs(self, tids: Sequence[int], specs: Sequence[Any],
                          results: Sequence[dict], miscs: Sequence[dict],
                          sources: Sequence[dict]) -> list[dict]:
        """Like :meth:`new_trial_docs`, recording the trial each doc came from."""
        rval = self.new_trial_docs(tids, specs, results, miscs)
        for doc, src in zip(rval, sources):
            misc = doc["misc"]
            misc.setdefault("tid", doc["tid"])
            misc.setdefault("cmd", src["misc"].get("cmd"))
            misc.setdefault("workdir", src["misc"].get("workdir"))
            misc["from_tid"] = src["tid"]
        return rval

    def delete_all(self) -> None:
        """Forget every trial and attachment."""
        self._use(MemoryBackend(self._exp_key))
        self.attachments = {}
        self.refresh()

    def count_by_state_synced(self, arg: Any, trials: Sequence[dict] | None = None) -> int:
        """How many synced trials are in state ``arg`` (one state or a list of states)."""
        states = set(arg) if isinstance(arg, (list, tuple, set)) else {arg}
        return sum(1 for t in (self._trials if trials is None else trials)
                   if t["state"] in states)

    def count_by_state_unsynced(self, arg: Any) -> int:
        """Like :meth:`count_by_state_synced` but over all documents, synced or not."""
        self._mirror.pull()
        return self.count_by_state_synced(arg, trials=self._mirror.ordered)

    def view(self, exp_key: str | None = None, refresh: bool = True) -> Trials:
        """Another Trials over the same documents, filtered by ``exp_key``."""
        rval = Trials(exp_key, refresh=False)
        rval._use(MemoryBackend(exp_key, shared=self.backend.shared))
        rval.attachments = self.attachments
        if refresh:
            rval.refresh()
        return rval

    def trial_attachments(self, trial: Mapping) -> MutableMapping:
        """The attachments of one trial, a dict-like view over ``self.attachments``."""
        return _TrialAttachments(self.attachments, trial["tid"])

    def fmin(self, fn: Callable, space: Any, algo: Callable | None = None,
             max_evals: float | None = None, **kwargs: Any) -> Any:
        """``fmin(..., trials=self)``; see :func:`hqueue.fmin.fmin` (``space`` and the
        returned best point are the user's own structures)."""
        return search_entry()(fn, space, algo=algo, max_evals=max_evals, trials=self,
                              **{**kwargs, "allow_trials_fmin": False})  # no hand-off back

    # -- pickling: the documents and tid counter; caches are rebuilt on load ---------------
    def __getstate__(self) -> dict:
        shared = self.backend.shared
        return {"_exp_key": self._exp_key, "attachments": self.attachments,
                "docs": shared.docs, "next_tid": shared.next_tid}

    def __setstate__(self, state: dict) -> None:
        # "docs": this version; "_dynamic_trials"/"_next_tid": files pickled before it
        docs = state.get("docs", state.get("_dynamic_trials", []))
        next_tid = state.get("next_tid", state.get("_next_tid", 0))
        self._exp_key = state.get("_exp_key")
        self.attachments = state.get("attachments", {})
        self._use(MemoryBackend(self._exp_key, shared=DocumentList(docs, next_tid)))
        self.refresh()


def miscs_to_idxs_vals(miscs: Iterable[Mapping], keys: Iterable[str] | None = None
                       ) -> tuple[dict[str, list], dict[str, list]]:
    """Gather ``misc.idxs``/``misc.vals`` of many trials into per-label lists."""
    miscs = list(miscs)
    if keys is None:
        keys = list(miscs[0]["idxs"]) if miscs else []
    idxs: dict[str, list] = {k: [] for k in keys}
    vals: dict[str, list] = {k: [] for k in keys}
    for misc in miscs:
        for k in idxs:
            t_idxs, t_vals = misc["idxs"].get(k, []), misc["vals"].get(k, [])
            idxs[k].extend(t_idxs)
            vals[k].extend(t_vals)
    return idxs, vals


def miscs_update_idxs_vals(miscs: Sequence[dict], idxs: Mapping[str, Sequence[int]],
                           vals: Mapping[str, Sequence[Any]], assert_all_vals_used: bool = True,
                           idxs_map: Mapping[int, int] | None = None) -> Sequence[dict]:
    """Scatter per-label ``idxs``/``vals`` lists back into trial ``misc`` dicts."""
    by_tid = {m["tid"]: m for m in miscs}
    for m in miscs:
        m["idxs"] = {k: [] for k in idxs}
        m["vals"] = {k: [] for k in idxs}
    for k in idxs:
        for tid, v in zip(idxs[k], vals[k]):
            tid = idxs_map.get(tid, tid) if idxs_map else tid
            if tid in by_tid:
                by_tid[tid]["idxs"][k] = [tid]
                by_tid[tid]["vals"][k] = [v]
            elif assert_all_vals_used:
                raise InvalidTrial(f"value for tid {tid} has no misc", tid)
    return miscs


def trials_from_docs(docs: Iterable[dict], validate: bool = True, **kwargs: Any) -> Trials:
    """A Trials holding ``docs`` (validated unless ``validate=False``)."""
    rval = Trials(**kwargs)
    if validate:
        rval.insert_trial_docs(docs)
    else:
        rval._insert_trial_docs(docs)
    rval.refresh()
    return rval


def _pmin_sampled(mean: np.ndarray, var: np.ndarray, n_samples: int = 1000,
                  rng: np.random.Generator | None = None) -> np.ndarray:
    """Monte-Carlo probability that each Gaussian-distributed loss is the smallest."""
    rng = np.random.default_rng(232342) if rng is None else rng
    draws = rng.normal(mean, np.sqrt(var), size=(n_samples, len(mean)))
    counts = np.bincount(draws.argmin(axis=1), minlength=len(mean))
    return counts / n_samples
