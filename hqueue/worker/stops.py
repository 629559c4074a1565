"""Stop requests pushed to the worker: a cancel reaches a running objective within about a
second, whatever the lease length.

``cancel.lua`` marks a running trial by the ``cancel`` field of its hash (the truth, which
every heartbeat reads) and, in the same script, publishes ``"<tid>:<exp_key>"`` on the
channel :data:`~hqueue.backends.redis.keys.STOP_CHANNEL`. Each worker process holds one
subscription to it (:func:`listen`: one daemon thread and one Redis connection per process
and client, while trials run and ``IDLE_S`` after) and hands each message to the runner's
callback, which makes the trial's supervisor beat at once: the heartbeat's reply then says
"cancel requested" and ``ctrl.should_stop()`` turns True. A message missed (the subscription
was reconnecting, or an ACL refuses the channel) only delays the stop to the next heartbeat,
as before.

Cost: no Redis command per trial; one SUBSCRIBE per process (and one more after each
reconnection).

Example:
    >>> import fakeredis
    >>> seen = []
    >>> client = fakeredis.FakeRedis()
    >>> listening = listen(client, lambda exp_key, tid: seen.append((exp_key, tid)))
    >>> listening.subscribed
    True
    >>> _ = client.publish(STOP_CHANNEL, "3:exp1")
    >>> wait = [time.sleep(0.05) for _ in range(40) if not seen]
    >>> seen
    [('exp1', 3)]
    >>> listening.release()
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..backends.redis.keys import STOP_CHANNEL

if TYPE_CHECKING:
    from redis import Redis

logger = logging.getLogger(__name__)

#: ``on_stop(exp_key, tid)``: called in the listener's thread for each stop request
OnStop = Callable[[str, int], None]

SUBSCRIBE_WAIT_S = 2.0  # how long the first trial of a process waits for the subscription
READ_S = 1.0  # longest block on the subscription between checks of its health
RETRY_S = 1.0  # pause before subscribing again after an error
IDLE_S = 60.0  # a listener no trial used for this long stops (the next trial starts one)

# (pid, id(client)) -> the listener of that client in this process (a forked child starts
# its own: threads do not survive a fork)
_LISTENERS: dict[tuple[int, int], _Listener] = {}
_LOCK = threading.Lock()
_RECENT: collections.deque[tuple[str, int]] = collections.deque(maxlen=256)  # last stops heard


def pushed_recently(exp_key: str, tid: int) -> bool:
    """Whether a stop for ``(exp_key, tid)`` was among the last 256 this process heard (a
    trial claimed just before its stop came, and supervised just after, asks this).

    Example:
        >>> pushed_recently("nobody", 10**9)
        False
    """
    return (exp_key, int(tid)) in _RECENT


def parse_stop(message: bytes | str) -> tuple[str, int] | None:
    """``(exp_key, tid)`` of a stop message, None for anything else.

    Example:
        >>> parse_stop(b"12:my:exp"), parse_stop("junk")
        (('my:exp', 12), None)
    """
    text = message.decode() if isinstance(message, bytes) else str(message)
    tid, _, exp_key = text.partition(":")
    if not tid.isdigit() or not exp_key:
        return None
    return exp_key, int(tid)


def listen(client: Redis, on_stop: OnStop) -> Listening:
    """Listen for stop requests on ``client``'s Redis while a trial runs, calling ``on_stop``
    for each; :meth:`Listening.release` when the trial is over. The first call of a process
    starts the listener and waits (at most ``SUBSCRIBE_WAIT_S``) until it is subscribed, so
    a cancel sent once the trial is claimed is heard; a listener with no trial to listen for
    during ``IDLE_S`` stops (one per client, not one per client ever made). The listener
    of a client calls the ``on_stop`` it was started with (the runner always passes the
    same one)."""
    key = (os.getpid(), id(client))
    with _LOCK:
        listener = _LISTENERS.get(key)
        if listener is None:
            listener = _LISTENERS[key] = _Listener(key, client, on_stop)
            listener.start()
        listener.active += 1
    listener.subscribed.wait(SUBSCRIBE_WAIT_S)
    return Listening(listener)


class Listening:
    """A trial's hold on its process's listener (see :func:`listen`)."""

    def __init__(self, listener: _Listener) -> None:
        self._listener: _Listener | None = listener

    @property
    def subscribed(self) -> bool:
        """Whether the listener is subscribed (False: its stops come with the heartbeat)."""
        return self._listener is not None and self._listener.subscribed.is_set() \
            and self._listener.error is None

    def release(self) -> None:
        """The trial is over (idempotent)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with _LOCK:
                listener.active -= 1
                listener.idle_since = time.monotonic()


class _Listener:
    """One subscription to the stop channel, read by a daemon thread."""

    def __init__(self, key: tuple[int, int], client: Redis, on_stop: OnStop) -> None:
        self.key, self.client, self.on_stop = key, client, on_stop
        self.subscribed = threading.Event()
        self.active = 0  # trials listening (changed under _LOCK)
        self.idle_since = time.monotonic()
        self.error: str | None = None

    def start(self) -> None:
        name = f"hqueue-stop-listener-{self.key[1]}"  # id(client)
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def _retire_if_idle(self) -> bool:
        """Leave the registry when no trial listened for ``IDLE_S``; True when it left."""
        with _LOCK:
            if self.active or time.monotonic() - self.idle_since < IDLE_S:
                return False
            if _LISTENERS.get(self.key) is self:
                del _LISTENERS[self.key]
            return True

    def _run(self) -> None:
        while not self._retire_if_idle():
            try:
                self._read_until_idle()
            except Exception as exc:  # Redis away, or an ACL refusing the channel
                if self.error is None:
                    logger.warning("cannot listen for stop requests (%s: %s); cancels reach "
                                   "running trials at their next heartbeat instead",
                                   type(exc).__name__, exc)
                self.error = f"{type(exc).__name__}: {exc}"
                self.subscribed.set()  # nobody waits for it any longer
                time.sleep(RETRY_S)

    def _read_until_idle(self) -> None:
        pubsub = self.client.pubsub()
        try:
            pubsub.subscribe(STOP_CHANNEL)
            while not self._retire_if_idle():
                message = pubsub.get_message(timeout=READ_S)
                if message is None:
                    continue
                if message.get("type") == "subscribe":  # the server confirmed it
                    self.error = None
                    self.subscribed.set()
                if message.get("type") != "message":
                    continue
                stop = parse_stop(message["data"])
                if stop is not None:
                    _RECENT.append(stop)
                    self.on_stop(*stop)
        finally:
            pubsub.close()
