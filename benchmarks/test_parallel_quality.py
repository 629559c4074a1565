"""Checks of the ``parallel_quality`` simulation and a ``--quick`` smoke run of the benchmark.

Run: ``.venv-bench/bin/python -m pytest benchmarks/test_parallel_quality.py``
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.__main__ import main
from benchmarks.parallel_quality_sim import HyperoptLikeDriver, simulate
from benchmarks.problems import get_problem

pytest.importorskip("hyperopt")
pytest.importorskip("optuna")
pytest.importorskip("hqueue")

BRANIN = get_problem("branin")


@pytest.mark.parametrize("algo", ["hqueue_liar", "hyperopt_tpe", "optuna_tpe_cl"])
def test_simulation_keeps_w_minus_one_trials_pending(algo: str) -> None:
    run = simulate(algo, BRANIN, workers=4, budget=30, seed=0)
    assert len(run.losses) == 30
    assert np.all(np.diff(run.finish_times) >= 0)  # results come back in completion order
    # the first four are suggested together on an empty experiment; every refill after that
    # happens while the other three are still running
    assert (run.pending_seen == 0).sum() == 4
    assert (run.pending_seen == 3).sum() == 26


def test_one_worker_is_a_serial_search() -> None:
    run = simulate("hqueue_liar", BRANIN, workers=1, budget=25, seed=1)
    assert run.pending_seen.tolist() == [0] * 25
    assert np.allclose(np.diff(run.finish_times) > 0, True)


def test_every_algorithm_meets_the_same_durations() -> None:
    times = [simulate(a, BRANIN, workers=4, budget=24, seed=2).finish_times
             for a in ("hqueue_liar", "hqueue_ignore", "optuna_tpe_cl")]
    assert np.array_equal(times[0], times[1]) and np.array_equal(times[0], times[2])


def test_pending_policy_matters_only_with_pending_trials() -> None:
    serial = [simulate(a, BRANIN, workers=1, budget=30, seed=3).losses
              for a in ("hqueue_liar", "hqueue_ignore")]
    parallel = [simulate(a, BRANIN, workers=8, budget=30, seed=3).losses
                for a in ("hqueue_liar", "hqueue_ignore")]
    assert np.array_equal(serial[0], serial[1])
    assert not np.array_equal(parallel[0], parallel[1])


@pytest.mark.parametrize("algo", ["hqueue_liar", "hyperopt_tpe"])
def test_suggested_trials_are_running_documents_in_the_trials(algo: str) -> None:
    driver = HyperoptLikeDriver(algo, BRANIN, seed=0)
    handles = driver.suggest(3)
    states = [d["state"] for d in driver.trials.trials]
    assert states == [driver.mod.JOB_STATE_RUNNING] * 3
    driver.finish(handles[0][0], 1.5)
    assert [d["state"] for d in driver.trials.trials][0] == driver.mod.JOB_STATE_DONE


def test_quick_run_writes_the_report_and_resumes_from_its_cache(tmp_path, capsys) -> None:
    argv = ["parallel_quality", "--quick", "--out", str(tmp_path), "--problems", "branin",
            "--algos", "hqueue_liar,optuna_tpe_cl", "--seeds", "1", "--budgets", "24"]
    assert main(argv) == 0
    text = (tmp_path / "parallel_quality.md").read_text()
    for heading in ("Mean rank over problems", "Wall-time speedup", "### branin, budget 24"):
        assert heading in text
    assert (tmp_path / "parallel_quality.png").stat().st_size > 0
    assert (tmp_path / "parallel_quality_time.png").stat().st_size > 0
    record = json.loads(next((tmp_path / "raw" / "parallel").rglob("seed0.json")).read_text())
    assert len(record["losses"]) == 24
    capsys.readouterr()
    assert main(argv) == 0
    assert "4 cached, 0 to do" in capsys.readouterr().out


def test_unknown_algorithm_is_refused_with_the_valid_names(tmp_path) -> None:
    with pytest.raises(ValueError, match="choose from hqueue_liar"):
        main(["parallel_quality", "--quick", "--out", str(tmp_path), "--algos", "nope"])


def test_real_workers_run_the_same_search(tmp_path) -> None:
    from hqueue.backends.redis.server import find_redis_server

    try:
        find_redis_server()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no redis-server: {exc}")
    argv = ["parallel_quality", "--quick", "--out", str(tmp_path), "--problems", "branin",
            "--algos", "hqueue_liar", "--workers", "2", "--seeds", "1", "--budgets", "8",
            "--real", "--real-problems", "branin", "--real-algos", "hqueue_liar",
            "--real-workers", "2", "--real-budget", "8", "--real-unit", "0.02"]
    assert main(argv) == 0
    text = (tmp_path / "parallel_quality.md").read_text()
    assert "## Real workers (W=2, 8 evaluations" in text
    row = next(line for line in text.splitlines() if line.startswith("| branin | hqueue_liar |"))
    assert row.count("(n=1)") == 2  # the real and the simulated sample side by side
    record = json.loads(next((tmp_path / "raw" / "parallel_real").rglob("seed0.json")).read_text())
    assert len(record["losses"]) == 8 and record["max_running"] <= 2


def _share_near_running(mod, algo, n_running: int) -> float:
    """Share of 100 suggestions within 0.05 of x=0.5, where the best finished trials are and
    where ``n_running`` trials are still running."""
    trials = mod.Trials()
    domain = mod.Domain(lambda c: 0.0, {"x": mod.hp.uniform("x", 0, 1)})
    xs = list(np.random.default_rng(0).uniform(0, 1, 30)) + [0.5] * n_running
    docs = []
    for i, x in enumerate(xs):
        misc = {"tid": i, "cmd": None, "workdir": None, "idxs": {"x": [i]}, "vals": {"x": [x]}}
        doc = trials.new_trial_docs([i], [None], [{"status": "new"}], [misc])[0]
        if i < 30:
            doc["state"] = mod.JOB_STATE_DONE
            doc["result"] = {"loss": (x - 0.5) ** 2, "status": "ok"}
        else:
            doc["state"] = mod.JOB_STATE_RUNNING
        docs.append(doc)
    trials.insert_trial_docs(docs)
    trials.refresh()
    picks = [algo(trials.new_trial_ids(1), domain, trials, seed)[0]["misc"]["vals"]["x"][0]
             for seed in range(100)]
    return float(np.mean(np.abs(np.array(picks) - 0.5) < 0.05))


def test_hyperopt_tpe_treats_running_trials_as_bad_observations() -> None:
    """What the ``hyperopt_tpe`` column measures: hyperopt 0.3.0 gives RUNNING trials an
    infinite loss, so it steers away from them (it does not ignore them)."""
    import hyperopt

    assert _share_near_running(hyperopt, hyperopt.tpe.suggest, 0) > 0.8
    assert _share_near_running(hyperopt, hyperopt.tpe.suggest, 10) < 0.1
