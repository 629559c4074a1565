"""Checks of ``driver_capacity``'s phase clock: nested phases are counted exclusively.

Run: ``.venv/bin/python -m pytest benchmarks/test_sim_workers.py``
"""

from __future__ import annotations

import pytest

from benchmarks import sim_workers
from benchmarks.sim_workers import PhaseClock


@pytest.fixture
def ticks(monkeypatch):
    """A fake perf_counter that advances only when told."""
    now = [0.0]
    monkeypatch.setattr(sim_workers.time, "perf_counter", lambda: now[0])
    return now


def test_a_nested_phase_is_counted_to_itself_only(ticks):
    clock = PhaseClock()
    with clock.phase("suggest"):
        ticks[0] += 1.0
        with clock.phase("pull"):
            ticks[0] += 2.0
        ticks[0] += 0.5
    assert clock.seconds == {"suggest": 1.5, "pull": 2.0}
    shares = clock.shares(5.0, phases=("suggest", "pull"))
    assert shares == pytest.approx({"suggest": 0.3, "pull": 0.4, "other": 0.3})


def test_wrap_times_every_call_and_undo_restores_the_method(ticks):
    class Loop:
        def step(self, n):
            ticks[0] += n
            return n

    original = Loop.__dict__["step"]
    clock = PhaseClock()
    undo = clock.wrap(Loop, "step", "wait")
    assert Loop().step(2.0) == 2.0 and Loop().step(1.0) == 1.0
    assert clock.seconds == {"wait": 3.0}
    undo()
    assert Loop.__dict__["step"] is original
