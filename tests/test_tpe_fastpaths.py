"""The fast paths of the joint TPE give exactly the numbers of the plain computations they
replace: the good and bad mixtures in one :class:`JointPair`, the capped-width shortcut, the
windowed bin masses, the per-option categorical logs, the history's kept orders and the
incrementally extended group arrays. Equality is exact (``assert_array_equal``), since the
suggestions are pinned (tests/test_tpe_regression.py)."""

from __future__ import annotations

import numpy as np
import pytest

from hqueue import hp
from hqueue.algos.tpe.groups import group_data, group_plans
from hqueue.algos.tpe.joint import (
    PRIOR_FIRST,
    _column_widths,
    categorical_tables,
    distinct,
    joint_estimator,
    joint_pair,
    kernel_widths,
)
from hqueue.history import History
from hqueue.space.compiled import compile_space
from hqueue.space.distributions import Categorical, Numeric

EQ = np.testing.assert_array_equal


def _reference_widths(z, prior_sigma, orders):
    """The per-column neighbour rule as first written (one column at a time)."""
    n_kernels, n_dims = z.shape
    order = np.empty(z.shape, dtype=np.int64)
    for d in range(n_dims):
        known = orders[d]
        if known is None:
            order[:, d] = np.argsort(z[:, d], kind="stable")
        else:
            at = np.searchsorted(z[known, d], z[-1, d])
            order[:, d] = np.concatenate([known[:at], [n_kernels - 1], known[at:]])
    sorted_z = np.take_along_axis(z, order, axis=0)
    widths = np.full(z.shape, np.nan)
    if n_kernels > 1:
        gaps = np.diff(sorted_z, axis=0)
        left = np.vstack([np.full((1, n_dims), np.nan), gaps])
        right = np.vstack([gaps, np.full((1, n_dims), np.nan)])
        widths = np.fmax(left, right)
    widths = np.where(np.isnan(widths), prior_sigma, widths)
    widths = np.clip(widths, prior_sigma / min(100.0, 1.0 + n_kernels), prior_sigma)
    out = np.empty_like(widths)
    np.put_along_axis(out, order, widths, axis=0)
    return out


def _quantized_data(rng, n, n_dims=3):
    """Observations with many ties (a grid) and some values equal to the prior centre."""
    z = np.round(rng.uniform(0, 10, (n + 1, n_dims)))
    z[-1] = 5.0  # the prior kernel's centre, on the grid
    return z, np.full(n_dims, 10.0)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 60])
@pytest.mark.parametrize("seed", [0, 1])
def test_vectorized_widths_match_the_per_column_rule(n, seed):
    rng = np.random.default_rng(seed)
    z, ps = _quantized_data(rng, n)
    z[:-1, 1] += rng.normal(0, 0.01, n)  # a column without ties
    EQ(_column_widths(z, ps, [None] * 3, "neighbour"), _reference_widths(z, ps, [None] * 3))
    known = [np.argsort(z[:-1, d], kind="stable") for d in range(3)]
    EQ(_column_widths(z, ps, known, "neighbour"), _reference_widths(z, ps, known))
    mixed = [known[0], None, known[2]]
    EQ(_column_widths(z, ps, mixed, "neighbour"), _reference_widths(z, ps, mixed))
    # sorting here with the prior kernel first is what the known orders give
    EQ(_column_widths(z, ps, PRIOR_FIRST, "neighbour"), _reference_widths(z, ps, known))


@pytest.mark.parametrize("n", [5, 30, 400])
@pytest.mark.parametrize("cap", [0.2 / (1 + 0.1 * 30), 0.2 / (1 + 0.1 * 1000), 0.5])
@pytest.mark.parametrize("bandwidth", ["neighbour", "scott"])
def test_capped_width_shortcut_equals_the_rule_then_the_cap(n, cap, bandwidth):
    rng = np.random.default_rng(n)
    z, ps = _quantized_data(rng, n)
    ps = np.array([10.0, 3.0, 0.5])
    rule = _column_widths(z, ps, [None] * 3, bandwidth)
    expected = np.maximum(np.minimum(rule, cap * ps), 1e-12)
    expected[-1] = ps
    EQ(kernel_widths(z, ps, bandwidth, cap), expected)


