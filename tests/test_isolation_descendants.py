"""How a trial's leftover processes are found: the worker's own descendants from /proc's
children files (not a scan of every process on the machine), the same set psutil finds."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from hqueue.worker import isolation

pytestmark = pytest.mark.skipif(isolation.descendant_pids(os.getpid()) is None,
                                reason="no /proc/PID/task/TID/children on this kernel")


def _tree() -> subprocess.Popen:
    """A child that starts a grandchild, both sleeping."""
    code = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
            "'import time; time.sleep(60)']); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 30
    while not psutil.Process(proc.pid).children() and time.monotonic() < deadline:
        time.sleep(0.05)  # until the grandchild exists
    return proc


def test_descendants_are_the_ones_psutil_finds_grandchildren_included():
    before = set(isolation.descendant_pids(os.getpid()))
    proc = _tree()
    try:
        found = set(isolation.descendant_pids(os.getpid())) - before
        assert found == {p.pid for p in psutil.Process().children(recursive=True)} - before
        assert proc.pid in found and len(found) == 2
    finally:
        isolation.kill_leftover_children(keep=before)


def test_leftover_children_are_killed_grandchildren_included():
    before = set(isolation.descendant_pids(os.getpid()))
    proc = _tree()
    killed = isolation.kill_leftover_children(keep=before)
    assert proc.pid in killed and len(killed) == 2
    assert set(isolation.descendant_pids(os.getpid())) == before


def test_no_scan_of_every_process_when_the_trial_left_nothing(monkeypatch):
    keep = set(isolation.descendant_pids(os.getpid()))

    def refuse(*args, **kwargs):
        raise AssertionError("psutil scanned the machine's processes")

    monkeypatch.setattr(psutil.Process, "children", refuse)
    assert isolation.kill_leftover_children(keep=keep) == []
    with isolation.trial_scope():
        pass
