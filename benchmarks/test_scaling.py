"""Checks of the ``scaling`` benchmark: sizes, efficiency maths, tables, and a smallest sweep.

Run: ``.venv-bench/bin/python -m pytest benchmarks/test_scaling.py``
"""

from __future__ import annotations

import pytest

from benchmarks.__main__ import main
from benchmarks.dispatch import Run
from benchmarks.scaling import default_workers, trials_for
from benchmarks.scaling_report import Results, cells_for, render


def _run(trials: int, seconds: float, rest: float | None = 0.0, rep: int = 0) -> Run:
    cpu = {"client": 0.1, "workers": 0.2, "redis": 0.05, "rest": rest}
    return Run(seconds, trials, cpu, {}, rep=rep)


def _sweep() -> Results:
    """1 and 4 workers, trivial and 0.1 s objectives, hqueue and its two peers."""
    res = Results([1, 4], [0.0, 0.1], ["celery", "hqueue_rand", "optuna_random"])
    for key, trivial_rates in (
        ("celery", (200, 300)),
        ("hqueue_rand", (100, 300)),
        ("optuna_random", (400, 240)),
    ):
        for w, rate in zip((1, 4), trivial_rates):
            res.add(0.0, w, key, _run(400, 400 / rate))
    for key, rates in (("celery", (9.5, 38)), ("hqueue_rand", (9, 36)), ("optuna_random", (9, 30))):
        for w, rate in zip((1, 4), rates):
            res.add(0.1, w, key, _run(80, 80 / rate))
    return res


def test_default_workers_are_powers_of_two_up_to_the_core_count() -> None:
    assert default_workers(1) == [1]
    assert default_workers(2) == [1, 2]
    assert default_workers(6) == [1, 2, 4, 6]
    assert default_workers(16) == [1, 2, 4, 8, 16]


@pytest.mark.parametrize("workers", [1, 2, 3, 4, 8, 16])
@pytest.mark.parametrize("objective_s", [0.05, 0.1, 0.5])
def test_sleep_runs_last_two_ideal_seconds_and_split_evenly(workers: int, objective_s: float):
    n = trials_for(workers, objective_s)
    assert n % workers == 0
    assert n * objective_s / workers >= 2.0 - 1e-9
    assert n >= 40


def test_trial_counts_follow_the_brief_for_the_tenth_second_objective() -> None:
    assert [trials_for(w, 0.1) for w in (1, 2, 4, 8, 16)] == [40, 40, 80, 160, 320]
    assert trials_for(3, 0.1, fixed=10) == 12  # rounded up to a multiple of W


def test_efficiency_is_measured_over_workers_per_objective_second() -> None:
    res = _sweep()
    assert res.efficiency(0.1, 4, "hqueue_rand") == pytest.approx(36 / 40)
    assert res.efficiency(0.1, 1, "celery") == pytest.approx(0.95)
    assert res.efficiency(0.0, 4, "celery") is None  # a trivial objective has no ideal


def test_speedup_is_against_one_worker_of_the_same_system() -> None:
    res = _sweep()
    assert res.speedup(0.0, 4, "hqueue_rand") == pytest.approx(3.0)
    assert res.speedup(0.0, 4, "optuna_random") == pytest.approx(0.6)


def test_overhead_is_worker_time_per_trial_minus_the_objective() -> None:
    res = _sweep()
    assert res.overhead_ms(0.1, 4, "hqueue_rand") == pytest.approx(1e3 * (4 / 36 - 0.1))
    assert res.overhead_ms(0.0, 1, "hqueue_rand") == pytest.approx(10.0)


def test_missing_cells_give_no_figure_instead_of_an_error() -> None:
    res = Results([1, 2], [0.1], ["celery", "hqueue_rand"])
    res.add(0.1, 1, "celery", _run(40, 4.0))
    assert res.rate(0.1, 2, "celery") is None
    assert res.ratio(0.1, 1, "hqueue_rand", "celery") is None
    assert "| 2 | 20.0 | - | - |" in render(res, cores=2)


def test_tpe_cells_run_with_the_trivial_objective_only() -> None:
    cells = ["celery", "hqueue_tpe", "optuna_tpe", "hqueue_rand"]
    assert cells_for(cells, 0.1) == ["celery", "hqueue_rand"]
    assert cells_for(cells, 0.0) == cells


def test_report_tables_hold_rates_efficiency_speedup_and_ratios() -> None:
    text = render(_sweep(), cores=2)
    assert "| 4 | 38.0 (38.0-38.0) | 36.0 (36.0-36.0) | 30.0 (30.0-30.0) |" in text
    assert "| 4 | 40.0 | 95 | 90 | 75 |" in text  # efficiency, %
    assert "| 4 | 1.50x (38%) | 3.00x (75%) | 0.60x (15%) |" in text  # speedup vs W=1
    assert "| 4 | 0.95 | 1.20 |" in text  # 0.1 s: hqueue/Celery 36/38, hqueue/Optuna 36/30
    assert "| 1 | 0.50 | 0.25 |" in text  # trivial: 100/200, 100/400
    assert "measure contention, not scaling" in text  # 4 workers on 2 cores


def test_report_does_not_warn_of_contention_within_the_cores() -> None:
    assert "contention" not in render(_sweep(), cores=4)


def test_all_runs_table_shows_competing_load_in_cores() -> None:
    res = Results([1], [0.1], ["celery"])
    res.add(0.1, 1, "celery", _run(40, 4.0, rest=2.0))
    res.add(0.1, 1, "celery", _run(40, 4.0, rest=None, rep=1))
    text = render(res, cores=2)
    assert "| 0.1 | 1 | bare Celery | 1 | 40 | 10.0 | 4.00 | 8.75 | 0.50 |" in text
    assert "| 0.1 | 1 | bare Celery | 2 | 40 | 10.0 | 4.00 | 8.75 | n/a |" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--workers", "0"], "--workers"),
        (["--objective-s", "-1"], "--objective-s"),
        (["--cells", "celery,nope"], "unknown cells"),
    ],
)
def test_bad_options_stop_with_a_one_line_error(argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        main(["scaling", *argv])


def test_smallest_sweep_writes_every_table_and_the_plot(tmp_path) -> None:
    pytest.importorskip("optuna")
    pytest.importorskip("celery")
    from hqueue.backends.redis.server import find_redis_server

    try:
        find_redis_server()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no redis-server: {exc}")
    argv = [
        "scaling",
        "--workers",
        "1",
        "--objective-s",
        "0,0.05",
        "--trials",
        "6",
        "--reps",
        "1",
        "--out",
        str(tmp_path),
    ]
    assert main(argv) == 0
    text = (tmp_path / "scaling.md").read_text()
    assert "FAILED" not in text
    assert "python -m benchmarks scaling --workers 1 --objective-s 0,0.05" in text
    assert "| workers | bare Celery | hqueue rand | Optuna random |" in text
    assert "| workers | ideal trials/s | bare Celery | hqueue rand | Optuna random |" in text
    assert "| 1 | 20.0 |" in text  # the ideal of one worker on a 0.05 s objective
    assert "load average (1, 5, 15 min) at end" in text
    assert (tmp_path / "scaling.png").stat().st_size > 0
