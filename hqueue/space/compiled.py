"""Compile a search space into a flat table of parameters and a fast configuration builder.

Algorithms never interpret the expression graph. They see :class:`CompiledSpace`:

- ``params``: one :class:`Param` per label, with its prior and its *activation condition* in
  disjunctive normal form: a tuple of conjunctions, each a frozenset of ``(choice_label,
  option_index)`` pairs. ``()`` never occurs; ``(frozenset(),)`` means "always active".
- ``active_masks(columns)``: vectorized activity of every parameter for ``n`` candidate rows.
- ``build(values)``: the configuration the objective receives, from ``{label: value}``.

Example:
    >>> from hqueue import hp
    >>> space = compile_space(hp.choice("m", [{"a": hp.uniform("a", 0, 1)}, {"b": 1}]))
    >>> space.by_label["a"].conditions
    (frozenset({('m', 0)}),)
    >>> space.build({"m": 0, "a": 0.5})
    {'a': 0.5}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..exceptions import BadSearchSpace, DuplicateLabel
from ..pyll.base import Apply, Literal, as_apply, dfs, rec_eval, scope
from .distributions import CATEGORICAL_KINDS, NUMERIC_KINDS, Categorical, Distribution, Numeric

Condition = tuple[frozenset[tuple[str, int]], ...]
ALWAYS: Condition = (frozenset(),)


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its label, prior and when it is active."""

    label: str
    dist: Distribution
    conditions: Condition
    node: Apply  # the hyperopt_param node, for memo-based evaluation
    #: a ``choice`` over three or more numbers in ascending order (e.g. a grid of learning
    #: rates): its option indices are ordered, which samplers may use
    ordinal: bool = False

    @property
    def conditional(self) -> bool:
        return self.conditions != ALWAYS


def _distribution(label: str, dist_node: Apply) -> Distribution:
    if any(n.name == "hyperopt_param" for n in dfs(dist_node)):
        raise BadSearchSpace(
            f"hyperparameter {label!r}: its bounds depend on another hyperparameter; "
            "use constant bounds (and scale the value in the objective instead)"
        )
    args = [rec_eval(a) for a in dist_node.pos_args]
    kwargs = {k: rec_eval(v) for k, v in dist_node.named_args}
    kind = dist_node.name
    if kind in NUMERIC_KINDS:
        names = ("low", "high") if kind.endswith("uniform") else ("mu", "sigma")
        names += ("q",) if kind.startswith("q") else ()
        bound = dict(zip(names, args))
        bound.update(kwargs)
        missing = [n for n in names if n not in bound]
        if missing:
            raise BadSearchSpace(f"hyperparameter {label!r}: {kind} is missing {missing}")
        return Numeric.from_hp(kind, tuple(float(bound[n]) for n in names))
    if kind == "randint":
        bound = [*args, *kwargs.values()]
        low, high = (0, bound[0]) if len(bound) == 1 else bound[:2]
        n = int(high) - int(low)
        return Categorical("randint", (1.0 / n,) * n, int(low))
    if kind == "categorical":
        p = np.asarray(args[0] if args else kwargs["p"], dtype=float)
        return Categorical("categorical", tuple(float(x) for x in p / p.sum()))
    raise BadSearchSpace(
        f"hyperparameter {label!r}: unknown distribution {kind!r}; "
        f"use one of the hp constructors ({', '.join(NUMERIC_KINDS + CATEGORICAL_KINDS)})"
    )


def _uniform_categorical(dist: Distribution) -> bool:
    return isinstance(dist, Categorical) and dist.offset == 0 and len(set(dist.p)) == 1


def _choice_param(switch: Apply) -> tuple[str, int] | None:
    index = switch.pos_args[0]
    if index.name == "hyperopt_param" and index.pos_args[1].name in CATEGORICAL_KINDS:
        label = index.pos_args[0]
        if isinstance(label, Literal):
            return label.obj, len(switch.pos_args) - 1
    return None


def ordered_numbers(options: tuple[Any, ...]) -> bool:
    """Whether choice options (graph nodes) are three or more constant numbers in strictly
    ascending order: ``hp.choice("lr", [1e-4, 1e-3, 1e-2])`` is, ``[1, 10, 5]`` and
    ``["relu", "tanh"]`` are not."""
    if len(options) < 3 or not all(isinstance(o, Literal) for o in options):
        return False
    values = [o.obj for o in options]
    if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
               for v in values):
        return False
    return all(a < b for a, b in zip(values, values[1:]))


