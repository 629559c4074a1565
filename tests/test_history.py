"""The sampler's History and its append-only arrays (hqueue/history.py)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hqueue.history import GrowArray, History


@given(st.lists(st.lists(st.floats(allow_nan=False) | st.integers(-10**6, 10**6), max_size=40),
                max_size=6))
def test_grow_array_reads_what_was_appended_between_reads(batches: list[list[float]]) -> None:
    arr, every = GrowArray(float, capacity=2), []
    for batch in batches:
        for value in batch:
            arr.append(value)
        every.extend(batch)
        assert len(arr) == len(every)
        assert arr.view().tolist() == [float(v) for v in every]


def test_grow_array_converts_as_numpy_item_assignment_does() -> None:
    ints = GrowArray(np.int64)
    ints.append(np.int64(4))
    ints.append(2.7)  # truncated, as ``buf[i] = 2.7`` does
    assert ints.view().tolist() == [4, 2] and ints.view().dtype == np.int64
    bad = GrowArray(np.int64)
    bad.append("tid-a")
    with pytest.raises(ValueError):
        bad.view()


@pytest.mark.parametrize("duplicate", [copy.deepcopy, lambda h: pickle.loads(pickle.dumps(h))])
def test_a_copied_history_grows_apart_from_the_original(duplicate) -> None:
    h = History()
    h.add(tid=0, loss=1.0, vals={"x": [0.5]})
    twin = duplicate(h)
    twin.add(tid=1, loss=0.5, vals={"x": [0.7]})
    h.add(tid=2, loss=2.0, vals={"x": [0.1], "y": [3.0]})
    assert twin.tids.tolist() == [0, 1] and twin.column("x")[1].tolist() == [0.5, 0.7]
    assert h.tids.tolist() == [0, 2] and h.column("x")[1].tolist() == [0.5, 0.1]
    assert twin.column("y")[1].tolist() == [] and h.column("y")[0].tolist() == [1]
    assert twin.best_row() == 1 and h.best_row() == 0
