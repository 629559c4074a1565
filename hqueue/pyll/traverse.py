"""Walking and copying expression graphs, and graph-valued functions (:class:`Lambda`).

Example:
    >>> from hqueue.pyll.base import as_apply, dfs
    >>> [n.name for n in dfs(as_apply(1) + 2)]
    ['literal', 'literal', 'add']
"""

from __future__ import annotations

from typing import Any

from .graph import Apply, Literal, UndefinedValue, as_apply


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
    """A structural copy of a graph (literals are copied by reference; ``memo`` pre-maps nodes)."""
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


class Lambda:
    """A function whose body is a graph: calling it clones ``expr`` with the arguments in place
    of the placeholder literals named in ``params`` (``[(name, placeholder), ...]``).

    Defined in scope (``scope.define(Lambda(...))``), a node calling it evaluates the cloned
    graph, which is how hyperopt writes recursive and partially-applied functions.

    Example:
        >>> from hqueue.pyll.base import rec_eval, scope
        >>> double = Lambda("double", [("x", p0)], expr=p0 * 2)
        >>> rec_eval(double(21))
        42
    """

    def __init__(self, name: str, params: list[tuple[Any, ...]], expr: Apply) -> None:
        self.__name__ = name
        self.params = params
        self.expr = expr

    def __call__(self, *args: Any, **kwargs: Any) -> Apply:
        if len(args) > len(self.params):
            raise TypeError(f"{self.__name__}() takes {len(self.params)} arguments, "
                            f"got {len(args)}")
        if len(args) != len(self.params) or kwargs:
            raise NotImplementedError(
                f"{self.__name__}(): named, default or missing arguments are not supported "
                f"(got {len(args)} of {len(self.params)} positional arguments)"
            )
        memo = {param[1]: as_apply(arg) for arg, param in zip(args, self.params)}
        return clone(self.expr, memo)


# Placeholders for the parameters of Lambda bodies.
p0 = Literal(UndefinedValue)
p1 = Literal(UndefinedValue)
p2 = Literal(UndefinedValue)
p3 = Literal(UndefinedValue)
p4 = Literal(UndefinedValue)