def _simplify(conjs: set[frozenset], n_options: Mapping[str, int]) -> Condition:
    conjs = set(conjs)
    merged = True
    while merged and frozenset() not in conjs:  # (A and c=0) or ... or (A and c=n-1) -> A
        merged = False
        for conj in list(conjs):
            for label, _ in conj:
                rest = conj - {t for t in conj if t[0] == label}
                siblings = {rest | {(label, i)} for i in range(n_options[label])}
                if siblings <= conjs:
                    conjs = (conjs - siblings) | {rest}
                    merged = True
                    break
            if merged:
                break
    if frozenset() in conjs:
        return ALWAYS
    kept = [c for c in conjs if not any(o < c for o in conjs)]
    return tuple(sorted(kept, key=lambda c: (len(c), sorted(c))))


def _find_params(
    expr: Apply,
) -> tuple[dict[str, Apply], dict[str, set[frozenset]], dict[str, int], set[str]]:
    nodes: dict[str, Apply] = {}
    n_options: dict[str, int] = {}
    ordinal: set[str] = set()
    conds: dict[str, set[frozenset]] = {}
    seen: set[tuple[int, frozenset]] = set()
    stack: list[tuple[Apply, frozenset]] = [(expr, frozenset())]
    while stack:
        node, conj = stack.pop()
        if (id(node), conj) in seen:
            continue
        seen.add((id(node), conj))
        if node.name == "hyperopt_param":
            label_node = node.pos_args[0]
            if not isinstance(label_node, Literal) or not isinstance(label_node.obj, str):
                raise BadSearchSpace("hyperparameter labels must be constant strings")
            label = label_node.obj
            if label in nodes and nodes[label] is not node:
                raise DuplicateLabel(
                    f"two different hyperparameters are labelled {label!r}; give each a unique "
                    "label, or reuse the same hp object to share one parameter across branches"
                )
            nodes[label] = node
            conds.setdefault(label, set()).add(conj)
            continue  # its distribution arguments are constants (checked later)
        choice = _choice_param(node) if node.name == "switch" else None
        if choice is not None:
            label, n_options[label] = choice
            if ordered_numbers(tuple(node.pos_args[1:])):
                ordinal.add(label)
            stack.append((node.pos_args[0], conj))
            for i, option in enumerate(node.pos_args[1:]):
                stack.append((option, conj | {(label, i)}))
            continue
        for child in node.inputs():
            stack.append((child, conj))
    return nodes, conds, n_options, ordinal


