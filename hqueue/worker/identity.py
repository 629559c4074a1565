"""This process's worker id, ``host:pid:random8`` (its own module: the app, the beacon and the
package all need it, and none of them may import the others back).

Example:
    >>> wid = worker_id()
    >>> wid == worker_id() and wid.count(":") == 2
    True
"""

from __future__ import annotations

import os
import socket
import uuid

_ID: dict[int, str] = {}


def worker_id() -> str:
    """This process's worker id, ``host:pid:random8`` (a forked child gets its own).

    Example:
        >>> worker_id().split(":")[1] == str(os.getpid())
        True
    """
    pid = os.getpid()
    wid = _ID.get(pid)
    if wid is None:
        wid = _ID.setdefault(pid, f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}")
    return wid
