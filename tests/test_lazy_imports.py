"""SciPy is imported only by the algorithm modules, on first use (hqueue.lazy): a worker process
or a CLI command starts without it."""

from __future__ import annotations

import subprocess
import sys

import pytest


def modules_after(code: str) -> set[str]:
    script = f"{code}\nimport sys\nprint(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    return set(out.split())


@pytest.mark.parametrize("module", ["hqueue", "hqueue.worker.app", "hqueue.worker.runner",
                                    "hqueue.cli"])
def test_importing_the_worker_or_the_cli_does_not_import_scipy(module):
    loaded = modules_after(f"import {module}")
    assert not {m for m in loaded if m == "scipy" or m.startswith("scipy.")}


def test_the_algorithm_modules_import_on_first_access():
    loaded = modules_after("import hqueue\n"
                           "assert hqueue.tpe.suggest and hqueue.criteria.EI_empirical")
    assert {"hqueue.algos.tpe", "hqueue.criteria", "scipy.special"} <= loaded


def test_from_import_and_dir_still_see_the_lazy_modules():
    import hqueue
    from hqueue import anneal, atpe, mix, tpe  # noqa: F401
    from hqueue.algos import tpe as algos_tpe

    assert {"anneal", "atpe", "criteria", "mix", "tpe"} <= set(dir(hqueue))
    assert tpe.suggest is hqueue.tpe.suggest and algos_tpe.suggest is tpe.suggest
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        hqueue.nope  # noqa: B018
