#!/usr/bin/env python
"""Write a throwaway ``hqueue`` package that re-exports hyperopt 0.3.0.

The compatibility suite in ``tests/compat`` and ``tests/seeds`` imports only from
``hqueue``'s public modules. Running it against this shim (with hyperopt standing in
for hqueue) proves that every test encodes hyperopt's real behaviour::

    python tests/compat/make_hyperopt_shim.py /tmp/shim
    PYTHONPATH=/tmp/shim .venv-bench/bin/python -m pytest tests/compat tests/seeds

The shim sets ``hqueue.__hqueue_shim__ = True``; tests marked ``hqueue_only`` (behaviour
hqueue promises beyond hyperopt 0.3.0) are skipped under it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SHIM_INIT = '''"""hqueue shim: hyperopt 0.3.0 under hqueue's names (for validating tests only)."""
import importlib as _importlib
import sys as _sys

import hyperopt as _hyperopt
from hyperopt import *  # noqa: F401,F403
from hyperopt import (  # noqa: F401
    JOB_STATE_DONE, JOB_STATE_ERROR, JOB_STATE_NEW, JOB_STATE_RUNNING, JOB_STATES,
    STATUS_FAIL, STATUS_NEW, STATUS_OK, STATUS_RUNNING, STATUS_STRINGS, STATUS_SUSPENDED,
    Ctrl, Domain, Trials, anneal, exceptions, fmin, fmin_pass_expr_memo_ctrl, hp, mix,
    partial, rand, space_eval, tpe, trials_from_docs,
)
from hyperopt.base import JOB_STATE_CANCEL  # noqa: F401

__hqueue_shim__ = True
__version__ = _hyperopt.__version__

_SUBMODULES = (
    "hp", "pyll", "pyll.base", "pyll.stochastic", "fmin", "base", "early_stop",
    "exceptions", "tpe", "rand", "anneal", "mix", "progress", "plotting", "pyll_utils",
    "utils", "algobase", "atpe", "criteria", "vectorize",
)
for _name in _SUBMODULES:
    try:
        _mod = _importlib.import_module("hyperopt." + _name)
    except ImportError:  # e.g. plotting without matplotlib
        continue
    _sys.modules[__name__ + "." + _name] = _mod
    if "." not in _name and _name not in ("fmin",):
        # hyperopt.fmin (the attribute) is the function, not the module: keep that.
        globals()[_name] = _mod
del _name, _mod
'''


# ``python -m pytest`` run from the repository root puts the checkout (and so the real
# ``hqueue/``) first on sys.path. A sitecustomize next to the shim imports the shim at
# interpreter start-up, so ``sys.modules["hqueue"]`` is the shim whatever sys.path becomes.
SITECUSTOMIZE = """import sys as _sys

_here = {here!r}
_sys.path.insert(0, _here)
try:
    import hqueue as _hqueue  # noqa: F401  (the shim, pinned in sys.modules)
finally:
    _sys.path.remove(_here)
"""


def write_shim(target: Path) -> Path:
    """Create ``target/hqueue/__init__.py`` and ``target/sitecustomize.py``."""
    target = target.resolve()
    pkg = target / "hqueue"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text(SHIM_INIT)
    (target / "sitecustomize.py").write_text(SITECUSTOMIZE.format(here=str(target)))
    return pkg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", help="where to write the shim (put it on PYTHONPATH)")
    args = parser.parse_args(argv)
    pkg = write_shim(Path(args.directory))
    print(
        f"wrote {pkg}; run: PYTHONPATH={args.directory} python -m pytest tests/compat tests/seeds"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
