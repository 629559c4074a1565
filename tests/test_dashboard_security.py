"""Who may read the dashboard: a token for non-loopback binds, and no Redis password shown.

Includes the real command: ``hqueue dashboard`` started as a process on 0.0.0.0 with a token,
asked over HTTP with and without it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import redis
from click.testing import CliRunner

pytest.importorskip("flask")

from dashboard_data import EXP, populate  # noqa: E402

from hqueue.backends.redis.server import RedisServer, free_port  # noqa: E402
from hqueue.cli import main  # noqa: E402
from hqueue.dashboard.app import create_app  # noqa: E402
from hqueue.dashboard.model import Dashboard  # noqa: E402
from hqueue.dashboard.security import TOKEN_COOKIE  # noqa: E402

TOKEN = "t0ken-for-tests-5f3a9c"
PASSWORD = "redis-pw-Zq8xY2"


@pytest.fixture(scope="module")
def protected_redis(tmp_path_factory):
    """A second real Redis that requires a password (its URL carries it)."""
    with RedisServer(dir=tmp_path_factory.mktemp("redis-pw"), password=PASSWORD) as server:
        yield server


@pytest.fixture
def protected_url(protected_redis):
    conn = protected_redis.client()
    conn.flushall()
    conn.close()
    return protected_redis.url


def test_a_public_bind_without_a_token_refuses_to_start_in_one_line(redis_url, monkeypatch):
    monkeypatch.delenv("HQUEUE_DASHBOARD_TOKEN", raising=False)
    result = CliRunner().invoke(main, ["dashboard", "--url", redis_url, "--host", "0.0.0.0"])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert "refusing to listen on 0.0.0.0 without a token" in line
    assert "HQUEUE_DASHBOARD_TOKEN" in line


def test_a_short_token_is_refused(redis_url):
    result = CliRunner().invoke(main, ["dashboard", "--url", redis_url, "--host", "0.0.0.0",
                                       "--token", "abc"])
    assert result.exit_code == 1 and "at least 8 characters" in result.output


def test_an_unreachable_redis_is_one_line_with_the_fix():
    result = CliRunner().invoke(main, ["dashboard", "--url", "redis://127.0.0.1:1/0",
                                       "--port", "0"])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in result.output


def test_a_wrong_password_is_one_line_without_the_password(protected_redis):
    url = protected_redis.url.replace(PASSWORD, "wrong-pw-123")
    result = CliRunner().invoke(main, ["dashboard", "--url", url, "--port", "0"])
    assert result.exit_code == 1 and "credentials" in result.output
    assert "wrong-pw-123" not in result.output


def test_requests_without_the_token_get_401_and_with_it_200(redis_url):
    populate(redis_url)
    conn = redis.Redis.from_url(redis_url)
    client = create_app(Dashboard(conn), token=TOKEN).test_client()
    for path in ("/", f"/experiments/{EXP}", "/api/experiments", "/api/workers",
                 f"/api/experiments/{EXP}/trials", "/static/dashboard.js"):
        assert client.get(path).status_code == 401, path
        assert client.get(path + "?token=wrong-token-00").status_code == 401, path
        assert client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert client.get(path, headers={"X-Hqueue-Token": TOKEN}).status_code == 200
    conn.close()


def test_the_token_in_the_url_becomes_a_cookie_for_the_page_polls(redis_url):
    populate(redis_url)
    conn = redis.Redis.from_url(redis_url)
    client = create_app(Dashboard(conn), token=TOKEN).test_client()
    page = client.get(f"/?token={TOKEN}")
    assert page.status_code == 200
    cookie = client.get_cookie(TOKEN_COOKIE)
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"
    assert client.get("/api/experiments").status_code == 200  # the cookie alone
    conn.close()


def test_the_redis_password_never_appears_in_any_response(protected_url):
    populate(protected_url)
    from hqueue.dashboard.security import display_url

    conn = redis.Redis.from_url(protected_url)
    app = create_app(Dashboard(conn), redis_label=display_url(protected_url),
                     hide=(PASSWORD,))
    client = app.test_client()
    bodies = []
    for path in ("/", f"/experiments/{EXP}", "/api/experiments", f"/api/experiments/{EXP}",
                 f"/api/experiments/{EXP}/trials", "/api/workers", "/api/experiments/nope"):
        response = client.get(path)
        bodies.append(response.get_data(as_text=True) + str(response.headers))
    assert any("127.0.0.1" in b for b in bodies)  # the address is shown ...
    assert not any(PASSWORD in b for b in bodies)  # ... the password never
    conn.close()


def test_a_redis_failure_is_503_without_the_password(protected_redis):
    url = protected_redis.url.replace(PASSWORD, "wrong-pw-456")
    conn = redis.Redis.from_url(url)
    client = create_app(Dashboard(conn), redis_label="redis://127.0.0.1",
                        hide=("wrong-pw-456",)).test_client()
    response = client.get("/api/experiments")
    assert response.status_code == 503
    assert "cannot read Redis" in response.get_json()["error"]
    assert "wrong-pw-456" not in response.get_data(as_text=True)
    conn.close()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_the_command_on_a_public_address_serves_only_with_the_token(protected_url):
    populate(protected_url)
    port = free_port()
    env = dict(os.environ, HQUEUE_DASHBOARD_TOKEN=TOKEN, HQUEUE_URL=protected_url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hqueue.cli", "dashboard", "--host", "0.0.0.0",
         "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:  # until it answers (the deadline only stops a broken run)
            try:
                status, _ = _get(base + "/api/workers")
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.1)
        assert status == 401
        status, text = _get(base + "/api/experiments", {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and json.loads(text)["experiments"][0]["exp_key"] == EXP
        status, html = _get(base + f"/?token={TOKEN}")
        assert status == 200 and PASSWORD not in html
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    banner = err.decode()
    assert re.search(rf"http://0\.0\.0\.0:{port}/\?token=<your token>|http://127\.0\.0\.1:{port}/",
                     banner), banner
    assert PASSWORD not in banner and TOKEN not in banner


def test_a_read_only_redis_acl_user_is_enough(redis_url):
    """The dashboard works with a Redis user that may only read (ACL +@read)."""
    populate(redis_url)
    admin = redis.Redis.from_url(redis_url)
    admin.acl_setuser("dash-reader", enabled=True, passwords=["+reader-pw-123"],
                      keys=["hq:*"], commands=["+@read", "+ping"])
    try:
        host, port = admin.connection_pool.connection_kwargs["host"], \
            admin.connection_pool.connection_kwargs["port"]
        reader_url = f"redis://dash-reader:reader-pw-123@{host}:{port}/0"
        reader = redis.Redis.from_url(reader_url)
        with pytest.raises(redis.exceptions.NoPermissionError):
            reader.set("hq:probe", "1")  # the user really cannot write
        client = create_app(Dashboard(reader)).test_client()
        for path in ("/api/experiments", f"/api/experiments/{EXP}", "/api/workers",
                     f"/api/experiments/{EXP}/trials?sort=loss"):
            response = client.get(path)
            assert response.status_code == 200, (path, response.get_json())
        reader.close()
    finally:
        admin.acl_deluser("dash-reader")
        admin.close()
