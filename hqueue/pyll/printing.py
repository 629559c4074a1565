"""Expression graphs printed as hyperopt prints them: one numbered line per node, children
indented under their parent, a node met again printed as a reference to its first line.

Works on any node with ``name``, ``pos_args`` and ``named_args`` (and ``obj`` for literals).

Example:
    >>> from hqueue.pyll.base import as_apply, scope
    >>> x = scope.uniform(0, 1)
    >>> print(pretty(as_apply([x, x])))
    0 pos_args
    1   uniform
    2     Literal{0}
    3     Literal{1}
    4   uniform  [line:1]
"""

from __future__ import annotations

import io
from typing import Any


def literal_text(obj: Any) -> str:
    """How a constant prints: ``Literal{5}``; an array by its shape and range.

    Example:
        >>> literal_text(5)
        'Literal{5}'
    """
    if type(obj).__name__ == "ndarray":
        return (f"Literal{{np.ndarray,shape={obj.shape},min={obj.min():f},"
                f"max={obj.max():f}}}")
    return f"Literal{{{obj}}}"


def write_numbered(node: Any, ofile: Any, lineno: list[int] | None = None, indent: int = 0,
                   memo: dict | None = None) -> None:
    """Write ``node`` and, below it, its inputs; ``lineno`` (a one-item list) counts lines and
    ``memo`` maps the nodes already written to their reference text.

    Example:
        >>> from hqueue.pyll.base import Literal
        >>> out = io.StringIO()
        >>> write_numbered(Literal(5), out)
        >>> out.getvalue()
        '0 Literal{5}\\n'
    """
    lineno = [0] if lineno is None else lineno
    memo = {} if memo is None else memo
    if node in memo:
        _line(ofile, lineno, indent, memo[node])
        return
    is_literal = node.name == "literal" and hasattr(node, "obj")
    text = literal_text(node.obj) if is_literal else node.name
    memo[node] = f"{text}  [line:{lineno[0]}]"
    _line(ofile, lineno, indent, text)
    for arg in node.pos_args:
        write_numbered(arg, ofile, lineno, indent + 2, memo)
    for name, arg in node.named_args:
        _line(ofile, lineno, indent, f" {name} =")
        write_numbered(arg, ofile, lineno, indent + 2, memo)


def _line(ofile: Any, lineno: list[int], indent: int, text: str) -> None:
    print(lineno[0], " " * indent + text, file=ofile)
    lineno[0] += 1


def pretty(expr: Any) -> str:
    """The graph as hyperopt prints it (see the module's example).

    Example:
        >>> from hqueue.pyll.base import Literal
        >>> pretty(Literal(5))
        '0 Literal{5}'
    """
    out = io.StringIO()
    write_numbered(expr, out)
    return out.getvalue()[:-1]
