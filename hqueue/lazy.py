"""Submodules imported on first use (PEP 562), for the algorithm modules that pull in SciPy.

``import scipy.stats`` and ``scipy.special`` take about a second on a loaded machine, and every
worker process and CLI command paid it at ``import hqueue`` although neither runs a search
algorithm. A package lists such submodules here; ``hqueue.tpe`` and ``from hqueue import tpe``
still work, importing the module when first touched.

Example:
    >>> getattr_, dir_ = lazy_submodules("hqueue.algos", {"tpe"}, {})
    >>> getattr_("tpe").__name__
    'hqueue.algos.tpe'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, MutableMapping
from types import ModuleType
from typing import Any


def lazy_submodules(package: str, names: set[str] | frozenset[str],
                    namespace: MutableMapping[str, Any],
                    ) -> tuple[Callable[[str], ModuleType], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` that import ``names`` on first access.

    ``namespace`` is the package's ``globals()``: an imported module is stored there, so later
    accesses are plain attribute lookups.
    """
    lazy = frozenset(names)

    def getattr_(name: str) -> ModuleType:
        if name in lazy:
            module = importlib.import_module(f"{package}.{name}")
            namespace[name] = module
            return module
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def dir_() -> list[str]:
        return sorted(set(namespace) | lazy)

    return getattr_, dir_
