"""The dashboard's trial view shows a trial's captured output (issue 13 item 6): a real
browser clicks a trial of a search run by real ``hqueue worker`` processes.

Needs Debian's chromium and chromedriver, like ``test_dashboard_browser.py`` (skipped
without them); reuses its ``stack`` fixture (dashboard server, two workers, a browser).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("flask")
pytest.importorskip("selenium.webdriver")

from selenium.webdriver.common.by import By  # noqa: E402
from test_dashboard_browser import SECRET, stack, wait_until  # noqa: E402, F401

from hqueue import fmin, hp, rand  # noqa: E402
from hqueue.backends.redis.trials import RedisTrials  # noqa: E402

EXP = "browser-output"


def test_clicking_a_trial_shows_its_captured_output(redis_url, stack, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HQUEUE_SECRET", SECRET)
    base, browser = stack

    def chatty(x: float) -> float:  # defined here: pickled by value (workers lack tests/)
        print(f"hello from the objective, x={x:.4f}")
        return x ** 2

    trials = RedisTrials(redis_url, exp_key=EXP)
    fmin(chatty, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=3, trials=trials,
         rstate=np.random.default_rng(1), show_progressbar=False)
    x = {t["tid"]: t["misc"]["vals"]["x"][0] for t in trials.trials}
    browser.get(f"{base}/experiments/{EXP}")
    row = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR,
                                                   "#trials tbody tr[data-tid='1']"),
                     "trial 1 in the table")
    assert not browser.find_element(By.ID, "trial-view").is_displayed()
    row[0].find_elements(By.TAG_NAME, "td")[0].click()
    wait_until(lambda: browser.find_element(By.ID, "trial-view").is_displayed(),
               "the trial output panel")
    text = wait_until(lambda: browser.find_element(By.ID, "trial-output").text, "the output")
    assert text.strip() == f"hello from the objective, x={x[1]:.4f}"
    assert browser.find_element(By.ID, "output-tid").text == "1"