class CompiledSpace:
    """A search space as a flat parameter table plus a fast configuration builder."""

    def __init__(self, expr: Any) -> None:
        self.expr = as_apply(expr)
        nodes, conds, n_options, ordinal = _find_params(self.expr)
        self.params: tuple[Param, ...] = tuple(
            Param(label, dist, _simplify(conds[label], n_options), node,
                  ordinal=label in ordinal and _uniform_categorical(dist))
            for label, node in sorted(nodes.items())
            for dist in (_distribution(label, node.pos_args[1]),)
        )
        self.by_label: dict[str, Param] = {p.label: p for p in self.params}
        groups: dict[Condition, list[Param]] = {}
        for p in self.params:
            groups.setdefault(p.conditions, []).append(p)
        # parameters that are always active together (same condition), for joint sampling
        self.groups: tuple[tuple[Param, ...], ...] = tuple(tuple(g) for g in groups.values())
        self.labels: tuple[str, ...] = tuple(self.by_label)
        self._build = _compile_builder(self.expr)

    def __repr__(self) -> str:
        return f"CompiledSpace({len(self.params)} params: {', '.join(self.labels)})"

    def build(self, values: Mapping[str, Any]) -> Any:
        """The configuration for one point: ``values`` holds the active labels' values."""
        return self._build(values, {})

    def active_masks(self, columns: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        """For ``n`` rows of candidate values (all labels), which labels each row activates."""
        masks = {}
        for p in self.params:
            if not p.conditional:
                masks[p.label] = np.ones(n, dtype=bool)
                continue
            mask = np.zeros(n, dtype=bool)
            for conj in p.conditions:
                term = np.ones(n, dtype=bool)
                for label, idx in conj:
                    term &= columns[label] == idx
                mask |= term
            masks[p.label] = mask
        return masks

    def is_active(self, param: Param, values: Mapping[str, Any]) -> bool:
        """Whether ``param`` is active given the values of the choices it depends on."""
        return any(all(values.get(lbl) == i for lbl, i in conj) for conj in param.conditions)

    def sample_columns(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        """``n`` independent prior draws of every label (activity not applied)."""
        return {p.label: p.dist.sample(rng, n) for p in self.params}

    def rows(self, columns: Mapping[str, np.ndarray], n: int) -> list[dict[str, Any]]:
        """Split columns into ``n`` dicts holding only each row's active labels."""
        masks = self.active_masks(columns, n)
        out: list[dict[str, Any]] = [{} for _ in range(n)]
        for p in self.params:
            col, mask, conv = columns[p.label], masks[p.label], p.dist.python_value
            for i in np.flatnonzero(mask):
                out[i][p.label] = conv(col[i])
        return out

    def sample(self, rng: np.random.Generator, n: int = 1) -> list[dict[str, Any]]:
        """``n`` prior draws as ``{label: value}`` rows (active labels only)."""
        if n == 1:
            draw = {p.label: p.dist.sample_one(rng) for p in self.params}
            return [{p.label: draw[p.label] for p in self.params
                     if not p.conditional or self.is_active(p, draw)}]
        return self.rows(self.sample_columns(rng, n), n)

    def memo(self, values: Mapping[str, Any]) -> dict[Apply, Any]:
        """A memo for :func:`hqueue.pyll.rec_eval` (hyperopt's ``memo_from_config``)."""
        from ..pyll.base import GarbageCollected

        return {p.node: values.get(p.label, GarbageCollected) for p in self.params}


# -- the builder: the expression graph turned into nested closures once ------------------

Builder = Callable[[Mapping[str, Any], dict], Any]


def _compile_builder(expr: Apply) -> Builder:
    fanout: dict[int, int] = {}
    for node in dfs(expr):
        for child in node.inputs():
            fanout[id(child)] = fanout.get(id(child), 0) + 1
    compiled: dict[int, Builder] = {}
    for node in dfs(expr):  # inputs first
        fn = _node_builder(node, [compiled[id(c)] for c in node.pos_args],
                           [(k, compiled[id(v)]) for k, v in node.named_args])
        if fanout.get(id(node), 0) > 1 and not isinstance(node, Literal) \
                and node.name != "hyperopt_param":
            fn = _shared(fn, id(node))
        compiled[id(node)] = fn
    return compiled[id(expr)]


def _shared(fn: Builder, key: int) -> Builder:
    def shared(values: Mapping[str, Any], cache: dict) -> Any:
        if key not in cache:
            cache[key] = fn(values, cache)
        return cache[key]

    return shared


def _node_builder(node: Apply, pos: list[Builder], named: list[tuple[str, Builder]]) -> Builder:
    if isinstance(node, Literal):
        obj = node.obj
        return lambda values, cache: obj
    if node.name == "hyperopt_param":
        label = node.pos_args[0].obj

        def param(values: Mapping[str, Any], cache: dict) -> Any:
            try:
                return values[label]
            except KeyError:
                raise BadSearchSpace(f"no value for hyperparameter {label!r}") from None

        return param
    if node.name == "switch":
        index, options = pos[0], pos[1:]

        def switch(values: Mapping[str, Any], cache: dict) -> Any:
            return options[int(index(values, cache))](values, cache)

        return switch
    if node.name == "dict" and not pos:
        return lambda values, cache: {k: f(values, cache) for k, f in named}
    if node.name == "pos_args" and not named:
        return lambda values, cache: tuple(f(values, cache) for f in pos)
    impl = scope._impls.get(node.name)
    if impl is None:
        raise BadSearchSpace(f"the space calls scope.{node.name}, which is not defined")
    if len(pos) == 1 and not named:
        arg = pos[0]
        return lambda values, cache: impl(arg(values, cache))
    return lambda values, cache: impl(
        *[f(values, cache) for f in pos], **{k: f(values, cache) for k, f in named}
    )


def compile_space(expr: Any) -> CompiledSpace:
    """Compile ``expr`` (a space: nodes, dicts, lists, tuples, literals)."""
    return CompiledSpace(expr)
