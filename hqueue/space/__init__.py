"""Search spaces: the ``hp`` constructors and the compiler algorithms work from.

Example:
    >>> from hqueue.space import hp, compile_space
    >>> compile_space({"x": hp.uniform("x", 0, 1)}).labels
    ('x',)
"""

from __future__ import annotations

from . import hp
from .compiled import ALWAYS, CompiledSpace, Param, compile_space
from .distributions import Categorical, Numeric

__all__ = ["ALWAYS", "Categorical", "CompiledSpace", "Numeric", "Param", "compile_space", "hp"]
