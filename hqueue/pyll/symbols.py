"""The registry of functions expression graphs call, by name (hyperopt's ``scope`` machinery).

:class:`FunctionTable` keeps ``name -> function`` and, for each name, an attribute
``table.<name>`` (a :class:`SymbolTableEntry`) that builds a graph node calling it. How a node
is built is the one thing it leaves to its subclass: :class:`hqueue.pyll.graph.SymbolTable`,
whose instance ``scope`` every graph uses, builds :class:`~hqueue.pyll.graph.Apply` nodes.

Example:
    >>> from hqueue.pyll.base import rec_eval, scope
    >>> @scope.define
    ... def times_five(x):
    ...     return 5 * x
    >>> times_five(2), rec_eval(scope.times_five(2))
    (10, 10)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..exceptions import HqueueError


class PyllError(HqueueError, ValueError):
    """An expression graph cannot be built or evaluated."""


class SymbolTableEntry:
    """``scope.<name>``: calling it builds a graph node for that function.

    Example:
        >>> from hqueue.pyll.base import scope
        >>> scope.add(1, 2).name
        'add'
    """

    def __init__(self, symbol_table: FunctionTable, apply_name: str, o_len: int | None,
                 pure: bool) -> None:
        self.symbol_table = symbol_table
        self.apply_name = apply_name
        self.o_len = o_len
        self.pure = pure

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.symbol_table._make_node(self.apply_name, args, kwargs, self.o_len, self.pure)

    def __repr__(self) -> str:
        return f"<SymbolTableEntry scope.{self.apply_name}>"


class FunctionTable:
    """Functions by name, each with a node-building entry; subclasses say how nodes are built.

    Example:
        >>> from hqueue.pyll.base import scope
        >>> scope.define_pure(lambda x: x, name="same_again") is not None
        True
        >>> scope.same_again.pure
        True
    """

    def __init__(self) -> None:
        self._impls: dict[str, Callable[..., Any]] = {}
        self._signatures: dict[str, list[inspect.Parameter] | None] = {}

    def _make_node(self, name: str, args: tuple, kwargs: dict, o_len: int | None,
                   pure: bool) -> Any:
        """The node calling ``name`` with ``args`` and ``kwargs`` (the subclass builds it)."""
        raise NotImplementedError(f"{type(self).__name__} builds no graph nodes")

    def _define(self, f: Callable, o_len: int | None, pure: bool, name: str | None) -> Callable:
        name = name or getattr(f, "__name__", None)
        if not name or not isinstance(name, str):
            raise PyllError(f"cannot define {f!r} in scope without a name: pass name=...")
        if name in self._impls and self._impls[name] is not f:
            raise PyllError(
                f"scope already defines {name!r}; pass name='other_name' to scope.define"
            )
        setattr(self, name, SymbolTableEntry(self, name, o_len, pure))
        self._impls[name] = f
        self._signatures.pop(name, None)
        return f

    def define(self, f: Callable | None = None, o_len: int | None = None, pure: bool = False,
               name: str | None = None) -> Any:
        """Register ``f`` (usable as a decorator); returns ``f`` itself."""
        if f is None:
            return lambda g: self._define(g, o_len, pure, name)
        return self._define(f, o_len, pure, name)

    def define_if_new(self, f: Callable, o_len: int | None = None, pure: bool = False) -> Callable:
        """Like :meth:`define` but a no-op when the name is already taken by ``f``."""
        if self._impls.get(f.__name__) is f:
            return f
        return self.define(f, o_len=o_len, pure=pure)

    def define_pure(self, f: Callable | None = None, name: str | None = None) -> Any:
        """Register a side-effect-free function."""
        return self.define(f, pure=True, name=name)

    def define_info(self, o_len: int | None = None, pure: bool = False) -> Callable:
        """Decorator factory: ``@scope.define_info(o_len=2)``."""
        return lambda f: self.define(f, o_len=o_len, pure=pure)

    def undefine(self, f: Callable | str) -> None:
        """Remove a function from the table."""
        name = f if isinstance(f, str) else f.__name__
        del self._impls[name]
        delattr(self, name)

    def inject(self, *args: Callable, **kwargs: Callable) -> None:
        """Register several functions: positional ones by ``__name__``, keyword ones by key."""
        for f in args:
            self.define(f)
        for name, f in kwargs.items():
            self.define(f, name=name)

    def import_(self, globals_: dict, *names: str, **kwargs: str) -> None:
        """Copy entries into a namespace (hyperopt compatibility)."""
        for name in names:
            globals_[name] = getattr(self, name)
        for alias, name in kwargs.items():
            globals_[alias] = getattr(self, name)

    def parameters_of(self, name: str) -> list[inspect.Parameter] | None:
        """The parameters of the function ``name`` (cached), or None when it is not defined
        or has no readable signature.

        Example:
            >>> from hqueue.pyll.base import scope
            >>> [p.name for p in scope.parameters_of("uniform")]
            ['low', 'high', 'rng', 'size']
        """
        if name not in self._signatures:
            params = None
            f = self._impls.get(name)
            if f is not None:
                try:
                    params = list(inspect.signature(f).parameters.values())
                except (TypeError, ValueError):
                    params = None
            self._signatures[name] = params
        return self._signatures[name]
