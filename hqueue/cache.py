"""A per-worker-process cache: load a large dataset once per process, not once per trial.

Example:
    >>> from hqueue.cache import process_cache
    >>> data = process_cache("iris", lambda: list(range(3)))
    >>> process_cache("iris", lambda: 1 / 0) is data  # built once, then reused
    True
"""

from __future__ import annotations

import functools
import hashlib
import marshal
import os
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from .exceptions import HqueueError

T = TypeVar("T")


# -- per-process cache ----------------------------------------------------------------------
class _ProcessCache:
    """Values built once per process, one lock per key (so different keys load in parallel)."""

    def __init__(self) -> None:
        self.values: dict[Hashable, Any] = {}
        self.locks: dict[Hashable, threading.Lock] = {}
        self.registry = threading.Lock()
        self.building = threading.local()

    def get(self, key: Hashable, factory: Callable[[], T]) -> T:
        try:
            return self.values[key]
        except KeyError:
            pass
        building = getattr(self.building, "keys", None)
        if building is None:
            building = self.building.keys = set()
        if key in building:
            raise HqueueError(f"process_cache: the factory of {key!r} asks for {key!r} itself")
        with self.registry:
            lock = self.locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self.values:
                building.add(key)
                try:
                    self.values[key] = factory()
                finally:
                    building.discard(key)
            return self.values[key]


_CACHE = _ProcessCache()


def _reset_after_fork() -> None:
    global _CACHE
    _CACHE = _ProcessCache()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def process_cache(key: Hashable, factory: Callable[[], T]) -> T:
    """``factory()``, called once per process for ``key`` and remembered (thread-safe).

    Use it in an objective for what should load once per worker process, not once per trial:
    datasets, tokenizers, models. A forked child starts empty (handles such as CUDA contexts
    do not survive a fork); a factory that raises is called again next time.

    Example:
        >>> def objective(cfg):
        ...     data = process_cache("toy-data", lambda: list(range(1000)))  # loaded once
        ...     return (sum(data) / len(data) - cfg["x"]) ** 2
        >>> objective({"x": 499.5})
        0.0
    """
    return _CACHE.get(key, factory)


def cached_per_process(fn: Callable[..., T] | None = None, *,
                       key: str | None = None) -> Callable[..., T]:
    """Decorator: the function runs once per process (per distinct arguments).

    The default key is the function's module, name and a hash of its code, so two experiments
    served by one worker that both define ``load_data`` differently do not share a value; pass
    ``key=`` when the same code must load different data (e.g. it reads a global).

    Example:
        >>> @cached_per_process
        ... def load_data(n=1000):
        ...     return list(range(n))  # e.g. numpy.load("/data/train.npz")
        >>> def objective(cfg):
        ...     return float(len(load_data()) * cfg["x"])
        >>> objective({"x": 0.5}), load_data() is load_data()
        (500.0, True)
    """

    def decorate(func: Callable[..., T]) -> Callable[..., T]:
        base = key if key is not None else _function_key(func)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            k = (base, args, tuple(sorted(kwargs.items()))) if args or kwargs else base
            return process_cache(k, lambda: func(*args, **kwargs))

        return wrapper

    return decorate(fn) if fn is not None else decorate


def clear_process_cache() -> None:
    """Forget every value of :func:`process_cache` in this process (for tests)."""
    _reset_after_fork()


def _function_key(func: Callable) -> str:
    name = f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"
    code = getattr(func, "__code__", None)
    if code is None:
        return name
    return f"{name}:{hashlib.sha256(marshal.dumps(code)).hexdigest()[:16]}"
