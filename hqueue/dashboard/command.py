"""``hqueue dashboard``: serve the live web dashboard (Flask app on the waitress server).

Flask and waitress are imported inside the command, so ``hqueue --help`` stays fast and a
missing extra is reported in one line with the ``pip install`` that fixes it.

Example:
    >>> from click.testing import CliRunner
    >>> result = CliRunner().invoke(dashboard, ["--url", "redis://127.0.0.1:1/0",
    ...                                         "--host", "0.0.0.0"])
    >>> result.exit_code, "without a token" in result.output
    (1, True)
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote, urlsplit

import click

from hqueue.exceptions import HqueueError

from .security import TOKEN_ENV, check_bind, display_url

INSTALL_HINT = "the dashboard needs Flask and waitress: pip install 'hqueue[dashboard]'"
DEFAULT_PORT = 8600


@click.command()
@click.option("--url", envvar="HQUEUE_URL", show_envvar=True, required=True,
              help="Redis URL (redis://, rediss:// or unix://; password in the URL).")
@click.option("--exp-key", default=None, envvar="HQUEUE_EXP_KEY", show_envvar=True,
              help="Print the address of this experiment's page (every experiment is shown).")
@click.option("--host", default="127.0.0.1", show_default=True,
              envvar="HQUEUE_DASHBOARD_HOST", show_envvar=True,
              help="Address to listen on; anything but loopback needs --token.")
@click.option("--port", "-p", type=click.IntRange(0, 65535), default=DEFAULT_PORT,
              show_default=True, envvar="HQUEUE_DASHBOARD_PORT", show_envvar=True,
              help="TCP port (0: any free port).")
@click.option("--token", default=None, envvar=TOKEN_ENV, show_envvar=True,
              help="Secret every request must present (?token=, a cookie or a header).")
@click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Server threads answering requests.")
def dashboard(url: str, exp_key: str | None, host: str, port: int, token: str | None,
              threads: int) -> None:
    """Serve a live web page: experiments, best-so-far curves, trials, workers.

    Read-only: it only reads Redis. On 127.0.0.1 (the default) it needs nothing else; on
    any other address it refuses to start without a token. It updates itself every 2 s.

    \b
    Example:
      hqueue dashboard --url redis://127.0.0.1:6379/0           # then open http://127.0.0.1:8600/
      HQUEUE_DASHBOARD_TOKEN=$(openssl rand -hex 16) \\
        hqueue dashboard --url redis://:pw@redis:6379/0 --host 0.0.0.0
    """
    try:
        _run(url, exp_key, host, port, token, threads)
    except HqueueError as exc:
        raise click.ClickException(" | ".join(str(exc).splitlines())) from None


def _run(url: str, exp_key: str | None, host: str, port: int, token: str | None,
         threads: int) -> None:
    check_bind(host, token)
    try:
        import flask  # noqa: F401
        import waitress
    except ImportError:
        raise HqueueError(INSTALL_HINT) from None
    from hqueue.backends.redis.connection import check_redis, client_from_url

    from .app import create_app
    from .model import Dashboard

    check_redis(url)
    client = client_from_url(url, socket_connect_timeout=5, socket_timeout=15)
    app = create_app(Dashboard(client), token=token, redis_label=display_url(url),
                     hide=_url_secrets(url))
    server = waitress.create_server(app, host=host, port=port, threads=threads,
                                    ident="hqueue-dashboard")
    bound = server.effective_port
    shown_host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    path = f"/experiments/{quote(exp_key, safe='')}" if exp_key else "/"
    suffix = "?token=<your token>" if token else ""
    click.echo(f"hqueue dashboard for {display_url(url)}: http://{shown_host}:{bound}{path}"
               f"{suffix} (Ctrl-C stops it)", err=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        client.close()


def _url_secrets(url: str) -> tuple[str, ...]:
    """The password in ``url`` (raw and URL-quoted), to blank out of error messages."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return ()
    if not password:
        return ()
    found: set[Any] = {password, unquote(password), quote(password, safe="")}
    return tuple(sorted((p for p in found if len(p) >= 3), key=len, reverse=True))
