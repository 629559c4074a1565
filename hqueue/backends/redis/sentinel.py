"""Redis Sentinel URLs: ``redis+sentinel://[user:password@]host1:26379,host2:26379/MASTER/DB``.

A search that runs for days should not end when one Redis box does. With Sentinel, the URL
names the sentinels (any that answer will do) and the master group they watch; every hqueue
client (driver, workers, CLI, dashboard) asks a sentinel where the master is now, and asks
again after a failover. The Celery broker is told the same thing in kombu's spelling
(``sentinel://h1:p1;sentinel://h2:p2/DB`` plus the ``master_name`` transport option).

The password (and ACL user) in the URL are the master's. Sentinels that require a password of
their own take it from ``?sentinel_password=...``.

Example:
    >>> url = SentinelURL.parse("redis+sentinel://:pw@s1:26379,s2/mymaster/2")
    >>> url.sentinels, url.master, url.db, url.password
    ((('s1', 26379), ('s2', 26379)), 'mymaster', 2, 'pw')
    >>> url.kombu_url()
    'sentinel://:pw@s1:26379/2;sentinel://:pw@s2:26379/2'
    >>> is_sentinel_url("redis://localhost:6379/0")
    False
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote

from ...exceptions import HqueueError

if TYPE_CHECKING:
    import redis

SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379
_FORM = "redis+sentinel://[user:password@]host1:26379,host2:26379/MASTER_NAME/DB"


class BadSentinelURL(HqueueError, ValueError):
    """A ``redis+sentinel://`` URL that does not name sentinels and a master group."""


def is_sentinel_url(url: str) -> bool:
    """Whether ``url`` is a Sentinel URL (``redis+sentinel://``)."""
    return url.startswith(SCHEME + "://")


@dataclass(frozen=True)
class SentinelURL:
    """The parts of a ``redis+sentinel://`` URL."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SentinelURL:
        """Split a Sentinel URL; a malformed one raises :class:`BadSentinelURL` saying the form.

        Example:
            >>> SentinelURL.parse("redis+sentinel://h:1/m").db
            0
        """
        if not is_sentinel_url(url):
            raise BadSentinelURL(f"not a Sentinel URL: expected {_FORM}")
        rest = url[len(SCHEME) + 3:]
        rest, _, query = rest.partition("?")
        creds, _, hosts_and_path = rest.rpartition("@")
        hosts, _, path = hosts_and_path.partition("/")
        parts = [p for p in path.split("/") if p]
        if not hosts or not parts or len(parts) > 2:
            raise BadSentinelURL(f"Sentinel URL without sentinels or master name: expected {_FORM}")
        try:
            db = int(parts[1]) if len(parts) == 2 else 0
            sentinels = tuple(_host_port(h) for h in hosts.split(",") if h)
        except ValueError:
            raise BadSentinelURL(f"bad port or DB number in the Sentinel URL: expected {_FORM}"
                                 ) from None
        username, password = None, None
        if creds:
            user, sep, pw = creds.partition(":")
            username = unquote(user) or None
            password = unquote(pw) if sep else None
        options = parse_qs(query)
        sentinel_password = options.get("sentinel_password", [None])[0]
        return cls(sentinels, unquote(parts[0]), db, username, password, sentinel_password)

    def kombu_url(self) -> str:
        """The broker URL kombu's Sentinel transport reads (the master group goes separately,
        as the ``master_name`` transport option)."""
        auth = ""
        if self.username or self.password:
            auth = quote(self.username or "", safe="") + ":" + quote(self.password or "",
                                                                   safe="") + "@"
        return ";".join(f"sentinel://{auth}{host}:{port}/{self.db}"
                        for host, port in self.sentinels)

    def kombu_transport_options(self) -> dict[str, Any]:
        """The transport options kombu's Sentinel transport needs besides the URL."""
        options: dict[str, Any] = {"master_name": self.master}
        if self.sentinel_password:
            options["sentinel_kwargs"] = {"password": self.sentinel_password}
        return options

    def client(self, **options: Any) -> redis.Redis:
        """A redis-py client of the current master that follows failovers.

        ``options`` are connection options (timeouts, retry, ...) for the master connections;
        the sentinels get the same timeouts.
        """
        from redis.sentinel import Sentinel

        timeouts = {k: options[k] for k in ("socket_timeout", "socket_connect_timeout")
                    if k in options}
        sentinel_kwargs = dict(timeouts)
        if self.sentinel_password:
            sentinel_kwargs["password"] = self.sentinel_password
        manager = Sentinel(list(self.sentinels), sentinel_kwargs=sentinel_kwargs)
        return manager.master_for(self.master, db=self.db, username=self.username,
                                  password=self.password, connection_class=_master_connection(),
                                  **options)


@functools.cache
def _master_connection() -> type:
    """redis-py's Sentinel-managed connection, made to ask the sentinels for the master on
    every (re)connect.

    Why: redis-py 8 sends a command through ``connect_check_health()``, which reconnects to the
    address the connection had (the dead master) and retries only that address, so a client
    kept trying the killed master for its whole retry budget after a failover (seen in
    tests/test_sentinel.py). Here each connect looks the master up first and does not retry the
    socket itself: the command's own retry (hqueue's :func:`connect` budget) tries again, and
    its next connect asks the sentinels again.
    """
    from redis.sentinel import SentinelManagedConnection

    class MasterConnection(SentinelManagedConnection):
        def connect_check_health(self, check_health: bool = True,
                                 retry_socket_connect: bool = True) -> None:
            if self._sock:
                return
            if self.connection_pool.is_master:
                self.host, self.port = self.connection_pool.get_master_address()
            super().connect_check_health(check_health=check_health, retry_socket_connect=False)

    return MasterConnection


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, DEFAULT_SENTINEL_PORT
    return host.strip("[]"), int(port)
