"""The expression language search spaces are written in (hyperopt's "pyll").

A search space is a graph of :class:`Apply` nodes. Each node names a function registered in
:data:`scope` and holds its arguments (other nodes, or :class:`Literal` constants).
:func:`rec_eval` evaluates a graph; ``switch`` nodes evaluate only the chosen branch, which is
what makes ``hp.choice`` conditional.

Example:
    >>> from hqueue.pyll import scope, as_apply, rec_eval
    >>> expr = scope.minimum(as_apply(3) + 4, 5)
    >>> rec_eval(expr)
    5
"""

from __future__ import annotations

import copy
import inspect
import operator
from collections.abc import Callable, Iterator
from typing import Any

from ..exceptions import HqueueError


class PyllError(HqueueError, ValueError):
    """An expression graph cannot be built or evaluated."""


class _GarbageCollected:
    """Memo value of a hyperparameter that was inactive: evaluating it is an error."""

    def __repr__(self) -> str:
        return "GarbageCollected"


GarbageCollected = _GarbageCollected()


class Apply:
    """One node of an expression graph: ``scope.<name>(*pos_args, **named_args)``.

    Example:
        >>> node = Apply("add", [Literal(1), Literal(2)], {})
        >>> rec_eval(node)
        3
    """

    def __init__(
        self,
        name: str,
        pos_args: list[Apply] | tuple[Apply, ...],
        named_args: dict[str, Apply] | list[list[Any]],
        o_len: int | None = None,
        pure: bool = False,
        define_params: Any = None,
    ) -> None:
        self.name = name
        self.pos_args = list(pos_args)
        if isinstance(named_args, dict):
            named_args = [[k, v] for k, v in sorted(named_args.items())]
        self.named_args = [list(kv) for kv in named_args]
        self.o_len = o_len
        self.pure = pure
        self.define_params = define_params
        for arg in self.inputs():
            if not isinstance(arg, Apply):
                raise PyllError(f"argument of {name!r} is not an Apply node: {arg!r}")

    def inputs(self) -> list[Apply]:
        """Positional then named argument nodes, in order."""
        return self.pos_args + [v for _, v in self.named_args]

    @property
    def arg(self) -> dict[str, Apply]:
        """Arguments bound to the parameter names of the node's function."""
        binding = dict(self.named_args)
        names = _param_names(self.name)
        if names is None:
            binding.update({str(i): a for i, a in enumerate(self.pos_args)})
            return binding
        for pname, node in zip(names, self.pos_args):
            binding[pname] = node
        return binding

    def replace_input(self, old: Apply, new: Apply) -> list[int]:
        """Swap ``old`` for ``new`` among the inputs; returns the positions changed."""
        rval = []
        for i, a in enumerate(self.pos_args):
            if a is old:
                self.pos_args[i] = new
                rval.append(i)
        for i, kv in enumerate(self.named_args):
            if kv[1] is old:
                kv[1] = new
                rval.append(len(self.pos_args) + i)
        return rval

    def clone_from_inputs(self, inputs: list[Apply], o_len: Any = "same") -> Apply:
        """A copy of this node with new input nodes (same order as :meth:`inputs`)."""
        if len(inputs) != len(self.inputs()):
            raise PyllError("clone_from_inputs: wrong number of inputs")
        npos = len(self.pos_args)
        named = [[k, v] for (k, _), v in zip(self.named_args, inputs[npos:])]
        return self.__class__(
            self.name,
            inputs[:npos],
            named,
            o_len=self.o_len if o_len == "same" else o_len,
            pure=self.pure,
            define_params=self.define_params,
        )

    def eval(self, memo: dict | None = None) -> Any:
        """Evaluate this node (see :func:`rec_eval`)."""
        return rec_eval(self, memo=memo)

    # -- sequence protocol for nodes with a known output length (tuples)
    def __len__(self) -> int:
        if self.o_len is None:
            raise TypeError(f"len() of an Apply node {self.name!r} with unknown length")
        return self.o_len

    def __iter__(self) -> Iterator[Apply]:
        return (self[i] for i in range(len(self)))

    def __getitem__(self, idx: Any) -> Apply:
        if self.o_len is not None and isinstance(idx, int) and not -self.o_len <= idx < self.o_len:
            raise IndexError(idx)
        return scope.getitem(self, idx)

    def __call__(self, *args: Any, **kwargs: Any) -> Apply:
        return scope.call(self, args, kwargs)

    # -- arithmetic builds new nodes
    def __add__(self, other: Any) -> Apply:
        return scope.add(self, other)

    def __radd__(self, other: Any) -> Apply:
        return scope.add(other, self)

    def __sub__(self, other: Any) -> Apply:
        return scope.sub(self, other)

    def __rsub__(self, other: Any) -> Apply:
        return scope.sub(other, self)

    def __mul__(self, other: Any) -> Apply:
        return scope.mul(self, other)

    def __rmul__(self, other: Any) -> Apply:
        return scope.mul(other, self)

    def __truediv__(self, other: Any) -> Apply:
        return scope.truediv(self, other)

    def __rtruediv__(self, other: Any) -> Apply:
        return scope.truediv(other, self)

    def __floordiv__(self, other: Any) -> Apply:
        return scope.floordiv(self, other)

    def __rfloordiv__(self, other: Any) -> Apply:
        return scope.floordiv(other, self)

    def __mod__(self, other: Any) -> Apply:
        return scope.mod(self, other)

    def __pow__(self, other: Any) -> Apply:
        return scope.pow(self, other)

    def __rpow__(self, other: Any) -> Apply:
        return scope.pow(other, self)

    def __neg__(self) -> Apply:
        return scope.neg(self)

    def __pos__(self) -> Apply:
        return self

    def __abs__(self) -> Apply:
        return scope.abs(self)

    def __gt__(self, other: Any) -> Apply:
        return scope.gt(self, other)

    def __ge__(self, other: Any) -> Apply:
        return scope.ge(self, other)

    def __lt__(self, other: Any) -> Apply:
        return scope.lt(self, other)

    def __le__(self, other: Any) -> Apply:
        return scope.le(self, other)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return pretty(self)

    __str__ = __repr__