def _block_and_bins(rng, n_kernels, sigma):
    dist = Numeric.from_hp("quniform", (0.0, 20.0, 1.0))
    z = np.round(rng.uniform(0, 20, (n_kernels, 1)))
    sigmas = np.full(z.shape, sigma)
    sigmas[-1] = 20.0
    from hqueue.algos.tpe.joint import NumericBlock
    block = NumericBlock.build(z, sigmas, np.array([dist.low]), np.array([dist.high]))
    u = np.unique(np.round(rng.uniform(0, 20, 12)))
    return block, u - 0.5, u + 0.5


@pytest.mark.parametrize("sigma", [0.04, 0.3, 2.0])
@pytest.mark.parametrize("n_kernels", [70, 500])
def test_windowed_bin_masses_equal_every_pair(sigma, n_kernels):
    rng = np.random.default_rng(n_kernels)
    block, lo, hi = _block_and_bins(rng, n_kernels, sigma)
    dense = block.bin_table(0, lo, hi)
    data = np.arange(n_kernels - 3)  # three kernels left out of the sorted list
    order = data[np.argsort(block.mus[data, 0], kind="stable")]
    others = np.arange(n_kernels - 3, n_kernels)
    EQ(block.bin_table(0, lo, hi, order, others), dense)
    # and the candidates' table is the distinct values' table, row per candidate
    x = np.round(rng.uniform(0, 20, 24))
    first, inverse = distinct(x)
    EQ(block.log_bin_mass(0, x, x - 0.5, x + 0.5),
       block.bin_table(0, x[first] - 0.5, x[first] + 0.5)[inverse])


def test_distinct_matches_np_unique():
    rng = np.random.default_rng(3)
    for x in (np.round(rng.normal(size=30)), rng.normal(size=5), np.zeros(4), np.array([2.0])):
        first, inverse = distinct(x)
        u, ufirst, uinverse = np.unique(x, return_index=True, return_inverse=True)
        EQ(x[first], u)
        EQ(first, ufirst)
        EQ(inverse, uinverse.reshape(-1))


def _categorical_reference(values, dist, prior_weight):
    """The one-hot-plus-prior kernels as first written (a probability row per kernel)."""
    n, k = len(values), dist.size
    prior = np.asarray(dist.p, float)
    eps = min(1.0, prior_weight * (k - 1) / (n + prior_weight * k)) if n else 1.0
    probs = np.empty((n + 1, k))
    probs[:n] = eps * prior
    probs[np.arange(n), values] += 1.0 - eps
    probs[n] = prior
    return probs


def test_categorical_tables_hold_the_kernels_probabilities_and_their_logs():
    rng = np.random.default_rng(4)
    dists = [Categorical("categorical", (0.2, 0.5, 0.3)), Categorical("randint", (0.25,) * 4),
             Categorical("categorical", (1.0, 0.0))]
    models = [(np.stack([rng.integers(0, d.size, n) for d in dists], axis=1), w)
              for n, w in ((6, 0.7), (40, 1.0), (0, 2.0))]
    dims = categorical_tables(models, dists, sampled=True)
    for c, (d, dim) in enumerate(zip(dists, dims)):
        probs = [_categorical_reference(idx[:, c], d, w) for idx, w in models]
        EQ(dim.probs, probs[0])
        EQ(dim.log_table, np.log(np.maximum(np.concatenate(probs).T, 1e-300)))


class _Plan:
    def __init__(self, dists):
        numeric = [d for d in dists if isinstance(d, Numeric)]
        self.prior_mu = np.array([d.mu for d in numeric])
        self.prior_sigma = np.array([d.sigma for d in numeric])
        self.low = np.array([d.low for d in numeric])
        self.high = np.array([d.high for d in numeric])
        self.cat_dists = [d for d in dists if isinstance(d, Categorical)]


@pytest.mark.parametrize("n_good, n_bad, cap", [(4, 30, 0.2 / 4), (8, 700, 0.2 / 71),
                                                (0, 12, None), (3, 0, 0.05)])
