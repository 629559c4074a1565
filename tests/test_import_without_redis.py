"""The in-process API needs neither redis-py nor celery: ``import hqueue`` and a search with the
in-memory ``Trials`` run in an interpreter where importing them fails."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# ``sys.modules[name] = None`` makes ``import name`` raise ImportError in that interpreter
_SCRIPT = textwrap.dedent("""
    import sys
    for name in ("redis", "celery", "kombu"):
        sys.modules[name] = None
    import numpy as np
    import hqueue
    from hqueue import Trials, fmin, hp, tpe
    trials = Trials()
    best = fmin(lambda x: (x - 1) ** 2, hp.uniform("x", -3, 3), algo=tpe.suggest,
                max_evals=15, trials=trials, rstate=np.random.default_rng(0),
                show_progressbar=False)
    trials.attachments["note"] = b"kept in memory"
    loaded = sorted({m.split(".")[0] for m in sys.modules if sys.modules[m] is not None}
                    & {"redis", "celery", "kombu"})
    print(len(trials), "x" in best, loaded)
""")


def test_import_hqueue_and_a_serial_search_need_neither_redis_nor_celery():
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["15", "True", "[]"]