class Literal(Apply):
    """A constant inside an expression graph.

    Example:
        >>> rec_eval(Literal([1, 2]))
        [1, 2]
    """

    def __init__(self, obj: Any = None) -> None:
        self._obj = obj
        super().__init__("literal", [], {}, o_len=_literal_len(obj), pure=True)

    @property
    def obj(self) -> Any:
        return self._obj

    def clone_from_inputs(self, inputs: list[Apply], o_len: Any = "same") -> Literal:
        return self.__class__(self._obj)

    def replace_input(self, old: Apply, new: Apply) -> list[int]:
        return []


def _literal_len(obj: Any) -> int | None:
    try:
        return len(obj)
    except TypeError:
        return None


def as_apply(obj: Any) -> Apply:
    """Wrap ``obj`` as a graph: containers become nodes, everything else a :class:`Literal`.

    Example:
        >>> rec_eval(as_apply({"a": 1, "b": (2, 3)}))
        {'a': 1, 'b': (2, 3)}
    """
    if isinstance(obj, Apply):
        return obj
    if isinstance(obj, tuple):
        return Apply("pos_args", [as_apply(a) for a in obj], {}, o_len=len(obj))
    if isinstance(obj, list):
        return Apply("pos_args", [as_apply(a) for a in obj], {}, o_len=None)
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            named = {k: as_apply(v) for k, v in obj.items()}
            return Apply("dict", [], named, o_len=len(named))
        items = [(k, as_apply(v)) for k, v in obj.items()]
        return Apply("dict", [as_apply(items)], {}, o_len=None)
    return Literal(obj)


class SymbolTableEntry:
    """``scope.<name>``: calling it builds an :class:`Apply` node for that function."""

    def __init__(self, symbol_table: SymbolTable, apply_name: str, o_len: int | None, pure: bool):
        self.symbol_table = symbol_table
        self.apply_name = apply_name
        self.o_len = o_len
        self.pure = pure

    def __call__(self, *args: Any, **kwargs: Any) -> Apply:
        return Apply(
            self.apply_name,
            [as_apply(a) for a in args],
            {k: as_apply(v) for k, v in kwargs.items()},
            o_len=self.o_len,
            pure=self.pure,
        )

    def __repr__(self) -> str:
        return f"<scope.{self.apply_name}>"