def test_a_joint_pair_is_two_joint_estimators_side_by_side(n_good, n_bad, cap):
    rng = np.random.default_rng(n_bad)
    dists = [Numeric.from_hp("uniform", (-5.0, 5.0)), Numeric.from_hp("loguniform", (-4.0, 0.0)),
             Numeric.from_hp("quniform", (0.0, 20.0, 1.0)), Numeric.from_hp("normal", (1.0, 2.0))]
    cats = [Categorical("categorical", (0.3, 0.3, 0.4)), Categorical("randint", (0.5, 0.5))]
    cols = {n: ([d.sample(rng, n) for d in dists], [rng.integers(0, c.size, n) for c in cats])
            for n in (n_good, n_bad)}
    w_good = np.linspace(0.5, 1.0, n_good)
    w_bad = np.ones(n_bad)
    mixtures = [joint_estimator(cols[n][0] + cols[n][1], w, dists + cats, pw, "neighbour", cap)
                for n, w, pw in ((n_good, w_good, 0.3), (n_bad, w_bad, 1.0))]

    def internal(n):
        return np.stack([d.to_internal(c) for d, c in zip(dists, cols[n][0])], axis=1) \
            if n else np.empty((0, len(dists)))

    pair = joint_pair(_Plan(dists + cats),
                      (internal(n_good), np.stack(cols[n_good][1], axis=1).reshape(-1, 2),
                       w_good, 0.3),
                      (internal(n_bad), np.stack(cols[n_bad][1], axis=1).reshape(-1, 2),
                       w_bad, 1.0), "neighbour", cap, PRIOR_FIRST)
    split = pair.split
    EQ(pair.good_weights, mixtures[0].weights)
    EQ(pair.bad_weights, mixtures[1].weights)
    for field in ("mus", "sigmas", "log_mass"):
        EQ(getattr(pair.numeric, field)[:split], getattr(mixtures[0].numeric, field))
        EQ(getattr(pair.numeric, field)[split:], getattr(mixtures[1].numeric, field))
    for c in range(2):
        EQ(pair.categorical[c].probs, mixtures[0].categorical[c].probs)
        EQ(pair.categorical[c].log_table[:, split:], mixtures[1].categorical[c].log_table)
    kernels = pair.sample_kernels(np.random.default_rng(0), 24)
    z = pair.numeric.sample(np.random.default_rng(1), kernels)
    cont = [0, 1, 3]
    density = pair.numeric.log_density(cont, z[:, cont], split)
    alone = [m.numeric.log_density(cont, z[:, cont]) for m in mixtures]
    EQ(density[:, :split], alone[0])
    EQ(density[:, split:], alone[1])
    bins = pair.numeric.bin_table(2, z[:, 2] - 0.5, z[:, 2] + 0.5)
    idx = pair.categorical[0].sample(np.random.default_rng(2), kernels)
    terms = [bins, density, pair.categorical[0].log_kernels(idx)]
    expected = [m.log_pdf([m.numeric.bin_table(2, z[:, 2] - 0.5, z[:, 2] + 0.5),
                           m.numeric.log_density(cont, z[:, cont]),
                           m.categorical[0].log_kernels(idx)]) for m in mixtures]
    total = terms[0] + terms[1] + terms[2]
    EQ(pair.log_ratio(total), expected[0] - expected[1])


def test_history_loss_order_is_the_stable_argsort_as_it_grows():
    rng = np.random.default_rng(5)
    h = History()
    losses = []
    for chunk in (1, 3, 10, 1, 40):
        for _ in range(chunk):
            loss = float(rng.integers(0, 6))  # many ties
            losses.append(loss)
            h.add(tid=len(losses), loss=loss, vals={"x": [loss]})
        EQ(h.loss_order(), np.argsort(losses, kind="stable"))


def test_group_arrays_extended_as_trials_finish_equal_a_fresh_build():
    space = compile_space({"m": hp.choice("m", [{"a": hp.loguniform("a", -3, 0),
                                                 "k": hp.randint("k", 2, 6)},
                                                {"b": hp.quniform("b", 0, 10, 2)}]),
                           "u": hp.uniform("u", 0, 1)})
    rng = np.random.default_rng(6)
    rows = space.sample(rng, 90)
    grown, fresh = History(), None
    for i, row in enumerate(rows):
        vals = {label: [row[label]] if label in row else [] for label in space.labels}
        if i == 45:  # an inconsistent document: a member of a's group missing
            vals["k"] = []
        grown.add(tid=i, loss=0.0, vals=vals)
        if i % 7 == 0 or i == len(rows) - 1:
            for plan in group_plans(space):
                group_data(grown, plan)
    fresh = History()
    for i in range(len(rows)):
        fresh.add(tid=i, loss=0.0, vals={label: list(grown.column(label)[1][
            grown.column(label)[0] == i]) for label in space.labels})
    for plan in group_plans(space):
        a, b = group_data(grown, plan), group_data(fresh, plan)
        EQ(a.rows, b.rows)
        EQ(a.z, b.z)
        EQ(a.cat, b.cat)
        assert a.n == len(a.rows) and len(a.rows) > 0
