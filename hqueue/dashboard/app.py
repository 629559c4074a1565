"""The dashboard's Flask application: two pages and the JSON API they poll every 2 s.

Pages: ``/`` (experiments and workers) and ``/experiments/<exp>`` (one experiment). API (all
GET, all read-only): ``/api/experiments``, ``/api/experiments/<exp>?since=C`` (summary, running
trials, the loss points changed after cursor C), ``/api/experiments/<exp>/trials`` (one sorted
page of rows: ``sort``, ``order``, ``state``, ``offset``, ``limit``) and ``/api/workers``.

Example:
    >>> import fakeredis
    >>> app = create_app(Dashboard(fakeredis.FakeRedis()), redis_label="redis://127.0.0.1:6379/0")
    >>> app.test_client().get("/api/experiments").get_json()["experiments"]
    []
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response, abort, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from hqueue.backends.redis.overview import UnknownExperiment

from .model import MAX_PAGE_ROWS, BadQuery, Dashboard
from .security import TOKEN_COOKIE, TOKEN_HEADER, token_matches

logger = logging.getLogger(__name__)

POLL_MS = 2000
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def create_app(dashboard: Dashboard, *, token: str | None = None, redis_label: str = "",
               poll_ms: int = POLL_MS, hide: tuple[str, ...] = ()) -> Flask:
    """The Flask app serving ``dashboard``; with ``token`` every request must present it.

    ``redis_label`` is what the pages show as the Redis address: pass
    :func:`~hqueue.dashboard.security.display_url` of the URL, never the URL itself.
    Strings in ``hide`` (the Redis password) are blanked out of any error message.
    """
    app = Flask(__name__)
    app.json.sort_keys = False
    app.json.compact = True

    @app.before_request
    def _require_token() -> Response | None:
        if token is None:
            return None
        given = (request.args.get("token") or request.headers.get(TOKEN_HEADER)
                 or _bearer(request.headers.get("Authorization"))
                 or request.cookies.get(TOKEN_COOKIE))
        if token_matches(given, token):
            return None
        if request.path.startswith("/api/"):
            return _error(401, "this dashboard needs its token: add ?token=... to the URL or send "
                               f"'Authorization: Bearer ...' or '{TOKEN_HEADER}'")
        return Response("401: this dashboard needs its token: open it with ?token=... once\n",
                        status=401, mimetype="text/plain")

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        if token is not None and request.args.get("token") and response.status_code == 200:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict",
                                secure=request.is_secure)
        return response

    @app.errorhandler(UnknownExperiment)
    def _unknown(exc: UnknownExperiment) -> tuple[Response, int]:
        if request.path.startswith("/api/"):
            return _error(404, _one_line(exc))
        return Response(f"404: {_one_line(exc)}\n", status=404, mimetype="text/plain"), 404

    @app.errorhandler(BadQuery)
    def _bad_query(exc: BadQuery) -> Response:
        return _error(400, _one_line(exc))

    @app.errorhandler(Exception)
    def _failure(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            if request.path.startswith("/api/") and exc.code is not None:
                return _error(exc.code, exc.description or exc.name)
            return exc
        if not isinstance(exc, redis.RedisError):
            logger.exception("dashboard request %s failed", request.path)
            return _error(500, f"internal error ({type(exc).__name__}); see the dashboard's log")
        logger.warning("dashboard request %s failed: %s", request.path, _one_line(exc))
        message = f"cannot read Redis at {redis_label}: {type(exc).__name__}: {_one_line(exc)}"
        for secret in hide:
            message = message.replace(secret, "***") if secret else message
        return _error(503, message)

    page = {"redis": redis_label, "poll_ms": poll_ms}

    @app.get("/")
    def index() -> str:
        return render_template("index.html", **page)

    @app.get("/experiments/<exp_key>")
    def experiment_page(exp_key: str) -> str:
        dashboard.require(exp_key)
        return render_template("experiment.html", exp_key=exp_key, **page)

    @app.get("/api/experiments")
    def api_experiments() -> Response:
        return jsonify(dashboard.experiments())

    @app.get("/api/experiments/<exp_key>")
    def api_experiment(exp_key: str) -> Response:
        return jsonify(dashboard.experiment(exp_key, since=request.args.get("since")))

    @app.get("/api/experiments/<exp_key>/trials")
    def api_trials(exp_key: str) -> Response:
        order = request.args.get("order", "asc")
        if order not in ("asc", "desc"):
            abort(400, "order must be asc or desc")
        state = request.args.get("state") or None
        return jsonify(dashboard.trials(
            exp_key, sort=request.args.get("sort", "tid"), desc=order == "desc", state=state,
            offset=_int_arg("offset", 0), limit=min(_int_arg("limit", 100), MAX_PAGE_ROWS),
            if_version=request.args.get("if_version")))

    @app.get("/api/experiments/<exp_key>/trials/<int:tid>/curve")
    def api_curve(exp_key: str, tid: int) -> Response:
        return jsonify(dashboard.curve(exp_key, tid))

    @app.get("/api/experiments/<exp_key>/trials/<int:tid>/output")
    def api_trial_output(exp_key: str, tid: int) -> Response:
        return jsonify(dashboard.trial_output(exp_key, tid))

    @app.get("/api/workers")
    def api_workers() -> Response:
        return jsonify(dashboard.workers())

    return app


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, f"{name} must be an integer, got {raw!r}")
    if value < 0:
        abort(400, f"{name} must be >= 0")
    return value


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def _error(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def _one_line(exc: BaseException) -> str:
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return " | ".join(line.strip() for line in str(text).splitlines() if line.strip()) \
        or type(exc).__name__
