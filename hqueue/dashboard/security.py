"""Who may read the dashboard, and what of the Redis URL it may show.

On a loopback address the dashboard is open (only this machine reaches it). Bound to any other
address it refuses to start without a token; every request must then carry it: ``?token=`` once
(the server answers with a cookie, so links and the page's own polling keep working), an
``Authorization: Bearer`` header, or an ``X-Hqueue-Token`` header. Tokens are compared in
constant time. The dashboard never shows the Redis password (or user): only
:func:`display_url`.

Example:
    >>> needs_token("0.0.0.0"), needs_token("127.0.0.1"), needs_token("localhost")
    (True, False, False)
    >>> token_matches("s3cret", "s3cret"), token_matches("guess", "s3cret")
    (True, False)
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

from hqueue.exceptions import HqueueError

TOKEN_ENV = "HQUEUE_DASHBOARD_TOKEN"
TOKEN_COOKIE = "hqueue_dashboard_token"
TOKEN_HEADER = "X-Hqueue-Token"
MIN_TOKEN_CHARS = 8


class DashboardRefused(HqueueError):
    """The dashboard will not start as asked (e.g. a public address without a token)."""


def needs_token(host: str) -> bool:
    """Whether binding to ``host`` exposes the dashboard beyond this machine.

    Example:
        >>> needs_token("::1"), needs_token("192.168.1.4"), needs_token("")
        (False, True, True)
    """
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name (or "" = every interface): it may resolve anywhere
        return True


def check_bind(host: str, token: str | None) -> None:
    """Raise :class:`DashboardRefused` (one line, with the fix) for a bad host/token pair.

    Example:
        >>> check_bind("127.0.0.1", None)  # loopback: no token needed
        >>> try:
        ...     check_bind("0.0.0.0", None)
        ... except DashboardRefused as e:
        ...     print(str(e)[:44])
        refusing to listen on 0.0.0.0 without a toke
    """
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise DashboardRefused(f"the dashboard token must have at least {MIN_TOKEN_CHARS} "
                               "characters: e.g. --token \"$(openssl rand -hex 16)\"")
    if needs_token(host) and not token:
        raise DashboardRefused(
            f"refusing to listen on {host} without a token (anyone on the network could read "
            f"your experiments): pass --token or set {TOKEN_ENV}, or use --host 127.0.0.1")


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the expected one."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def display_url(url: str) -> str:
    """``url`` with every credential removed (user, password, ``password=`` query): the only
    form of the Redis URL the dashboard ever shows.

    Example:
        >>> display_url("rediss://hq:pw@redis.example:6380/2?password=pw&ssl_cert_reqs=none")
        'rediss://redis.example:6380/2'
        >>> display_url("unix:///run/redis.sock?db=1&password=pw")
        'unix:///run/redis.sock'
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparsable Redis URL)"
    return f"{parts.scheme}://{host}{port}{parts.path}"
