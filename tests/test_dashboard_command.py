"""``hqueue dashboard`` as a command: registered, lazy about Flask, clear without the extra."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from hqueue.cli import main


def test_dashboard_is_an_hqueue_command_with_an_example():
    result = CliRunner().invoke(main, ["dashboard", "--help"])
    assert result.exit_code == 0
    assert "hqueue dashboard --url redis://127.0.0.1:6379/0" in result.output
    assert "HQUEUE_DASHBOARD_TOKEN" in result.output


def test_hqueue_help_does_not_import_the_web_framework():
    code = ("import sys, hqueue.cli; "
            "print(sorted(m for m in ('flask', 'waitress', 'werkzeug') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_without_the_extra_it_says_which_pip_install_fixes_it(redis_url, monkeypatch):
    monkeypatch.setitem(sys.modules, "flask", None)  # what a missing package looks like
    result = CliRunner().invoke(main, ["dashboard", "--url", redis_url, "--port", "0"])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert "pip install 'hqueue[dashboard]'" in line
