"""Per-trial captured output: the last bytes an objective wrote to stdout/stderr on a worker,
one Redis string per trial (``hq:{exp}:output:<tid>``, see :mod:`.keys`).

The worker (:mod:`hqueue.worker.capture`) rewrites the key while the trial runs and once when
it ends; it is kept after the trial ends and deleted with the experiment. A retried trial's
output replaces the previous attempt's.

Example:
    >>> import fakeredis
    >>> outputs = TrialOutputs(fakeredis.FakeRedis(), "demo")
    >>> outputs.read(3) is None
    True
    >>> outputs.write(3, b"epoch 1\\n")
    >>> outputs.read(3)
    b'epoch 1\\n'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .damaged import naming
from .keys import ExperimentKeys

if TYPE_CHECKING:
    from redis import Redis


class TrialOutputs:
    """The captured output of the trials of experiment ``exp_key``."""

    def __init__(self, client: Redis, exp_key: str | None) -> None:
        self.client = client
        self.keys = ExperimentKeys(exp_key)

    def write(self, tid: int, data: bytes) -> None:
        """Store ``data`` as trial ``tid``'s output (replacing what was there)."""
        key = self.keys.trial_output(tid)
        with naming(key):
            self.client.set(key, bytes(data))

    def read(self, tid: int) -> bytes | None:
        """Trial ``tid``'s captured output, or None when nothing was captured."""
        key = self.keys.trial_output(tid)
        with naming(key):
            value = self.client.get(key)
        return None if value is None else bytes(value)
