"""Pruner decision rules and pruning sessions, checked against references worked out by hand."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from hqueue.exceptions import BadArgument
from hqueue.pruners import (
    Hyperband,
    Median,
    MemoryRungs,
    NoPruner,
    Patience,
    Percentile,
    PruningSession,
    SuccessiveHalving,
    Threshold,
    default_pruner,
)
from hqueue.pruners.halving import bracket_of
from hqueue.pruners.rules import (
    above_percentile,
    interpolate,
    kept_at_rung,
    outside,
    percentile_position,
    promotable,
    rung_steps,
    rungs_crossed,
    stalled,
)
from hqueue.pruners.storage import summarize

NAN = float("nan")


def _run(pruner, rungs, trial, curve):
    """Report ``curve`` ([(step, value), ...]) for one trial; the decision after each report."""
    session = PruningSession(pruner, rungs, trial)
    decisions = []
    for step, value in curve:
        session.report(value, step)
        decisions.append(session.should_prune())
    return decisions


# -- rules ---------------------------------------------------------------------------------
def test_rung_steps_are_geometric_and_stop_below_max_resource():
    assert rung_steps(1, 3, max_resource=81).tolist() == [1, 3, 9, 27]
    assert rung_steps(2, 3, 1, max_resource=100).tolist() == [6, 18, 54]
    assert rung_steps(1, 2, max_resource=1).tolist() == []


def test_rungs_crossed_counts_every_rung_a_jump_passes():
    rungs = np.array([1, 3, 9, 27])
    assert rungs_crossed(rungs, -math.inf, 1).tolist() == [0]
    assert rungs_crossed(rungs, 1, 2).tolist() == []
    assert rungs_crossed(rungs, 2, 30).tolist() == [1, 2, 3]


def test_promotable_keeps_the_best_n_over_eta():
    values = np.array([0.3, 0.2, 0.4, 0.5, 0.6, 0.7])  # 6 // 3 = 2 kept: 0.2 and 0.3
    assert [promotable(v, values, 3) for v in values] == [True, True, False, False, False, False]


def test_promotable_first_at_a_rung_goes_on_and_ties_promote():
    assert promotable(5.0, np.array([5.0]), 3)
    assert promotable(0.5, np.array([0.5, 0.5]), 2)


def test_promotable_nan_is_never_promoted_and_ranks_other_nans_last():
    assert not promotable(NAN, np.array([NAN]), 3)
    assert promotable(0.9, np.array([NAN, NAN, 0.9]), 3)


def test_above_percentile_interpolates_like_a_hand_computation():
    others = np.array([0.1, 0.2, 0.3, 0.4])  # 25th percentile: 0.1 + 0.75 * 0.1 = 0.175
    assert above_percentile(0.18, others, 25.0)
    assert not above_percentile(0.17, others, 25.0)
    assert not above_percentile(0.25, others, 50.0)  # median 0.25: equal is kept


def test_above_percentile_counts_nan_references_as_worst_and_prunes_nan():
    assert not above_percentile(0.3, np.array([NAN, NAN]), 50.0)
    assert above_percentile(0.5, np.array([NAN, 0.4, 0.1]), 50.0)  # ranked .1 .4 inf
    assert above_percentile(NAN, np.array([0.1]), 50.0)
    assert above_percentile(np.inf, np.array([]), 50.0)


@pytest.mark.parametrize("seed", range(5))
def test_rung_snapshots_give_the_same_decisions_as_the_full_rules(seed):
    rng = np.random.default_rng(seed)
    for _ in range(200):
        n = int(rng.integers(0, 12))
        others = np.round(rng.normal(size=n), 1)
        others[rng.random(n) < 0.1] = NAN
        own = float(np.round(rng.normal(), 1))
        q = float(rng.choice([0.0, 25.0, 50.0, 80.0, 100.0]))
        snap = summarize(own, others, q)
        for eta in (2, 3, 4):
            assert kept_at_rung(snap.own, snap.n_better, snap.n_others, eta) == promotable(
                own, np.append(others, own), eta)
        if n:
            _, _, weight = percentile_position(n, q)
            assert (own > interpolate(snap.lower, snap.upper, weight)) == above_percentile(
                own, others, q)
        finite = others[~np.isnan(others)]
        if len(finite) == n and n:
            assert interpolate(snap.lower, snap.upper, percentile_position(n, q)[2]) == \
                pytest.approx(np.percentile(finite, q))


def test_outside_flags_nan_and_both_bounds():
    assert outside(np.array([0.0, 1.0, 1.01, -0.01, NAN]), 0.0, 1.0).tolist() == [
        False, False, True, True, True]
    assert outside(np.array([1e9, NAN]), None, None).tolist() == [False, True]


def test_stalled_compares_the_last_patience_reports_with_the_best_before():
    assert not stalled(np.array([1.0, 0.9]), 2)  # too short to judge
    assert stalled(np.array([1.0, 0.5, 0.6, 0.7]), 2)
    assert not stalled(np.array([1.0, 0.5, 0.6, 0.4]), 2)
    assert stalled(np.array([1.0, 0.5, 0.45, 0.48]), 2, min_delta=0.1)
    assert stalled(np.array([1.0, NAN, NAN]), 2)
    assert not stalled(np.array([NAN, 1.0, 2.0]), 2)


# -- successive halving / hyperband -----------------------------------------------------------
def test_asha_decisions_match_a_hand_worked_sequence():
    asha, rungs = SuccessiveHalving(1, reduction_factor=2, max_resource=8), MemoryRungs()
    # rungs at steps 1, 2, 4
    assert _run(asha, rungs, 0, [(1, 0.5), (2, 0.4), (4, 0.3)]) == [False, False, False]
    assert _run(asha, rungs, 1, [(1, 0.6)]) == [True]  # {0.5, 0.6}: top 1 is 0.5
    assert _run(asha, rungs, 2, [(1, 0.45), (2, 0.5)]) == [False, True]  # rung 2: {0.4, 0.5}
    assert _run(asha, rungs, 3, [(1, 0.3)]) == [False]  # {.5 .6 .45 .3}: top 2 are .3 .45
    assert _run(asha, rungs, 4, [(1, 0.46)]) == [True]  # 5 values, top 2 still .3 .45


def test_asha_records_at_every_rung_a_jump_crosses():
    asha, rungs = SuccessiveHalving(1, reduction_factor=2, max_resource=8), MemoryRungs()
    _run(asha, rungs, 0, [(5, 0.5)])
    assert [rungs.values(name) for name in asha.rungs(0, np.array([5]))] == [{0: 0.5}] * 3


def test_asha_never_prunes_at_or_beyond_max_resource():
    asha, rungs = SuccessiveHalving(reduction_factor=2, max_resource=4), MemoryRungs()
    _run(asha, rungs, 0, [(1, 0.1), (2, 0.1), (4, 0.1), (8, 0.1)])
    assert _run(asha, rungs, 1, [(4, 9.0), (100, 9.0)]) == [True, True]  # pruned at rung 1
    assert _run(asha, rungs, 2, [(4, 0.05), (100, 9.0)]) == [False, False]
    assert asha.rungs(3, np.array([4])) == ["sh:1:2:0:1", "sh:1:2:0:2"]


def test_asha_first_rung_defaults_to_two_halvings_below_max_resource():
    assert SuccessiveHalving(max_resource=81).rungs(0, np.array([100])) == [
        "sh:9:3:0:9", "sh:9:3:0:27"]
    assert SuccessiveHalving(max_resource=27).min_resource == 3
    assert SuccessiveHalving(max_resource=8).min_resource == 1
    assert SuccessiveHalving(max_resource=1000, reduction_factor=2).min_resource == 250
    assert SuccessiveHalving().min_resource == 1


def test_asha_rejects_bad_arguments_in_one_line():
    with pytest.raises(BadArgument, match="reduction_factor"):
        SuccessiveHalving(reduction_factor=1)
    with pytest.raises(BadArgument, match="min_resource"):
        SuccessiveHalving(min_resource=0)


def test_hyperband_weights_follow_hyperbands_bracket_sizes():
    hb = Hyperband(1, 81, 3)  # s_max 4; n_s = ceil(5 / (s + 1) * 3**s) for s = 4 .. 0
    assert hb._weights.tolist() == [81, 34, 15, 8, 5]


def test_hyperband_trial_first_reaches_a_rung_at_its_brackets_rate():
    hb = Hyperband(1, 27, 3)
    for trial in range(40):
        rate = bracket_of(trial, hb._weights)
        first = hb.rungs(trial, np.array([27 - 1]))
        assert len(first) == max(0, 3 - rate)
        if first:
            assert first[0].endswith(f":{3 ** rate}") and f"hb{rate}" in first[0]


def test_hyperband_brackets_compare_only_within_a_bracket():
    hb, rungs = Hyperband(1, 9, 3), MemoryRungs()
    by_bracket: dict[int, list[int]] = {}
    for trial in range(200):
        by_bracket.setdefault(bracket_of(trial, hb._weights), []).append(trial)
    a, b = by_bracket[0][:2]
    other = by_bracket[1][0]
    _run(hb, rungs, other, [(3, 0.0)])  # the best value, but in bracket 1
    assert _run(hb, rungs, a, [(1, 0.5)]) == [False]
    assert _run(hb, rungs, b, [(1, 0.7)]) == [True]


def test_bracket_of_spreads_trials_by_weight():
    counts = np.bincount([bracket_of(t, np.array([3.0, 1.0])) for t in range(4000)])
    assert 0.70 < counts[0] / 4000 < 0.80


# -- percentile / median ---------------------------------------------------------------------
def test_median_waits_for_startup_trials_then_prunes_above_the_median():
    median, rungs = Median(n_startup_trials=2), MemoryRungs()
    assert _run(median, rungs, 0, [(1, 0.3)]) == [False]
    assert _run(median, rungs, 1, [(1, 0.5)]) == [False]  # one other: still starting up
    assert _run(median, rungs, 2, [(1, 0.41)]) == [True]  # median of 0.3, 0.5 is 0.4
    assert _run(median, rungs, 3, [(1, 0.39)]) == [False]  # others .3 .5 .41: median .41


def test_percentile_judges_the_trials_best_value_so_far():
    pct = Percentile(25.0, n_startup_trials=2)

    def judged(curve):
        rungs = MemoryRungs()
        for trial, value in enumerate([0.1, 0.2, 0.3, 0.4]):
            _run(pct, rungs, trial, [(2, value)])
        return _run(pct, rungs, 9, curve)

    # at step 2 the others are 0.1 .. 0.4 (25th percentile 0.175); step 1 has no others yet
    assert judged([(1, 0.17), (2, 0.9)]) == [False, False]  # best so far 0.17
    assert judged([(1, 0.18), (2, 0.9)]) == [False, True]


def test_percentile_warmup_and_interval_skip_steps():
    pct = Percentile(50.0, n_startup_trials=0, n_warmup_steps=2, interval_steps=3)
    assert [pct.rungs(0, np.array([s])) for s in range(7)] == [
        [], [], ["step:2"], [], [], ["step:5"], []]


def test_percentile_rejects_out_of_range_percentile():
    with pytest.raises(BadArgument, match="percentile"):
        Percentile(101)


# -- threshold / patience / none ----------------------------------------------------------------
def test_threshold_prunes_nan_and_out_of_bounds_after_warmup():
    th, rungs = Threshold(lower=0.0, upper=1.0, n_warmup_steps=2), MemoryRungs()
    assert _run(th, rungs, 0, [(0, 5.0), (1, NAN), (2, 0.5)]) == [False, False, False]
    assert _run(th, rungs, 1, [(2, 1.5)]) == [True]
    assert _run(th, rungs, 2, [(3, -0.5)]) == [True]
    assert _run(th, rungs, 3, [(3, NAN)]) == [True]


def test_patience_alone_prunes_a_stalled_trial():
    pat, rungs = Patience(2), MemoryRungs()
    assert _run(pat, rungs, 0, [(1, 1.0), (2, 0.5), (3, 0.6), (4, 0.7)]) == [
        False, False, False, True]


def test_patience_wrapper_needs_both_stall_and_the_wrapped_pruner():
    pat, rungs = Patience(1, wrapped=Threshold(upper=0.55)), MemoryRungs()
    assert _run(pat, rungs, 0, [(1, 0.5), (2, 0.6)]) == [False, True]
    assert _run(pat, rungs, 1, [(1, 0.7), (2, 0.6)]) == [False, False]  # improving
    assert _run(pat, rungs, 2, [(1, 0.5), (2, 0.52)]) == [False, False]  # stalled, in bounds


def test_no_pruner_never_prunes():
    assert _run(NoPruner(), MemoryRungs(), 0, [(1, NAN), (2, 1e9)]) == [False, False]


def test_default_pruner_is_asha_with_eta_3():
    pruner = default_pruner()
    assert isinstance(pruner, SuccessiveHalving) and pruner.reduction_factor == 3


# -- session: bad input -------------------------------------------------------------------------
def test_should_prune_before_any_report_is_false():
    assert not PruningSession(Threshold(upper=0.0), MemoryRungs(), 0).should_prune()


def test_repeated_or_backward_steps_are_ignored_for_pruning():
    asha, rungs = SuccessiveHalving(reduction_factor=2), MemoryRungs()
    _run(asha, rungs, 0, [(1, 0.1)])
    session = PruningSession(asha, rungs, 1)
    session.report(0.05, 1)
    session.report(99.0, 1)  # repeated step: not recorded again, not judged
    session.report(99.0, 0)  # backwards
    assert not session.should_prune()
    assert rungs.values("sh:1:2:0:1") == {0: 0.1, 1: 0.05}


def test_a_prune_decision_sticks_for_the_trial():
    asha, rungs = SuccessiveHalving(reduction_factor=2), MemoryRungs()
    _run(asha, rungs, 0, [(1, 0.1)])
    assert _run(asha, rungs, 1, [(1, 0.9), (2, 0.0)]) == [True, True]


def test_nan_first_report_is_pruned_by_asha():
    assert _run(SuccessiveHalving(), MemoryRungs(), 0, [(1, NAN)]) == [True]


def test_memory_rungs_pickle_with_their_records():
    rungs = MemoryRungs()
    rungs.record(1, 1, 0.5, ["r"])
    assert pickle.loads(pickle.dumps(rungs)).values("r") == {1: 0.5}
