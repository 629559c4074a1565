"""The learning-curve view in a real headless Chromium: clicking a trial's row draws its curve
as an SVG line (skipped without Debian's chromium and chromedriver, like the other browser
test)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import urllib.request

import pytest
import redis

pytest.importorskip("flask")
from dashboard_data import EXP, populate  # noqa: E402
from test_dashboard_browser import new_browser, wait_until  # noqa: E402 (skips without chromium)

from hqueue.backends.redis.rungs import RedisRungs  # noqa: E402
from hqueue.backends.redis.server import free_port  # noqa: E402


@pytest.fixture
def page(redis_url, tmp_path):
    """The dashboard server on the populated experiment, and a browser; yields both."""
    port = free_port()
    log = open(tmp_path / "dashboard.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "hqueue.cli", "dashboard", "--port",
                               str(port)], env=dict(os.environ, HQUEUE_URL=redis_url),
                              stdout=log, stderr=subprocess.STDOUT)
    browser, profile = new_browser()
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert server.poll() is None, (tmp_path / "dashboard.log").read_text()
        try:
            with urllib.request.urlopen(base + "/api/workers", timeout=5):
                return True
        except OSError:
            return False

    try:
        wait_until(answers, "the dashboard to listen")
        yield base, browser
    finally:
        server.send_signal(signal.SIGTERM)
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)
        server.wait(timeout=20)
        log.close()


def test_clicking_a_trial_row_draws_its_learning_curve(redis_url, page):
    tids = populate(redis_url)
    conn = redis.Redis.from_url(redis_url)
    for step, value in [(1, 0.9), (2, 0.5), (4, 0.25)]:
        RedisRungs(conn, EXP).record(tids["done"], step, value, [])
    conn.close()
    base, browser = page
    browser.get(f"{base}/experiments/{EXP}")
    row = f"#trials tbody tr[data-tid='{tids['done']}']"
    wait_until(lambda: browser.execute_script(f"return !!document.querySelector(\"{row}\")"),
               "the trials table")
    assert browser.execute_script("return document.getElementById('curve-panel').hidden")
    browser.execute_script(f"document.querySelector(\"{row} td\").click()")
    points = wait_until(lambda: browser.execute_script(
        "const l = document.querySelector('#curve polyline');"
        "return l ? l.getAttribute('points') : null;"), "the curve to be drawn")
    assert len(points.split()) == 3
    title = browser.execute_script("return document.getElementById('curve-title').textContent")
    assert title == f"trial {tids['done']} (done, ok, 3 reports)"