class SymbolTable:
    """The registry of functions an expression graph may call.

    Example:
        >>> @scope.define
        ... def triple(x):
        ...     return 3 * x
        >>> triple(2), rec_eval(scope.triple(2))
        (6, 6)
    """

    def __init__(self) -> None:
        self._impls: dict[str, Callable[..., Any]] = {}

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
        _PARAM_NAMES.pop(name, None)
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


scope = SymbolTable()
_PARAM_NAMES: dict[str, list[str] | None] = {}


def _param_names(name: str) -> list[str] | None:
    if name not in _PARAM_NAMES:
        names = None
        f = scope._impls.get(name)
        if f is not None:
            try:
                params = inspect.signature(f).parameters.values()
                names = [p.name for p in params
                         if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            except (TypeError, ValueError):
                names = None
        _PARAM_NAMES[name] = names
    return _PARAM_NAMES[name]


def dfs(expr: Apply) -> list[Apply]:
    """All nodes of a graph, each once, inputs before the nodes that use them."""
    seen: set[int] = set()
    order: list[Apply] = []
    stack: list[tuple[Apply, bool]] = [(expr, False)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in seen:
            continue
        if expanded:
            seen.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        for child in reversed(node.inputs()):
            if id(child) not in seen:
                stack.append((child, False))
    return order


def toposort(expr: Apply) -> list[Apply]:
    """Nodes in an order where every node comes after its inputs."""
    return dfs(expr)


def clone(expr: Apply, memo: dict | None = None) -> Apply:
    """A structural copy of a graph (literals are copied by reference)."""
    memo = {} if memo is None else memo
    for node in dfs(expr):
        if node not in memo:
            memo[node] = node.clone_from_inputs([memo[i] for i in node.inputs()])
    return memo[expr]


def clone_merge(expr: Apply, memo: dict | None = None, merge_literals: bool = False) -> Apply:
    """Copy a graph, merging pure nodes with identical inputs (hyperopt compatibility)."""
    memo = {} if memo is None else memo
    seen: dict[tuple, Apply] = {}
    for node in dfs(expr):
        if node in memo:
            continue
        new_inputs = [memo[i] for i in node.inputs()]
        if isinstance(node, Literal):
            key = ("literal", id(node.obj)) if merge_literals else ("node", id(node))
        elif node.pure:
            key = (node.name, tuple(map(id, new_inputs)),
                   tuple(k for k, _ in node.named_args))
        else:
            key = ("node", id(node))
        if key in seen:
            memo[node] = seen[key]
        else:
            memo[node] = seen[key] = node.clone_from_inputs(new_inputs)
    return memo[expr]


def rec_eval(
    expr: Any,
    deepcopy_inputs: bool = False,
    memo: dict | None = None,
    max_program_len: int | None = None,
    memo_gc: bool = True,
    print_trace: bool = False,
    print_node_on_error: bool = True,
    rng: Any = None,
) -> Any:
    """Evaluate an expression graph; ``memo`` maps nodes to values already known.

    ``switch`` nodes evaluate only the branch their index selects. ``rng`` is passed to the
    random distributions of the graph (see :func:`hqueue.pyll.stochastic.sample`).

    Example:
        >>> from hqueue import hp
        >>> space = hp.choice("c", [1, hp.uniform("x", 0, 1)])
        >>> node = next(n for n in dfs(space) if n.name == "hyperopt_param")
        >>> rec_eval(space, memo={node: 0})
        1
    """
    from . import stochastic  # the distributions take rng=; registered there

    expr = as_apply(expr)
    memo = {} if memo is None else dict(memo)
    stack: list[Apply] = [expr]
    steps = 0
    while stack:
        steps += 1
        if max_program_len is not None and steps > max_program_len:
            raise PyllError(f"rec_eval exceeded max_program_len={max_program_len}")
        node = stack[-1]
        if node in memo:
            stack.pop()
            continue
        if isinstance(node, Literal):
            memo[node] = node.obj
            stack.pop()
            continue
        if node.name == "switch":
            index_node = node.pos_args[0]
            if index_node not in memo:
                stack.append(index_node)
                continue
            index = memo[index_node]
            if index is GarbageCollected:
                raise PyllError(f"switch index {pretty(index_node)} was not sampled")
            try:
                chosen = node.pos_args[1 + int(index)]
            except (IndexError, TypeError, ValueError) as e:
                raise PyllError(f"switch index {index!r} out of range for {node.name}") from e
            if chosen not in memo:
                stack.append(chosen)
                continue
            memo[node] = memo[chosen]
            stack.pop()
            continue
        waiting = [i for i in node.inputs() if i not in memo]
        if waiting:
            stack.extend(reversed(waiting))
            continue
        args = [memo[a] for a in node.pos_args]
        kwargs = {k: memo[v] for k, v in node.named_args}
        for v in (*args, *kwargs.values()):
            if v is GarbageCollected:
                raise PyllError(
                    f"node {node.name} needs a hyperparameter that was not sampled (inactive)"
                )
        if deepcopy_inputs:
            args, kwargs = copy.deepcopy(args), copy.deepcopy(kwargs)
        if rng is not None and node.name in stochastic.RANDOM_NODES and "rng" not in kwargs:
            kwargs["rng"] = rng
        try:
            impl = scope._impls[node.name]
        except KeyError:
            raise PyllError(f"scope has no function {node.name!r}: define it with "
                            "scope.define") from None
        if print_trace:
            print("rec_eval:", node.name, args, kwargs)
        memo[node] = impl(*args, **kwargs)
        stack.pop()
    return memo[expr]


def pretty(expr: Apply, indent: int = 0, _seen: dict | None = None) -> str:
    """An indented text rendering of a graph (shared nodes shown once)."""
    _seen = {} if _seen is None else _seen
    pad = "  " * indent
    if expr in _seen:
        return f"{pad}<node {_seen[expr]}>"
    _seen[expr] = len(_seen)
    if isinstance(expr, Literal):
        return f"{pad}Literal{{{expr.obj!r}}}"[:200 + len(pad)]
    lines = [f"{pad}{expr.name}"]
    for a in expr.pos_args:
        lines.append(pretty(a, indent + 1, _seen))
    for k, v in expr.named_args:
        lines.append(f"{pad}  {k} =")
        lines.append(pretty(v, indent + 2, _seen))
    return "\n".join(lines)


# -- the deterministic functions every graph can use ------------------------------------

def _register_builtins() -> None:
    def pos_args(*args: Any) -> tuple:
        return args

    def dict_(*args: Any, **kwargs: Any) -> dict:
        rval = dict(*args)
        rval.update(kwargs)
        return rval

    def switch(index: Any, *options: Any) -> Any:  # rec_eval special-cases it to stay lazy
        return options[int(index)]

    def call(fn: Callable, args: tuple = (), kwargs: dict | None = None) -> Any:
        return fn(*args, **(kwargs or {}))

    def call_method(obj: Any, methodname: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(obj, methodname)(*args, **kwargs)

    def hyperopt_param(label: str, obj: Any) -> Any:
        return obj

    def identity(obj: Any) -> Any:
        return obj

    def minimum(*args: Any) -> Any:
        return min(args[0]) if len(args) == 1 else min(args)

    def maximum(*args: Any) -> Any:
        return max(args[0]) if len(args) == 1 else max(args)

    table: dict[str, Callable] = {
        "pos_args": pos_args, "dict": dict_, "switch": switch, "call": call,
        "call_method": call_method, "hyperopt_param": hyperopt_param, "identity": identity,
        "minimum": minimum, "maximum": maximum,
        "int": int, "float": float, "str": str, "bool": bool, "len": len, "abs": abs,
        "list": list, "tuple": tuple, "range": range, "sum": sum, "round": round,
        "getitem": operator.getitem, "getattr": getattr,
        "add": operator.add, "sub": operator.sub, "mul": operator.mul,
        "truediv": operator.truediv, "div": operator.truediv, "floordiv": operator.floordiv,
        "mod": operator.mod, "pow": operator.pow, "neg": operator.neg,
        "gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le,
        "eq": operator.eq, "ne": operator.ne,
    }
    import math

    for fname in ("exp", "log", "sqrt", "log10", "log1p", "expm1", "sin", "cos", "tanh"):
        table[fname] = getattr(math, fname)
    for name, f in table.items():
        scope.define(f, pure=name not in ("call", "call_method"), name=name)


_register_builtins()
