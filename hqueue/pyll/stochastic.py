"""Random distributions of the expression language, and :func:`sample`.

Each distribution is a scope function taking ``rng`` (a ``numpy.random.Generator``) and
``size``; :func:`sample` evaluates a whole space with one generator.

Example:
    >>> import numpy as np
    >>> from hqueue import hp
    >>> from hqueue.pyll.stochastic import sample
    >>> cfg = sample({"x": hp.uniform("x", 0, 1)}, rng=np.random.default_rng(0))
    >>> 0 <= cfg["x"] <= 1
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import as_apply, rec_eval, scope

RANDOM_NODES = frozenset({
    "uniform", "quniform", "loguniform", "qloguniform", "normal", "qnormal",
    "lognormal", "qlognormal", "randint", "randint_via_categorical", "categorical",
})


def _rng(rng: Any) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.RandomState):  # legacy callers
        return np.random.default_rng(rng.randint(2**31 - 1))
    return rng


def _shape(x: Any, size: Any) -> Any:
    if size == () or size is None:
        return float(np.asarray(x).reshape(-1)[0]) if np.ndim(x) else float(x)
    return x


@scope.define
def uniform(low: float, high: float, rng: Any = None, size: Any = ()) -> Any:
    return _shape(_rng(rng).uniform(low, high, size=size or None), size)


@scope.define
def loguniform(low: float, high: float, rng: Any = None, size: Any = ()) -> Any:
    return _shape(np.exp(_rng(rng).uniform(low, high, size=size or None)), size)


@scope.define
def quniform(low: float, high: float, q: float, rng: Any = None, size: Any = ()) -> Any:
    draw = _rng(rng).uniform(low, high, size=size or None)
    return _shape(np.round(draw / q) * q, size)


@scope.define
def qloguniform(low: float, high: float, q: float, rng: Any = None, size: Any = ()) -> Any:
    draw = np.exp(_rng(rng).uniform(low, high, size=size or None))
    return _shape(np.round(draw / q) * q, size)


@scope.define
def normal(mu: float, sigma: float, rng: Any = None, size: Any = ()) -> Any:
    return _shape(_rng(rng).normal(mu, sigma, size=size or None), size)


@scope.define
def qnormal(mu: float, sigma: float, q: float, rng: Any = None, size: Any = ()) -> Any:
    draw = _rng(rng).normal(mu, sigma, size=size or None)
    return _shape(np.round(draw / q) * q, size)


@scope.define
def lognormal(mu: float, sigma: float, rng: Any = None, size: Any = ()) -> Any:
    return _shape(np.exp(_rng(rng).normal(mu, sigma, size=size or None)), size)


@scope.define
def qlognormal(mu: float, sigma: float, q: float, rng: Any = None, size: Any = ()) -> Any:
    draw = np.exp(_rng(rng).normal(mu, sigma, size=size or None))
    return _shape(np.round(draw / q) * q, size)


@scope.define
def randint(low: int, high: int | None = None, rng: Any = None, size: Any = ()) -> Any:
    if high is None:
        low, high = 0, low
    draw = _rng(rng).integers(low, high, size=size or None)
    return int(draw) if size in ((), None) else draw


@scope.define
def categorical(p: Any, upper: int | None = None, rng: Any = None, size: Any = ()) -> Any:
    p = np.asarray(p, dtype=float)
    draw = _rng(rng).choice(len(p), p=p / p.sum(), size=size or None)
    return int(draw) if size in ((), None) else draw


@scope.define
def randint_via_categorical(p: Any, rng: Any = None, size: Any = ()) -> Any:
    return categorical(p, rng=rng, size=size)


def sample(expr: Any, rng: np.random.Generator | None = None, **kwargs: Any) -> Any:
    """Draw one configuration from a search space.

    Only the branches a choice selects are sampled. ``rng`` defaults to a fresh generator.

    Example:
        >>> from hqueue import hp
        >>> import numpy as np
        >>> sample(hp.choice("k", ["a", "b"]), rng=np.random.default_rng(1)) in ("a", "b")
        True
    """
    return rec_eval(as_apply(expr), rng=_rng(rng), **kwargs)


def recursive_set_rng_kwarg(expr: Any, rng: Any = None) -> Any:
    """Bind ``rng`` into every random node of ``expr`` (hyperopt compatibility)."""
    from .base import dfs

    rng_node = as_apply(rng if rng is not None else np.random.default_rng())
    expr = as_apply(expr)
    for node in dfs(expr):
        if node.name in RANDOM_NODES:
            node.named_args = [kv for kv in node.named_args if kv[0] != "rng"]
            node.named_args.append(["rng", rng_node])
    return expr
