"""The nodes of the expression language (hyperopt's "pyll"), its symbol table, and evaluation.

A search space is a graph of :class:`Apply` nodes. Each node names a function registered in
:data:`scope` and holds its arguments (other nodes, or :class:`Literal` constants).
:func:`rec_eval` evaluates a graph; ``switch`` nodes evaluate only the chosen branch, which is
what makes ``hp.choice`` conditional. Users import these names from :mod:`hqueue.pyll.base`.

Example:
    >>> from hqueue.pyll import scope, as_apply, rec_eval
    >>> expr = scope.minimum(as_apply(3) + 4, 5)
    >>> rec_eval(expr)
    5
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from .printing import pretty, write_numbered
from .symbols import FunctionTable, PyllError


class _GarbageCollected:
    """Memo value of a hyperparameter that was inactive: evaluating it is an error."""

    def __repr__(self) -> str:
        return "GarbageCollected"


GarbageCollected = _GarbageCollected()


class MissingArgument:
    """Value of :attr:`Apply.arg` for a parameter that the node does not bind (a marker class)."""


class UndefinedValue:
    """Value of the placeholder literals ``p0``..``p4`` of :class:`~hqueue.pyll.base.Lambda`."""


# Names of the scope functions that draw random numbers and take ``rng=`` (filled by
# :func:`hqueue.pyll.stochastic.implicit_stochastic`).
RANDOM_NODES: set[str] = set()


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
    def arg(self) -> dict[str, Any]:
        """Arguments bound to the parameter names of the node's function.

        A parameter the node leaves to its default is :class:`MissingArgument`; extra
        positional arguments are a list under the ``*args`` name, as in hyperopt.

        Example:
            >>> Apply("uniform", [Literal(0), Literal(1)], {}).arg["high"].obj
            1
        """
        binding: dict[str, Any] = dict(self.named_args)
        params = scope.parameters_of(self.name)
        if params is None:
            binding.update({str(i): a for i, a in enumerate(self.pos_args)})
            return binding
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        for param, node in zip(positional, self.pos_args):
            binding[param.name] = node
        star = [p for p in params if p.kind == p.VAR_POSITIONAL]
        if star:
            binding[star[0].name] = self.pos_args[len(positional):]
        for param in params:
            if param.name not in binding and param.kind != param.VAR_KEYWORD:
                binding[param.name] = MissingArgument
        return binding

    def set_kwarg(self, name: str, value: Any) -> None:
        """Bind (or rebind) the keyword argument ``name`` to ``value``."""
        for kv in self.named_args:
            if kv[0] == name:
                kv[1] = as_apply(value)
                return
        if self.arg.get(name, MissingArgument) is not MissingArgument:
            raise NotImplementedError(f"{name!r} is bound positionally; cannot rebind by name")
        self.named_args.append([name, as_apply(value)])
        self.named_args.sort(key=lambda kv: kv[0])

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

    def pprint(self, ofile: Any, lineno: list[int] | None = None, indent: int = 0,
               memo: dict | None = None) -> None:
        """Write the graph to ``ofile`` one numbered line per node, as hyperopt prints it."""
        write_numbered(self, ofile, lineno, indent, memo)

    def __str__(self) -> str:
        return pretty(self)

    __repr__ = __str__


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


def apply(name: str, *args: Any, **kwargs: Any) -> Apply:
    """A node calling the scope function ``name`` (which may be defined later).

    Example:
        >>> rec_eval(apply("add", 1, 2))
        3
    """
    entry = getattr(scope, name, None)
    o_len = getattr(entry, "o_len", None)
    pure = getattr(entry, "pure", False)
    return Apply(name, [as_apply(a) for a in args], {k: as_apply(v) for k, v in kwargs.items()},
                 o_len=o_len, pure=pure)


class SymbolTable(FunctionTable):
    """The registry of functions an expression graph may call; its entries build
    :class:`Apply` nodes (the registry itself is :class:`~hqueue.pyll.symbols.FunctionTable`).

    Example:
        >>> @scope.define
        ... def triple(x):
        ...     return 3 * x
        >>> triple(2), rec_eval(scope.triple(2))
        (6, 6)
    """

    def _make_node(self, name: str, args: tuple, kwargs: dict, o_len: int | None,
                   pure: bool) -> Apply:
        return Apply(name, [as_apply(a) for a in args],
                     {k: as_apply(v) for k, v in kwargs.items()}, o_len=o_len, pure=pure)


scope = SymbolTable()


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
        >>> from hqueue.pyll.base import dfs
        >>> space = hp.choice("c", [1, hp.uniform("x", 0, 1)])
        >>> node = next(n for n in dfs(space) if n.name == "hyperopt_param")
        >>> rec_eval(space, memo={node: 0})
        1
    """
    if deepcopy_inputs not in (0, 1, False, True):
        raise ValueError(f"rec_eval: deepcopy_inputs must be a bool, got {deepcopy_inputs!r} "
                         "(pass the memo as memo=...)")
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
            chosen = node.pos_args[1 + _switch_index(memo[index_node], node)]
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
        if rng is not None and node.name in RANDOM_NODES and "rng" not in kwargs:
            kwargs["rng"] = rng
        try:
            impl = scope._impls[node.name]
        except KeyError:
            raise PyllError(f"scope has no function {node.name!r}: define it with "
                            "scope.define") from None
        if print_trace:
            print("rec_eval:", node.name, args, kwargs)
        rval = impl(*args, **kwargs)
        if isinstance(rval, Apply):  # a Lambda returned a graph: evaluate it too (hyperopt)
            rval = rec_eval(rval, deepcopy_inputs, memo, max_program_len, rng=rng)
        memo[node] = rval
        stack.pop()
    return memo[expr]


def _switch_index(index: Any, node: Apply) -> int:
    if index is GarbageCollected:
        raise PyllError(f"switch index {node.pos_args[0].name} was not sampled")
    if hasattr(index, "item") and getattr(index, "size", 1) == 1:
        index = index.item()
    if isinstance(index, float) and index.is_integer():
        index = int(index)
    if not isinstance(index, int):
        raise TypeError(f"switch index must be an int, got {index!r}")
    if not 0 <= index < len(node.pos_args) - 1:
        raise PyllError(f"switch index {index} out of range: {len(node.pos_args) - 1} options")
    return index
