"""The dashboard in a real headless Chromium, against a real Redis, real ``hqueue worker``
processes and a search running while the page is open.

Needs Debian's chromium and chromedriver (``scripts/system-deps`` installs them); skipped with
the reason when they are missing. selenium drives the system chromedriver (no driver download).
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import e2e_helpers
import numpy as np
import pytest
import redis

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytest.importorskip("flask")
webdriver = pytest.importorskip("selenium.webdriver")
if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip("needs Debian's chromium and chromedriver (scripts/system-deps installs them)",
                allow_module_level=True)

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from hqueue import STATUS_OK, fmin, hp, tpe  # noqa: E402
from hqueue.backends.redis.keys import ExperimentKeys  # noqa: E402
from hqueue.backends.redis.server import free_port  # noqa: E402
from hqueue.backends.redis.trials import RedisTrials  # noqa: E402

SECRET = "dashboard-browser-secret-0123456789"
EXP = "browser-search"
N_TRIALS = 30
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1400,1900")


def wait_until(predicate, what: str, timeout: float = 30.0, every: float = 0.1):
    """Poll ``predicate`` until truthy; the timeout only turns a hang into a failure."""
    return e2e_helpers.wait_until(predicate, timeout, what, every)


def new_browser():
    """Headless Chromium through the system chromedriver, with a fresh profile."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="hqueue-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options), profile


@pytest.fixture
def stack(redis_url, tmp_path):
    """Two `hqueue worker` processes, the `hqueue dashboard` server and a browser (started
    while the processes boot); yields ``(dashboard_base_url, browser)``, stops all after."""
    env = dict(os.environ, HQUEUE_URL=redis_url, HQUEUE_SECRET=SECRET)
    procs: list[subprocess.Popen] = []
    port = free_port()
    with open(tmp_path / "dashboard.log", "wb") as log:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "hqueue.cli", "dashboard", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT))
    for i in range(2):
        with open(tmp_path / f"worker-{i}.log", "wb") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "hqueue.cli", "worker", "--pool", "solo",
                 "--loglevel", "WARNING"], env=env, stdout=log, stderr=subprocess.STDOUT))
    base = f"http://127.0.0.1:{port}"
    browser, profile = None, None
    try:
        browser, profile = new_browser()

        def answers() -> bool:
            assert procs[0].poll() is None, (tmp_path / "dashboard.log").read_text()
            try:
                with urllib.request.urlopen(base + "/api/workers", timeout=5):
                    return True
            except OSError:
                return False

        wait_until(answers, "the dashboard to listen")
        yield base, browser
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        if browser is not None:
            browser.quit()
        if profile is not None:
            shutil.rmtree(profile, ignore_errors=True)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def start_search(url: str, gate: Path) -> tuple[threading.Thread, list[BaseException]]:
    """fmin on RedisTrials in a thread: N_TRIALS short trials reporting 3 steps each; trial 0
    reports one step, then waits until ``gate`` exists (so the test can watch it run)."""
    from hqueue.pyll import rec_eval

    gate_path = str(gate)

    def objective(expr, memo, ctrl):
        cfg = rec_eval(expr, memo=memo)
        loss = (cfg["x"] - 0.7) ** 2 + (0.0 if cfg["kind"]["name"] == "a" else cfg["kind"]["y"])
        if ctrl.current_trial["tid"] == 0:
            ctrl.report(loss * 2, step=1)
            deadline = time.monotonic() + 120  # a safety net only: the test opens the gate
            while not os.path.exists(gate_path) and time.monotonic() < deadline:
                time.sleep(0.05)
        for step in range(1, 4):
            time.sleep(0.08)
            ctrl.report(loss * (1 + 1.0 / step), step=step)
        return {"loss": loss, "status": STATUS_OK}

    objective.fmin_pass_expr_memo_ctrl = True
    space = {"x": hp.uniform("x", -2, 2),
             "kind": hp.choice("kind", [{"name": "a"}, {"name": "b", "y": hp.uniform("y", 0, 1)}])}
    errors: list[BaseException] = []

    def drive() -> None:
        try:
            fmin(objective, space, algo=tpe.suggest, max_evals=N_TRIALS,
                 trials=RedisTrials(url, exp_key=EXP, lease_s=15), max_queue_len=2,
                 rstate=np.random.default_rng(3), show_progressbar=False)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    thread = threading.Thread(target=drive, name="driver", daemon=True)
    thread.start()
    return thread, errors


