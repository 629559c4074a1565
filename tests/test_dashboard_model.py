"""The dashboard's sorted table index, updated row by row, against a plain sort."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from hqueue.dashboard.model import SortedIndex

VALUES = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32),
                   st.integers(-5, 5), st.sampled_from(["a", "b", "relu"]))
ROW = st.fixed_dictionaries({"state": st.sampled_from(["new", "running", "done"]),
                             "loss": VALUES})


def plain_order(rows: dict[int, dict], state: str | None, desc: bool) -> list[int]:
    """The order a reader expects: numbers, then text, each by value then tid (reversed when
    descending), then empty cells (None, NaN) by tid."""
    kept = {t: r for t, r in rows.items() if state is None or r["state"] == state}

    def empty(v):
        return v is None or (isinstance(v, float) and math.isnan(v))

    filled = [t for t, r in kept.items() if not empty(r["loss"])]
    filled.sort(key=lambda t: (isinstance(kept[t]["loss"], str), kept[t]["loss"], t),
                reverse=desc)
    return filled + sorted(t for t, r in kept.items() if empty(r["loss"]))


@settings(max_examples=150, deadline=None)
@given(initial=st.dictionaries(st.integers(0, 40), ROW, max_size=25),
       changes=st.lists(st.tuples(st.integers(0, 45), ROW), max_size=30),
       state=st.sampled_from([None, "done", "running"]), desc=st.booleans(),
       offset=st.integers(0, 30), limit=st.integers(1, 30))
def test_sorted_index_updated_row_by_row_matches_a_fresh_sort(initial, changes, state, desc,
                                                               offset, limit):
    rows = dict(initial)
    index = SortedIndex(rows, "loss", state)
    for tid, row in changes:
        index.replace(tid, rows.get(tid), row)
        rows[tid] = row
    expected = plain_order(rows, state, desc)
    assert len(index) == len(expected)
    assert index.page(offset, limit, desc) == expected[offset:offset + limit]
