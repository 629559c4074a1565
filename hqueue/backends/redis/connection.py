"""Redis clients that ride out a Redis restart, and a fast first check with a clear error.

Every long-lived hqueue client (the driver's, each worker's) comes from :func:`connect`: a
command that fails to reach Redis (connection refused or reset, timeout) is retried with
exponential backoff for up to about :data:`RECONNECT_BUDGET_S` seconds, so a Redis restart
or a short network cut pauses a search instead of ending it. Lua scripts survive the restart
too (redis-py reloads a script Redis no longer knows). A wrong URL or password must not wait
that long: :func:`check_redis` answers at once, in one line that says what to fix.

Only commands that never reached Redis are safe to retry blindly; hqueue's writes are Lua
scripts that check state first (claim, finish, release, expire), so a retried write that had
in fact run is refused as a no-op instead of being applied twice.

Example:
    >>> mask_url("redis://hq:s3cret@redis.local:6379/0")
    'redis://hq:***@redis.local:6379/0'
    >>> client = connect("redis://localhost:6379/0")
    >>> client.get_retry()._retries >= 100
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ...exceptions import HqueueError
from .sentinel import BadSentinelURL, SentinelURL, is_sentinel_url

if TYPE_CHECKING:
    import redis

if TYPE_CHECKING:
    from redis import Redis

RECONNECT_BUDGET_S = 300.0
#: the URL schemes hqueue accepts
SCHEMES = ("redis", "rediss", "unix", "redis+sentinel")
_BACKOFF_CAP_S = 2.0
_BACKOFF_BASE_S = 0.05


class RedisUnreachable(HqueueError):
    """hqueue cannot talk to the Redis at the given URL (down, wrong address or password)."""


def mask_url(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0] if ":" in creds else ""
    return f"{scheme}://{user}:***@{host}"


def client_from_url(url: str, **options: Any) -> redis.Redis:
    """A plain redis-py client for any URL hqueue accepts: ``redis://``, ``rediss://``,
    ``unix://`` and ``redis+sentinel://`` (see :mod:`hqueue.backends.redis.sentinel`).

    ``options`` go to the client's connections (timeouts, retry, ...).

    Example:
        >>> client_from_url("redis://localhost:6379/3").get_connection_kwargs()["db"]
        3
    """
    if is_sentinel_url(url):
        return SentinelURL.parse(url).client(**options)
    import redis

    return redis.Redis.from_url(url, **options)


def connect(url: str, **options: Any) -> Any:
    """A redis-py client for ``url`` that retries commands while Redis is unreachable.

    ``options`` go to ``redis.Redis.from_url`` (they override the defaults here).
    """
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    retries = int(RECONNECT_BUDGET_S / _BACKOFF_CAP_S)
    settings: dict[str, Any] = {
        "retry": Retry(ExponentialBackoff(cap=_BACKOFF_CAP_S, base=_BACKOFF_BASE_S), retries),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
        "health_check_interval": 25,
        "socket_connect_timeout": 10,
    }
    if not url.startswith("unix://"):
        settings["socket_keepalive"] = True
    settings.update(options)
    return client_from_url(url, **settings)


def check_redis(url: str, timeout_s: float = 5.0) -> None:
    """Fail fast, in one line, when Redis is unreachable or refuses the credentials.

    Example:
        >>> try:
        ...     check_redis("redis://127.0.0.1:1/0", timeout_s=0.5)
        ... except RedisUnreachable as e:
        ...     print(str(e).split(" (")[0])
        cannot reach Redis at redis://127.0.0.1:1/0
    """
    import redis
    from redis.sentinel import MasterNotFoundError

    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in SCHEMES:
        raise RedisUnreachable(f"{mask_url(url)} is not a Redis URL: it starts with "
                               f"{', '.join(s + '://' for s in SCHEMES[:-1])} or "
                               f"{SCHEMES[-1]}:// (redis://host:6379/0 for a plain server)")
    try:
        client = client_from_url(url, socket_connect_timeout=timeout_s,
                                 socket_timeout=timeout_s)
        try:
            client.ping()
        finally:
            client.close()
    except redis.AuthenticationError as e:
        raise RedisUnreachable(f"Redis at {mask_url(url)} refused the credentials ({e}): put "
                               "the password (and ACL user) in the URL: "
                               "redis://user:pass@host:port/0") from None
    except BadSentinelURL as e:
        raise RedisUnreachable(str(e)) from None
    except MasterNotFoundError as e:
        raise RedisUnreachable(f"no sentinel of {mask_url(url)} names a reachable master ({e}): "
                               "check the sentinels' host:port list and the master name in the "
                               "URL") from None
    except redis.ResponseError as e:  # e.g. NOPERM for an ACL user without PING
        if "DB index is out of range" in str(e):
            raise RedisUnreachable(f"Redis at {mask_url(url)} has no such database ({e}): use "
                                   "a DB number the server has (0 to 15 unless its `databases` "
                                   "setting says more) at the end of the URL") from None
        raise RedisUnreachable(f"Redis at {mask_url(url)} refused PING ({e}): give the ACL "
                               "user the commands in deploy/redis/users.acl") from None
    except (redis.ConnectionError, redis.TimeoutError, ValueError, OSError) as e:
        if scheme == "rediss" and _answers_plaintext(url, timeout_s):
            raise RedisUnreachable(f"Redis at {mask_url(url)} did not answer TLS ({e}): use "
                                   "redis:// for a server without TLS, or turn TLS on in the "
                                   "server (deploy/redis/tls.conf)") from None
        raise RedisUnreachable(f"cannot reach Redis at {mask_url(url)} ({e}): start it with "
                               "`hqueue serve` or fix --url / HQUEUE_URL") from None


def _answers_plaintext(url: str, timeout_s: float) -> bool:
    """Whether the server of a ``rediss://`` URL answers plain (non-TLS) Redis instead."""
    import redis

    parts = urlsplit(url)
    try:
        redis.Redis(host=parts.hostname or "localhost", port=parts.port or 6379,
                    socket_connect_timeout=timeout_s, socket_timeout=timeout_s).ping()
    except (redis.AuthenticationError, redis.ResponseError):
        return True  # it spoke Redis in plain text (and wants a password)
    except (redis.RedisError, OSError):
        return False
    return True


def server_run_id(client: Redis) -> str:
    """The running Redis server's run id: it changes whenever the server restarts ("" where
    the server does not say, e.g. fakeredis, or an ACL user without INFO)."""
    import redis

    try:
        return str(client.info("server").get("run_id", ""))
    except redis.ResponseError:
        return ""