def count(browser, element_id: str) -> int | None:
    text = browser.find_element(By.ID, element_id).text.strip("() ")
    return int(text) if text.isdigit() else None


def table_losses(browser) -> list[float | None]:
    """The loss column of the trials table, read in one script (the page may redraw it)."""
    cells = browser.execute_script("""
        const col = Array.from(document.querySelectorAll('#trials th'))
          .findIndex(th => th.dataset.col === 'loss');
        return Array.from(document.querySelectorAll('#trials tbody tr'))
          .map(tr => tr.children[col] ? tr.children[col].textContent : null);""")
    return [float(c) if c else None for c in cells]


def header_class(browser, column: str) -> str:
    return browser.execute_script(
        "const th = document.querySelector(`#trials th[data-col='${arguments[0]}']`);"
        "return th ? th.className : '';", column)


def test_the_page_follows_a_live_search_sorts_and_draws_the_chart(
        redis_url, stack, tmp_path, monkeypatch):
    monkeypatch.setenv("HQUEUE_SECRET", SECRET)
    base, browser = stack
    browser.get(base + "/")
    wait_until(lambda: "no experiment yet" in browser.find_element(By.ID, "experiments").text,
               "the empty experiments list")

    gate = tmp_path / "let-trial-0-finish"
    driver, errors = start_search(redis_url, gate)
    link = wait_until(lambda: browser.find_elements(By.LINK_TEXT, EXP), "the experiment to appear")
    link[0].click()
    wait_until(lambda: browser.current_url.endswith(f"/experiments/{EXP}"), "the experiment page")
    browser.execute_script("window.__not_reloaded = true;")

    # while the search runs (trial 0 waits for the gate), running trials show their partial
    # results and the trial count grows without a reload
    wait_until(lambda: "step=1" in browser.find_element(By.ID, "running").text,
               "trial 0's partial result")
    first = wait_until(lambda: count(browser, "trials-count"), "the first trials")
    wait_until(lambda: (count(browser, "trials-count") or 0) > first, "the count to grow")
    assert driver.is_alive()
    assert browser.execute_script("return window.__not_reloaded === true;")
    gate.touch()

    driver.join(timeout=60)
    assert not driver.is_alive() and not errors, errors
    conn = redis.Redis.from_url(redis_url)
    in_redis = conn.zcard(ExperimentKeys(EXP).tids)
    conn.close()
    assert in_redis == N_TRIALS
    wait_until(lambda: count(browser, "trials-count") == in_redis, "the final count")
    wait_until(lambda: browser.find_element(By.ID, "c-done").text == str(N_TRIALS),
               "every trial shown done")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#trials tbody tr")) == N_TRIALS
    assert browser.execute_script("return window.__not_reloaded === true;")

    # sorting: click the loss column header, ascending
    best = min(t["result"]["loss"] for t in RedisTrials(redis_url, exp_key=EXP).trials)
    browser.find_element(By.CSS_SELECTOR, "#trials th[data-col='loss']").click()
    wait_until(lambda: "asc" in header_class(browser, "loss"), "sorted by loss")
    losses = wait_until(lambda: (v := table_losses(browser)) and v == sorted(v) and v, "rows")
    assert len(losses) == N_TRIALS and losses[0] == pytest.approx(best, rel=1e-3)
    assert browser.find_element(By.ID, "c-best").text and float(
        browser.find_element(By.ID, "c-best").text) == pytest.approx(best, rel=1e-3)

    # the chart drew points and the best-so-far line (orange pixels only come from that line)
    drawn = browser.execute_script("""
        const c = document.getElementById('chart');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let ink = 0, orange = 0;
        for (let i = 0; i < d.length; i += 4) {
          if (d[i + 3] > 0) ink++;
          const [r, g, b, a] = [d[i], d[i + 1], d[i + 2], d[i + 3]];
          if (r > 180 && g > 70 && g < 130 && b < 90 && a > 200) orange++;
        }
        return [c.clientWidth, c.clientHeight, ink, orange];""")
    width, height, ink, orange = drawn
    assert width > 300 and height > 200 and ink > 1000 and orange > 50, drawn

    png = browser.get_screenshot_as_png()
    shot = tmp_path / "dashboard.png"
    shot.write_bytes(png)
    import matplotlib.image

    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3]
    assert pixels.shape[0] > 500 and pixels.shape[1] > 1000
    assert pixels.std() > 0.05  # not a blank page
    assert Path(shot).stat().st_size > 20_000
