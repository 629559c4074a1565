"""``hqueue.early_stop.no_progress_loss``: hyperopt 0.3.0 semantics, pinned by loss sequences."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

import hqueue
from hqueue import hp, rand
from hqueue.early_stop import no_progress_loss
from hqueue.states import JOB_STATE_DONE, JOB_STATE_NEW, STATUS_FAIL, STATUS_OK

FAILED = object()  # a trial whose result has no "loss" key
PENDING = object()  # a trial still queued


def make_trials(losses: list) -> hqueue.Trials:
    """A Trials holding one finished trial per loss (``FAILED``/``PENDING`` for those cases)."""
    trials = hqueue.Trials()
    if not losses:
        return trials
    tids = trials.new_trial_ids(len(losses))
    results, miscs = [], []
    for tid, loss in zip(tids, losses):
        if loss is FAILED:
            results.append({"status": STATUS_FAIL})
        elif loss is PENDING:
            results.append({"status": "new"})
        else:
            results.append({"status": STATUS_OK, "loss": loss})
        miscs.append(
            {"tid": tid, "cmd": None, "workdir": None, "idxs": {"x": [tid]}, "vals": {"x": [0.0]}}
        )
    docs = trials.new_trial_docs(tids, [None] * len(tids), results, miscs)
    for doc, loss in zip(docs, losses):
        doc["state"] = JOB_STATE_NEW if loss is PENDING else JOB_STATE_DONE
    trials.insert_trial_docs(docs)
    trials.refresh()
    return trials


def replay(stop_fn, losses: list) -> list[tuple[bool, list]]:
    """Call ``stop_fn`` as fmin does, once after each trial; returns each (stop, args)."""
    out, args = [], []
    for n in range(1, len(losses) + 1):
        stop, args = stop_fn(make_trials(losses[:n]), *args)
        out.append((stop, list(args)))
    return out


def stops(stop_fn, losses: list) -> list[bool]:
    return [s for s, _ in replay(stop_fn, losses)]


def test_first_call_gets_no_args_and_counts_one() -> None:
    stop, args = no_progress_loss(3)(make_trials([2.0]))
    assert stop is False
    assert args == [2.0, 1]


def test_stops_after_n_calls_without_progress() -> None:
    # The first trial already counts one iteration without progress (as in hyperopt).
    assert stops(no_progress_loss(3), [1.0] * 5) == [False, False, True, True, True]
    assert stops(no_progress_loss(1), [1.0, 1.0]) == [False, True]


def test_equal_loss_is_not_progress() -> None:
    out = replay(no_progress_loss(2), [2.0, 2.0])
    assert out == [(False, [2.0, 1]), (True, [2.0, 2])]


def test_improvement_resets_the_counter() -> None:
    out = replay(no_progress_loss(3), [5.0, 4.0, 6.0, 6.0, 3.0, 7.0, 7.0, 7.0])
    assert [a for _, a in out] == [
        [5.0, 1],
        [4.0, 0],
        [4.0, 1],
        [4.0, 2],
        [3.0, 0],
        [3.0, 1],
        [3.0, 2],
        [3.0, 3],
    ]
    assert [s for s, _ in out] == [False] * 7 + [True]


def test_percent_increase_is_the_required_relative_improvement() -> None:
    # best 100, 10 %: a loss must be < 90 to count; 95 is no progress and does not become best.
    out = replay(no_progress_loss(3, percent_increase=10.0), [100.0, 95.0, 89.0, 85.0])
    assert [a for _, a in out] == [[100.0, 1], [100.0, 2], [89.0, 0], [89.0, 1]]
    # the tolerance scales with abs(best) for negative losses: best -100 -> threshold -110
    out = replay(no_progress_loss(5, percent_increase=10.0), [-100.0, -105.0, -111.0])
    assert [a for _, a in out] == [[-100.0, 1], [-100.0, 2], [-111.0, 0]]


def test_none_loss_clears_best_and_counter() -> None:
    out = replay(no_progress_loss(3), [5.0, 6.0, None, 7.0, 7.0, 7.0])
    assert [a for _, a in out] == [[5.0, 1], [5.0, 2], [None, 0], [7.0, 1], [7.0, 2], [7.0, 3]]
    assert [s for s, _ in out] == [False] * 5 + [True]


def test_nan_loss_never_counts_as_progress() -> None:
    out = replay(no_progress_loss(2), [1.0, math.nan])
    assert out[-1] == (True, [1.0, 2])


def test_failed_trial_without_loss_is_no_progress() -> None:
    # hyperopt 0.3.0 raises KeyError('loss') here.
    assert replay(no_progress_loss(3), [5.0, FAILED, FAILED]) == [
        (False, [5.0, 1]),
        (False, [5.0, 2]),
        (True, [5.0, 3]),
    ]
    # before any best a failure counts like a None loss
    assert replay(no_progress_loss(3), [FAILED, 1.0])[-1] == (False, [1.0, 2])


def test_pending_newest_trial_and_empty_trials_leave_state_unchanged() -> None:
    stop_fn = no_progress_loss(1)
    assert stop_fn(make_trials([])) == (False, [None, 0])
    assert stop_fn(make_trials([3.0, PENDING]), 3.0, 7) == (False, [3.0, 7])


def _hyperopt_reference(losses: list, n: int, pct: float) -> list[tuple[bool, list]]:
    """hyperopt 0.3.0's no_progress_loss, written out (for losses that are numbers or None)."""
    out, best, count = [], None, 0
    for loss in losses:
        if best is None:
            best, count, stop = loss, count + 1, False
        else:
            if loss is None or loss < best - abs(best * (pct / 100.0)):
                best, count = loss, 0
            else:
                count += 1
            stop = count >= n
        out.append((stop, [best, count]))
    return out


