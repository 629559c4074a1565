"""The trial document helpers the insert path runs on every trial (``trial_doc.sonify``)."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hqueue import Trials
from hqueue.exceptions import InvalidTrial
from hqueue.trial_doc import generate_trial, sonify, utcnow


def reference_sonify(obj: Any) -> Any:
    """The plain recursive reading of sonify's contract, to check the fast one against."""
    if isinstance(obj, np.ndarray):
        return [reference_sonify(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return obj.item()
    if type(obj) is tuple:
        return tuple(reference_sonify(v) for v in obj)
    if type(obj) is list:
        return [reference_sonify(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: reference_sonify(v) for k, v in obj.items()}
    return obj


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types, all the way down (1 == 1.0 == True is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b or (a != a and b != b)


leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=True),
    st.text(max_size=5), st.binary(max_size=5),
    st.datetimes().map(lambda d: d.replace(microsecond=0)),
    st.integers(-1000, 1000).map(np.int64), st.floats(width=32).map(np.float32),
    st.floats().map(np.float64), st.booleans().map(np.bool_),
    st.lists(st.floats(allow_nan=False), max_size=3).map(np.array),
)
documents = st.recursive(
    leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.lists(inner, max_size=3).map(tuple),
                            st.dictionaries(st.text(max_size=4), inner, max_size=4)),
    max_leaves=25)


@given(documents)
def test_sonify_gives_the_plain_python_values_of_the_reference_reading(obj: Any) -> None:
    assert same(sonify(obj), reference_sonify(obj))


def test_sonify_copies_every_dict_and_list_of_a_document() -> None:
    doc = generate_trial(3, {"x": np.float64(0.5), "c": 2})
    doc["result"] = {"loss": np.float32(1.5), "status": "ok", "curve": [{"step": 1}]}
    out = sonify(doc)
    assert out == {**doc, "misc": {**doc["misc"], "vals": {"x": [0.5], "c": [2]}},
                   "result": {"loss": 1.5, "status": "ok", "curve": [{"step": 1}]}}
    assert type(out["misc"]["vals"]["x"][0]) is float

    def containers(obj: Any) -> list[Any]:
        if isinstance(obj, dict):
            return [obj, *(c for v in obj.values() for c in containers(v))]
        if isinstance(obj, list):
            return [obj, *(c for v in obj for c in containers(v))]
        return []

    originals = {id(c) for c in containers(doc)}
    assert not originals & {id(c) for c in containers(out)}
    out["misc"]["idxs"]["x"].append(99)
    assert doc["misc"]["idxs"]["x"] == [3]


def test_sonify_keeps_datetimes_and_bytes_as_they_are() -> None:
    now = datetime.datetime(2026, 1, 2, 3, 4, 5)
    assert sonify({"t": now, "b": b"\x00", "n": [None, True]}) == {
        "t": now, "b": b"\x00", "n": [None, True]}


def test_utcnow_is_naive_utc_truncated_to_the_millisecond() -> None:
    def clock() -> datetime.datetime:
        return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)

    before = clock()
    stamp = utcnow()
    after = clock()
    assert stamp.tzinfo is None and stamp.microsecond % 1000 == 0
    assert before.replace(microsecond=before.microsecond // 1000 * 1000) <= stamp <= after


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m["vals"].pop("c"), "misc idxs and vals have different labels"),
    (lambda m: m["vals"].update(c=[]), "misc idxs/vals of 'c' differ in length"),
    (lambda m: m["idxs"].update(x=[7]), "misc idxs of 'x' should be [tid]"),
])
def test_an_inserted_document_with_inconsistent_idxs_and_vals_is_refused(change, message) -> None:
    doc = generate_trial(3, {"x": 0.5, "c": 2})
    change(doc["misc"])
    trials = Trials()
    with pytest.raises(InvalidTrial, match=re.escape(message)):
        trials.insert_trial_docs([doc])
    assert trials.insert_trial_docs([generate_trial(3, {"x": 0.5, "c": 2})]) == [3]
