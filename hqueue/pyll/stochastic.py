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

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from .graph import RANDOM_NODES, Apply, as_apply, rec_eval, scope
from .traverse import dfs

F = TypeVar("F", bound=Callable[..., Any])


def implicit_stochastic(f: F) -> F:
    """Mark a scope function as random: :func:`sample` and ``rec_eval(rng=...)`` pass it ``rng``.

    Example:
        >>> @implicit_stochastic
        ... @scope.define
        ... def coin(rng=None, size=()):
        ...     return bool(as_generator(rng).integers(2))
        >>> sample(scope.coin(), rng=np.random.default_rng(0)) in (True, False)
        True
    """
    RANDOM_NODES.add(f.__name__)
    return f


implicit_stochastic_symbols = RANDOM_NODES  # hyperopt's name for the same set


@scope.define
def rng_from_seed(seed: int) -> np.random.Generator:
    """``numpy.random.default_rng(seed)`` as a graph node."""
    return np.random.default_rng(seed)


def as_generator(rng: Any) -> np.random.Generator:
    """``rng`` as a ``numpy.random.Generator``: a fresh one for ``None``, one seeded from a
    legacy ``RandomState``, else ``rng`` itself."""
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.RandomState):  # legacy callers
        return np.random.default_rng(rng.randint(2**31 - 1))
    return rng


def _scalar(size: Any) -> bool:
    """Whether ``size`` asks for one number (``()`` or ``None``) rather than an array."""
    return size is None or (isinstance(size, tuple) and size == ())


def _size(size: Any) -> Any:
    """``size`` as numpy's generators take it: ``None`` for one number; ``0`` stays ``0``
    (an empty array, as a vectorized draw for no trial needs)."""
    return None if _scalar(size) else size


def _shape(x: Any, size: Any) -> Any:
    if _scalar(size):
        return float(np.asarray(x).reshape(-1)[0]) if np.ndim(x) else float(x)
    return x


@implicit_stochastic
@scope.define
def uniform(low: float, high: float, rng: Any = None, size: Any = ()) -> Any:
    return _shape(as_generator(rng).uniform(low, high, size=_size(size)), size)


@implicit_stochastic
@scope.define
def loguniform(low: float, high: float, rng: Any = None, size: Any = ()) -> Any:
    return _shape(np.exp(as_generator(rng).uniform(low, high, size=_size(size))), size)


@implicit_stochastic
@scope.define
def quniform(low: float, high: float, q: float, rng: Any = None, size: Any = ()) -> Any:
    draw = as_generator(rng).uniform(low, high, size=_size(size))
    return _shape(np.round(draw / q) * q, size)


@implicit_stochastic
@scope.define
def qloguniform(low: float, high: float, q: float, rng: Any = None, size: Any = ()) -> Any:
    draw = np.exp(as_generator(rng).uniform(low, high, size=_size(size)))
    return _shape(np.round(draw / q) * q, size)


@implicit_stochastic
@scope.define
def normal(mu: float, sigma: float, rng: Any = None, size: Any = ()) -> Any:
    return _shape(as_generator(rng).normal(mu, sigma, size=_size(size)), size)


@implicit_stochastic
@scope.define
def qnormal(mu: float, sigma: float, q: float, rng: Any = None, size: Any = ()) -> Any:
    draw = as_generator(rng).normal(mu, sigma, size=_size(size))
    return _shape(np.round(draw / q) * q, size)


@implicit_stochastic
@scope.define
def lognormal(mu: float, sigma: float, rng: Any = None, size: Any = ()) -> Any:
    return _shape(np.exp(as_generator(rng).normal(mu, sigma, size=_size(size))), size)


@implicit_stochastic
@scope.define
def qlognormal(mu: float, sigma: float, q: float, rng: Any = None, size: Any = ()) -> Any:
    draw = np.exp(as_generator(rng).normal(mu, sigma, size=_size(size)))
    return _shape(np.round(draw / q) * q, size)


@implicit_stochastic
@scope.define
def randint(low: int, high: int | None = None, rng: Any = None, size: Any = ()) -> Any:
    if high is None:
        low, high = 0, low
    draw = as_generator(rng).integers(low, high, size=_size(size))
    return int(draw) if _scalar(size) else draw


@implicit_stochastic
@scope.define
def categorical(p: Any, upper: int | None = None, rng: Any = None, size: Any = ()) -> Any:
    """Index ``k`` with probability ``p[k]``; a 2-D ``p`` holds one row of probabilities per
    draw (as a vectorized graph passes them), and then ``size`` must be its number of rows."""
    p = np.asarray(p, dtype=float)
    if p.ndim == 2:
        return _categorical_rows(p, as_generator(rng), size)
    draw = as_generator(rng).choice(len(p), p=p / p.sum(), size=_size(size))
    return int(draw) if _scalar(size) else draw


def _categorical_rows(p: np.ndarray, rng: np.random.Generator, size: Any) -> np.ndarray:
    n_rows = p.shape[0]
    if _scalar(size) or int(np.prod(size)) != n_rows:
        raise ValueError(f"categorical: {n_rows} rows of probabilities for size={size!r}")
    cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    draw = (cdf <= rng.random(n_rows)[:, None]).sum(axis=1)
    return np.minimum(draw, p.shape[1] - 1).reshape(size)


@implicit_stochastic
@scope.define
def randint_via_categorical(p: Any, rng: Any = None, size: Any = ()) -> Any:
    return categorical(p, rng=rng, size=size)


def one_of(*args: Any) -> Apply:
    """A graph choosing one of ``args`` uniformly at random (only the chosen one is evaluated).

    Example:
        >>> sample(scope.one_of("a", "b"), rng=np.random.default_rng(0)) in ("a", "b")
        True
    """
    return scope.switch(scope.randint(len(args)), *args)


def choice(args: Any) -> Apply:
    """:func:`one_of` over the elements of ``args``."""
    return one_of(*args)


scope.one_of = one_of  # type: ignore[attr-defined]  # graph builders, as in hyperopt
scope.choice = choice  # type: ignore[attr-defined]


def sample(expr: Any, rng: np.random.Generator | None = None, **kwargs: Any) -> Any:
    """Draw one configuration from a search space.

    Only the branches a choice selects are sampled. ``rng`` defaults to a fresh generator.

    Example:
        >>> from hqueue import hp
        >>> import numpy as np
        >>> sample(hp.choice("k", ["a", "b"]), rng=np.random.default_rng(1)) in ("a", "b")
        True
    """
    return rec_eval(as_apply(expr), rng=as_generator(rng), **kwargs)


def recursive_set_rng_kwarg(expr: Any, rng: Any = None) -> Any:
    """Bind ``rng`` into every random node of ``expr`` (hyperopt compatibility)."""
    rng_node = as_apply(rng if rng is not None else np.random.default_rng())
    expr = as_apply(expr)
    for node in dfs(expr):
        if node.name in RANDOM_NODES:
            node.named_args = [kv for kv in node.named_args if kv[0] != "rng"]
            node.named_args.append(["rng", rng_node])
    return expr
