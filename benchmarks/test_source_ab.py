"""Checks of the ``source_ab`` benchmark: each tree's hqueue is the one imported, the table's
ratio, and a smallest interleaved run of this checkout against itself.

Run: ``.venv/bin/python -m pytest benchmarks/test_source_ab.py``
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks import source_ab


def test_a_measurement_imports_the_hqueue_of_its_source_tree(tmp_path):
    tree = tmp_path / "tree"
    (tree / "hqueue").mkdir(parents=True)
    root = source_ab.import_root(str(tree), tmp_path)
    assert (root / "hqueue").resolve() == (tree / "hqueue").resolve()
    assert (root / "benchmarks").resolve() == Path(source_ab.__file__).resolve().parent
    assert source_ab.import_root(str(tree), tmp_path) == root  # made once per tree


def test_the_table_gives_medians_and_new_over_old():
    args = argparse.Namespace(old="a", new="b", rounds=3, trials=10, tpe_size=5, tpe_reps=2,
                              workloads=["serial"], load=(1.0, 2.0))
    times = {("serial", "old"): [{"wall": w, "cpu": w / 2} for w in (1.0, 2.0, 9.0)],
             ("serial", "new"): [{"wall": w, "cpu": w / 2} for w in (3.0, 1.0, 4.0)]}
    text = source_ab.render(times, args)
    assert "| serial | wall s | 2 | 3 | 1.5 |" in text
    assert "| serial | cpu s | 1 | 1.5 | 1.5 |" in text


def test_an_interleaved_run_of_this_checkout_against_itself(tmp_path):
    repo = str(Path(source_ab.__file__).resolve().parent.parent)
    args = argparse.Namespace(old=repo, new=repo, rounds=2, trials=20, tpe_size=12, tpe_reps=1,
                              workloads=["serial", "tpe"], scratch=tmp_path)
    times = source_ab.run(args)
    assert sorted(times) == [("serial", "new"), ("serial", "old"), ("tpe", "new"),
                             ("tpe", "old")]
    assert all(len(runs) == 2 and runs[0]["cpu"] > 0 for runs in times.values())
