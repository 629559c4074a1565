"""``hqueue.vectorize``: hyperopt's graph vectorizer, for code that imports ``hyperopt.vectorize``.

:class:`VectorizeHelper` turns the graph of *one* configuration into a graph of *many*: each
node becomes an ``(idxs, vals)`` pair (the trial ids it is computed for, one value each), a
``switch`` sends every id down the branch it chose (``vchoice_split``/``vchoice_merge``), and a
random draw becomes one draw of ``size=len(idxs)``. The vectorized graph also exposes, per
hyperparameter label, the ids where it was active and its values there (:meth:`idxs_by_label`,
:meth:`vals_by_label`): hyperopt's idxs/vals view of a batch of random trials.

hqueue's own algorithms do not go through this (they sample a compiled table of parameters,
:mod:`hqueue.space`); it is here for code written against hyperopt's internals.

Example:
    >>> import numpy as np
    >>> from hqueue.pyll import as_apply, rec_eval, scope
    >>> from hqueue.pyll.stochastic import recursive_set_rng_kwarg
    >>> from hqueue.pyll_utils import hp_choice, hp_uniform
    >>> expr = hp_choice("c", [0, hp_uniform("x", 0, 1)])
    >>> vh = VectorizeHelper(expr, scope.range(6))
    >>> graph = as_apply([vh.v_expr, vh.idxs_by_label(), vh.vals_by_label()])
    >>> rng = as_apply(np.random.default_rng(0))
    >>> values, idxs, vals = rec_eval(recursive_set_rng_kwarg(graph, rng))
    >>> len(values), len(idxs["c"]), len(idxs["x"]) == int(np.sum(vals["c"]))
    (6, 6, True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .pyll.base import Apply, PyllError, as_apply, dfs, scope
from .pyll.indexed import idxs_map, idxs_take, uniq, vchoice_merge, vchoice_split
from .pyll.stochastic import implicit_stochastic_symbols

__all__ = [
    "VectorizeHelper", "idxs_map", "idxs_take", "replace_repeat_stochastic", "stoch", "uniq",
    "vchoice_merge", "vchoice_split", "vectorize_stochastic",
]

#: hyperopt's name for the set of random scope functions
stoch = implicit_stochastic_symbols

# nodes the vectorizer looks through: they mark a value, they do not change it
_TRANSPARENT = ("hyperopt_param", "hyperopt_result")


def _repeated_constant(vals: Apply) -> Apply | None:
    """``x`` when ``vals`` is ``asarray(repeat(n, x))`` (possibly under an ``idxs_take``):
    the same value for every id, so a draw needs it once, not once per id."""
    if vals.name == "idxs_take":
        vals = vals.pos_args[1]
    if vals.name == "asarray" and vals.pos_args and vals.pos_args[0].name == "repeat":
        return vals.pos_args[0].pos_args[1]
    return None


def _vectorized_draw(node: Apply) -> Apply | None:
    """One random draw of ``size=len(idxs)`` for ``idxs_map(idxs, dist, *pairs)`` over a
    random ``dist``; ``None`` for any other node."""
    if node.name != "idxs_map" or getattr(node.pos_args[1], "obj", None) not in stoch:
        return None
    idxs, dist = node.pos_args[0], node.pos_args[1].obj

    def parameter(pair: Apply) -> Apply:
        if pair.name != "pos_args" or len(pair.pos_args) != 2:
            raise PyllError(f"idxs_map({dist!r}) argument is not an (idxs, vals) pair")
        pair_idxs, vals = pair.pos_args
        constant = _repeated_constant(vals)
        if constant is not None:
            return constant
        if pair_idxs is idxs:
            return vals
        raise NotImplementedError(
            f"vectorizing {dist!r}: a parameter computed for other ids than the draw's")

    pos = [parameter(pair) for pair in node.pos_args[2:]]
    named = [[name, parameter(pair)] for name, pair in node.named_args]
    if any(name == "size" for name, _ in named):
        raise NotImplementedError(f"vectorizing {dist!r}: the random node already has size")
    draw = Apply(dist, pos, named, o_len=None)
    draw.named_args.append(["size", scope.len(idxs)])
    return draw


def vectorize_stochastic(orig: Apply) -> Apply:
    """``orig`` with a per-id ``idxs_map`` of a random distribution replaced by one draw of
    ``size=len(idxs)``; any other node is returned unchanged.

    Example:
        >>> from hqueue.pyll import as_apply
        >>> ids = scope.range(3)
        >>> node = scope.idxs_map(ids, "uniform", as_apply([ids, ids]), as_apply([ids, ids]))
        >>> vectorize_stochastic(node).name
        'uniform'
    """
    draw = _vectorized_draw(orig)
    return orig if draw is None else draw


def replace_repeat_stochastic(expr: Apply, return_memo: bool = False) -> Any:
    """Replace, everywhere in ``expr``, each per-id ``idxs_map`` of a random distribution by
    one vectorized draw (see :func:`vectorize_stochastic`); the graph is changed in place.

    Returns the (possibly new) output node, and with ``return_memo=True`` also the
    ``{old node: new node}`` map.

    Example:
        >>> from hqueue.pyll import as_apply
        >>> ids = scope.range(3)
        >>> low, high = scope.asarray(scope.repeat(3, 0)), scope.asarray(scope.repeat(3, 1))
        >>> node = scope.idxs_map(ids, "uniform", as_apply([ids, low]), as_apply([ids, high]))
        >>> replace_repeat_stochastic(scope.len(node)).pos_args[0].name
        'uniform'
    """
    nodes = dfs(expr)
    memo: dict[Apply, Apply] = {}
    for position, orig in enumerate(nodes):
        draw = _vectorized_draw(orig)
        if draw is None:
            continue
        for client in nodes[position + 1:]:
            client.replace_input(orig, draw)
        if expr is orig:
            expr = draw
        memo[orig] = draw
    return (expr, memo) if return_memo else expr


class VectorizeHelper:
    """The graph of one configuration ``expr``, vectorized over the trial ids ``expr_idxs``.

    Attributes (hyperopt's): ``v_expr`` (the values of ``expr`` for every id), ``params``
    (label -> the node under ``hyperopt_param``), ``idxs_memo`` (node -> the ``array_union``
    of the ids it is computed for; it can grow while the graph is built), ``take_memo``
    (node -> the ``idxs_take`` nodes that read its values), ``dfs_nodes`` (``expr``'s nodes).
    ``expr`` itself is not changed. With ``build=False`` nothing is built (``v_expr`` is
    ``None``): call :meth:`build_idxs_vals` yourself.

    Example:
        >>> import numpy as np
        >>> from hqueue.pyll import as_apply, rec_eval
        >>> from hqueue.pyll_utils import hp_uniform
        >>> vh = VectorizeHelper(hp_uniform("x", 0, 1) * 2, scope.range(4))
        >>> rng = np.random.default_rng(0)
        >>> doubled = rec_eval(vh.v_expr, rng=rng)
        >>> len(doubled), bool(all(0 <= v <= 2 for v in doubled))
        (4, True)
    """

    def __init__(self, expr: Apply, expr_idxs: Apply, build: bool = True) -> None:
        self.expr = expr
        self.expr_idxs = expr_idxs
        self.dfs_nodes = dfs(expr)
        self.params: dict[str, Apply] = {
            node.arg["label"].obj: node.arg["obj"]
            for node in self.dfs_nodes if node.name == "hyperopt_param"
        }
        self.idxs_memo: dict[Apply, Apply] = {}
        self.take_memo: dict[Apply, list[Apply]] = {}
        self.v_expr: Apply | None = None
        if build:
            self.v_expr = self.build_idxs_vals(expr, expr_idxs)
            self.assert_integrity_idxs_take()

    def assert_integrity_idxs_take(self) -> None:
        """Check the memos: ``expr`` unchanged, and every node's readers share its one
        ``(array_union, vals)`` pair. Raises ``AssertionError`` (as hyperopt) if not."""
        assert dfs(self.expr) == self.dfs_nodes, "the vectorizer changed the original graph"
        assert set(self.idxs_memo) == set(self.take_memo)
        for node, union in self.idxs_memo.items():
            assert union.name == "array_union", union.name
            vals = self.take_memo[node][0].pos_args[1]
            for take in self.take_memo[node]:
                assert take.name == "idxs_take", take.name
                assert take.pos_args[0] is union and take.pos_args[1] is vals

    def build_idxs_vals(self, node: Apply, wanted_idxs: Apply) -> Apply:
        """A node of the values of ``node`` at the ids ``wanted_idxs`` (an ``idxs_take``).

        Reuses what earlier calls built: a node asked for other ids grows its id set and its
        earlier readers follow. Call it on an output node (the constructor does).
        """
        if self.idxs_memo.get(node) is wanted_idxs:
            raise PyllError(f"vectorizing {node.name!r}: asked again for the ids it computes")
        if node.name in _TRANSPARENT:
            return self.build_idxs_vals(node.arg["obj"], wanted_idxs)
        if node.name == "literal":
            return self._literal(node, wanted_idxs)
        existing = self._existing_take(node, wanted_idxs)
        if existing is not None:
            return existing
        if node.name == "switch":
            return self._grow(node, wanted_idxs, lambda ids: self._switch_vals(node, ids))
        return self._grow(node, wanted_idxs, lambda ids: self._mapped_vals(node, ids))

    def idxs_by_label(self) -> dict[str, Apply]:
        """``{label: node of the ids where the hyperparameter is active}``."""
        return {label: self.idxs_memo[node] for label, node in self.params.items()}

    def vals_by_label(self) -> dict[str, Apply]:
        """``{label: node of its values}``, in the order of :meth:`idxs_by_label`'s ids."""
        return {label: self.take_memo[node][0].pos_args[1]
                for label, node in self.params.items()}

    # -- the three kinds of node -------------------------------------------------------------
    def _literal(self, node: Apply, wanted_idxs: Apply) -> Apply:
        """A constant: one copy per id of the whole ``expr_idxs``, read at ``wanted_idxs``."""
        if node in self.take_memo:
            union, vals = self.take_memo[node][0].pos_args[:2]
        else:
            union = scope.array_union(self.expr_idxs)
            vals = scope.asarray(scope.repeat(scope.len(self.expr_idxs), node))
            self.idxs_memo[node] = union
            self.take_memo[node] = []
        take = scope.idxs_take(union, vals, wanted_idxs)
        self.take_memo[node].append(take)
        return take

    def _existing_take(self, node: Apply, wanted_idxs: Apply) -> Apply | None:
        """The reader built earlier for exactly these ids, if any."""
        for take in self.take_memo.get(node, ()):
            if take.pos_args[2] is wanted_idxs:
                return take
        return None

    def _grow(self, node: Apply, wanted_idxs: Apply, build_vals: Callable[[Apply], Apply]
              ) -> Apply:
        """Add ``wanted_idxs`` to the ids ``node`` is computed for, rebuild its values over
        the grown set, point every earlier reader at them, and add a reader for the new ids."""
        union = self.idxs_memo.get(node)
        if union is None:
            union = scope.array_union(wanted_idxs)
        else:
            union.pos_args.append(wanted_idxs)
        vals = build_vals(union)
        readers = self.take_memo.setdefault(node, [])
        for take in readers:
            take.pos_args[1] = vals
        take = scope.idxs_take(union, vals, wanted_idxs)
        readers.append(take)
        self.idxs_memo[node] = union
        return take

    def _switch_vals(self, node: Apply, ids: Apply) -> Apply:
        """``switch(k, *options)``: each id takes the option it chose; an option is computed
        only for the ids that chose it."""
        choices = self.build_idxs_vals(node.pos_args[0], ids)
        options = node.pos_args[1:]
        split = scope.vchoice_split(ids, choices, len(options))
        merged = scope.vchoice_merge(ids, choices)
        for k, option in enumerate(options):
            option_ids = split[k]
            merged.pos_args.append(as_apply([option_ids, self.build_idxs_vals(option, option_ids)]))
        return merged

    def _mapped_vals(self, node: Apply, ids: Apply) -> Apply:
        """Any other node: its function per id over its arguments' values (one vectorized
        draw for a random distribution)."""
        mapped = scope.idxs_map(ids, node.name)
        for arg in node.pos_args:
            mapped.pos_args.append(as_apply([ids, self.build_idxs_vals(arg, ids)]))
        for name, arg in node.named_args:
            mapped.named_args.append([name, as_apply([ids, self.build_idxs_vals(arg, ids)])])
        return vectorize_stochastic(mapped)
