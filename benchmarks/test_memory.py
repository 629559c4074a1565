"""A ``--quick``-style smoke run of the ``memory`` benchmark on a small experiment.

Run: ``.venv-bench/bin/python -m pytest benchmarks/test_memory.py``
"""

from __future__ import annotations

import re

import pytest

from benchmarks.__main__ import main
from benchmarks.memory import done_doc_chunks

pytest.importorskip("hyperopt")
pytest.importorskip("optuna")
pytest.importorskip("hqueue")


def _redis_or_skip() -> None:
    from hqueue.backends.redis.server import find_redis_server

    try:
        find_redis_server()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no redis-server: {exc}")


def test_generated_trials_are_finished_and_numbered_once() -> None:
    docs = [d for chunk in done_doc_chunks("hqueue", 2500) for d in chunk]
    assert [d["tid"] for d in docs] == list(range(2500))
    assert {d["state"] for d in docs} == {2}
    assert all(d["result"]["status"] == "ok" and d["result"]["loss"] >= 0 for d in docs)


def test_small_run_reports_every_holder(tmp_path) -> None:
    _redis_or_skip()
    argv = ["memory", "--trials", "300", "--changed", "20", "--no-suggest", "--out",
            str(tmp_path)]
    assert main(argv) == 0
    text = (tmp_path / "memory.md").read_text()
    for row in ("| hqueue (RedisTrials store) |", "| Optuna JournalRedisStorage |",
                "| hqueue RedisTrials mirror + sampler history |", "| hyperopt 0.3.0 Trials |",
                "| Optuna in-memory study |", "refresh(), 20 new trials finished"):
        assert row in text
    assert (tmp_path / "memory.png").stat().st_size > 0
    per_trial = re.search(r"\| hqueue \(RedisTrials store\) \| (\d+) \| (\d+) \|", text)
    assert per_trial and int(per_trial.group(2)) > 100  # a trial hash holds a whole document
