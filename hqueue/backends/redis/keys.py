"""Every Redis key hqueue uses, in one place. This docstring is the schema.

All keys of one experiment share the hash tag ``{exp}`` so an experiment lives in one cluster
slot (and one Lua script may touch all of them). ``exp`` is the experiment key, or
``"default"`` when none is given.

Global keys
    ``hq:experiments``              set: experiment keys ever created (for ``hqueue status``)
    ``hq:workers``                  hash: worker id -> msgpack {host, pid, queues, seen}
    ``hq:stop``                     pub/sub channel (not a key): ``"<tid>:<exp>"`` published
                                    by ``scripts/cancel.lua`` when a running trial is asked
                                    to stop; each worker process subscribes once and beats at
                                    once for that trial (``hqueue.worker.stops``), so a cancel
                                    does not wait for the next heartbeat

Per experiment (``hq:{exp}:...``)
    ``meta``                        hash: created, queue, domain digest, options, space
                                    signature, current segment (see ``records.py``)
    ``domain:<digest>``             string: signed cloudpickle of the Domain (content-addressed)
    ``tid``                         string: last tid handed out (INCRBY)
    ``trial:<tid>``                 hash: one trial. Fields:
                                      doc      msgpack of the fixed part (tid, spec, misc, ...)
                                      state    JOB_STATE_* as an int
                                      owner    worker id holding the lease ("" when none)
                                      attempts how many times a worker claimed it
                                      result   msgpack of the result (partial while running)
                                      book_time / refresh_time   msgpack datetimes
                                      error    msgpack [type, message] when state is ERROR
                                      cancel   "1" once a stop of the RUNNING trial was
                                               asked (``scripts/cancel.lua``; its worker's
                                               heartbeat reads it; ``requeue`` clears it)
    ``tids``                        sorted set: tid -> tid (every trial, for full scans)
    ``running``                     sorted set: tid -> lease deadline (ms since epoch)
    ``queued``                      sorted set: tid -> time its task was last sent (ms)
    ``changes``                     sorted set: tid -> change sequence (incremental refresh)
    ``seq``                         string: last change sequence number
    ``events``                      stream: one entry per finished trial (tid, state)
    ``effects:<tid>``               hash: side effects of a trial's objective (``ctrl.enqueue``,
                                    ``ctrl.inject_results``): call number -> "tid,tid,..." it
                                    created, so a retry of the trial creates them once
    ``attach:<tid>:<name>``         a trial attachment: a string (at most 4 MiB), or for a
                                    larger value a hash, its manifest {version, chunks, size}
    ``attach:exp:<name>``           an experiment attachment (string or manifest, as above)
    ``chunk:<version>:<i>``         string: piece ``i`` (4 MiB) of a large attachment; version
                                    is a random id per write (24 h expiry until switched in)
    ``attachments``                 set: names of the experiment's attachment keys
    ``driver``                      string: id of the driver holding the experiment (PX lease)
    ``curve:<tid>``                 hash: step -> value (repr of a float), the trial's learning
                                    curve from ``ctrl.report``; at most 10,000 steps; kept
                                    after the trial ends (``scripts/prune_report.lua``)
    ``output:<tid>``                string: the last bytes (64 KiB by default,
                                    ``HQUEUE_OUTPUT_BYTES`` on the worker) the trial's
                                    objective wrote to stdout/stderr, rewritten while it runs
                                    and when it ends; kept after it ends
                                    (``output.py``, ``worker/capture.py``)
    ``rung:<name>``                 sorted set: tid -> value recorded when the trial first
                                    reached the pruner's rung ``name`` (NaN as +inf; first
                                    write wins, so a retried trial counts once;
                                    ``scripts/prune_report.lua``)

Example:
    >>> ExperimentKeys("exp1").trial(3)
    'hq:{exp1}:trial:3'
"""

from __future__ import annotations

PREFIX = "hq"
EXPERIMENTS = f"{PREFIX}:experiments"
WORKERS = f"{PREFIX}:workers"
STOP_CHANNEL = f"{PREFIX}:stop"
DEFAULT_EXPERIMENT = "default"


class ExperimentKeys:
    """The keys of one experiment (see the module docstring for what each holds)."""

    def __init__(self, exp_key: str | None) -> None:
        self.exp_key = DEFAULT_EXPERIMENT if exp_key is None else str(exp_key)
        if not self.exp_key or any(c in self.exp_key for c in "{}"):
            raise ValueError(f"experiment key {exp_key!r} must be non-empty and contain no "
                             "braces")
        base = f"{PREFIX}:{{{self.exp_key}}}"
        self.base = base
        self.meta = f"{base}:meta"
        self.tid = f"{base}:tid"
        self.tids = f"{base}:tids"
        self.running = f"{base}:running"
        self.queued = f"{base}:queued"
        self.changes = f"{base}:changes"
        self.seq = f"{base}:seq"
        self.events = f"{base}:events"
        self.attachments = f"{base}:attachments"
        self.driver = f"{base}:driver"

    def trial(self, tid: int) -> str:
        return f"{self.base}:trial:{int(tid)}"

    def trial_prefix(self) -> str:
        """Prefix of the trial hashes (Lua scripts append the tid)."""
        return f"{self.base}:trial:"

    def trial_effects(self, tid: int) -> str:
        """The side effects of trial ``tid``'s objective (see the schema above)."""
        return f"{self.base}:effects:{int(tid)}"

    def domain(self, digest: str) -> str:
        return f"{self.base}:domain:{digest}"

    def trial_attachment(self, tid: int, name: str) -> str:
        return f"{self.base}:attach:{int(tid)}:{name}"

    def experiment_attachment(self, name: str) -> str:
        return f"{self.base}:attach:exp:{name}"

    def attachment_chunk(self, version: str, i: int) -> str:
        """Piece ``i`` of the large attachment value written as ``version``."""
        return f"{self.base}:chunk:{version}:{int(i)}"

    def curve(self, tid: int) -> str:
        """The learning curve of trial ``tid`` (pruning, issue 14)."""
        return f"{self.base}:curve:{int(tid)}"

    def trial_output(self, tid: int) -> str:
        """The captured stdout/stderr of trial ``tid`` (see the schema above)."""
        return f"{self.base}:output:{int(tid)}"

    def rung(self, name: str) -> str:
        """The records of pruner rung ``name`` (pruning, issue 14)."""
        return f"{self.base}:rung:{name}"

    def all_patterns(self) -> str:
        """A SCAN pattern matching every key of the experiment."""
        return f"{PREFIX}:{{{self.exp_key}}}:*"