@pytest.mark.parametrize("seed", range(20))
def test_random_sequences_match_hyperopt_semantics(seed: int) -> None:
    rng = random.Random(seed)
    pool = [1.0, 2.0, 0.5, 0.0, -1.0, -0.99, None, 1.01]
    losses = [
        rng.choice(pool) if rng.random() < 0.5 else round(rng.uniform(-3, 3), 1)
        for _ in range(rng.randint(1, 25))
    ]
    n, pct = rng.randint(1, 5), rng.choice([0.0, 1.0, 10.0, 50.0])
    assert replay(no_progress_loss(n, pct), losses) == _hyperopt_reference(losses, n, pct)


def test_matches_installed_hyperopt_when_available() -> None:
    hyperopt_early_stop = pytest.importorskip("hyperopt.early_stop")
    rng = random.Random(0)
    for _ in range(200):
        losses = [
            rng.choice([1.0, 2.0, 0.5, None, -1.0, round(rng.uniform(-2, 2), 1)])
            for _ in range(rng.randint(1, 20))
        ]
        n, pct = rng.randint(1, 5), rng.choice([0.0, 5.0, 50.0])
        ref = replay(hyperopt_early_stop.no_progress_loss(n, pct), losses)
        assert replay(no_progress_loss(n, pct), losses) == ref


# -- through fmin ---------------------------------------------------------------------------
def _fmin_with(losses, stop_fn, max_evals: int = 100, **kwargs) -> hqueue.Trials:
    it = iter(losses)
    trials = hqueue.Trials()
    hqueue.fmin(
        lambda x: next(it),
        hp.uniform("x", 0, 1),
        algo=rand.suggest,
        max_evals=max_evals,
        trials=trials,
        early_stop_fn=stop_fn,
        rstate=np.random.default_rng(0),
        show_progressbar=False,
        **kwargs,
    )
    return trials


def test_fmin_stops_on_a_flat_objective() -> None:
    trials = _fmin_with(itertools.repeat(1.0), no_progress_loss(5))
    assert len(trials) == 5


def test_fmin_stops_n_trials_after_the_last_improvement() -> None:
    losses = itertools.chain([5.0, 4.0, 3.0], itertools.repeat(3.0))
    trials = _fmin_with(losses, no_progress_loss(3))
    assert trials.losses() == [5.0, 4.0, 3.0, 3.0, 3.0, 3.0]


def test_fmin_does_not_stop_while_improving() -> None:
    trials = _fmin_with((float(-i) for i in itertools.count()), no_progress_loss(2), max_evals=15)
    assert len(trials) == 15


def test_fmin_counts_a_queued_batch_once_like_hyperopt() -> None:
    # hyperopt calls early_stop_fn once per batch of max_queue_len trials; hqueue checks after
    # every trial, and a still-queued newest trial leaves the state unchanged: same stop point.
    trials = _fmin_with(itertools.repeat(1.0), no_progress_loss(2), max_queue_len=3)
    assert len(trials) == 6


def test_fmin_passes_state_back_unchanged() -> None:
    seen = []

    def spy(trials, *args):
        seen.append(args)
        return False, [len(seen), "state"]

    _fmin_with(itertools.repeat(1.0), spy, max_evals=3)
    assert seen == [(), (1, "state"), (2, "state")]
