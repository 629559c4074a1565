"""hqueue.backends.redis.codec: trial documents and small values through msgpack."""

from __future__ import annotations

import datetime
import enum
import math
from collections import OrderedDict

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hqueue import Trials, fmin, hp, rand, tpe
from hqueue.backends.redis.codec import (
    CorruptTrialDocument,
    UnencodableValue,
    decode_doc,
    decode_value,
    encode_doc,
    encode_value,
)
from hqueue.exceptions import HqueueError
from hqueue.trial_doc import sonify


def same(a, b) -> bool:
    """Equal values of the same types all the way down (so 1 == True does not pass)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, datetime.datetime):
        return a == b and a.tzinfo == b.tzinfo
    return a == b


def round_trip_doc(doc):
    return decode_doc(encode_doc(doc))


# -- real trial documents -------------------------------------------------------------------
def objective(cfg):
    return {
        "loss": cfg["x"] ** 2 + cfg["n"] + (cfg["model"]["kind"] == "svm"),
        "status": "ok",
        "curve": np.linspace(0, 1, 4),  # numpy values inside results become plain Python
        "best_epoch": np.int64(7),
        "score": np.float32(0.25),
        "blob": b"\x00\xffraw",
        "finished_at": datetime.datetime(2024, 1, 2, 3, 4, 5, 678901),
        "pair": (1, "two"),
    }


SPACE = {
    "x": hp.uniform("x", -2, 2),
    "n": hp.randint("n", 5),
    "model": hp.choice("model", [{"kind": "svm", "c": hp.uniform("c", 0.1, 10)},
                                 {"kind": "tree", "depth": hp.randint("depth", 8)}]),
}


@pytest.fixture(scope="module", params=[tpe.suggest, rand.suggest], ids=["tpe", "rand"])
def trial_docs(request):
    trials = Trials()
    fmin(objective, SPACE, algo=request.param, max_evals=12, trials=trials,
         rstate=np.random.default_rng(0), show_progressbar=False)
    return trials.trials


def test_real_trial_documents_round_trip(trial_docs):
    assert len(trial_docs) == 12
    for doc in trial_docs:
        back = round_trip_doc(doc)
        assert same(back, sonify(doc))
        assert back["misc"]["cmd"] == ("domain_attachment", "FMinIter_Domain")
        assert isinstance(back["misc"]["cmd"], tuple)
        assert back["book_time"] == doc["book_time"]
        assert back["refresh_time"] == doc["refresh_time"]
        result = back["result"]
        assert result["curve"] == [0.0, 1 / 3, 2 / 3, 1.0]
        assert type(result["best_epoch"]) is int and type(result["score"]) is float
        assert result["blob"] == b"\x00\xffraw"
        assert result["pair"] == (1, "two")
        assert result["finished_at"] == datetime.datetime(2024, 1, 2, 3, 4, 5, 678901)


def test_real_trial_document_parts_as_values(trial_docs):
    doc = trial_docs[-1]
    assert decode_value(encode_value(doc["book_time"])) == doc["book_time"]
    assert same(decode_value(encode_value(doc["result"])), sonify(doc["result"]))
    assert decode_value(encode_value(doc["misc"]["vals"])) == doc["misc"]["vals"]


def test_documents_rebuild_trials(trial_docs):
    from hqueue import trials_from_docs

    rebuilt = trials_from_docs([round_trip_doc(d) for d in trial_docs])
    original = trials_from_docs(trial_docs)
    assert rebuilt.losses() == original.losses()
    assert rebuilt.best_trial["tid"] == original.best_trial["tid"]
    assert rebuilt.argmin == original.argmin


# -- specific types -------------------------------------------------------------------------
@pytest.mark.parametrize("value", [
    datetime.datetime(2024, 5, 1, 12, 0, 0, 125000),
    datetime.datetime(2024, 5, 1, 12, 0, 0, 1),
    datetime.datetime(1969, 12, 31, 23, 59, 59, 999999),
    datetime.datetime.min,
    datetime.datetime.max,
])
def test_naive_datetimes_are_exact(value):
    back = decode_value(encode_value(value))
    assert back == value and back.tzinfo is None


def test_aware_datetimes_keep_their_instant_in_utc():
    tz = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    value = datetime.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=tz)
    back = decode_value(encode_value(value))
    assert back == value
    assert back.tzinfo == datetime.timezone.utc


@pytest.mark.parametrize("value", [
    (), (1,), ("a", (2, [3, (4,)])), [(1, 2), (3, 4)], {"k": (None, b"x", 1.5)},
    2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**63) - 1, 10**40, -(10**40),
    b"", b"\x00" * 10, "ünïcödé", float("inf"), -float("inf"), 0.1, True, False, None,
    {1: "int key", "s": "str key"},
])
def test_values_round_trip_with_their_types(value):
    assert same(decode_value(encode_value(value)), value)


def test_nan_round_trips():
    assert math.isnan(decode_value(encode_value(float("nan"))))


def test_numpy_values_become_plain_python():
    value = {"i": np.int32(3), "f": np.float64(0.5), "b": np.bool_(True),
             "a": np.arange(6).reshape(2, 3), "s": np.str_("x"), "t": (np.float32(1.0),)}
    back = decode_value(encode_value(value))
    assert same(back, {"i": 3, "f": 0.5, "b": True, "a": [[0, 1, 2], [3, 4, 5]], "s": "x",
                       "t": (1.0,)})


def test_subclasses_become_their_base_type():
    class Color(enum.IntEnum):
        RED = 2

    class Name(str):
        pass

    value = {"e": Color.RED, "n": Name("x"), "o": OrderedDict(a=1), "ba": bytearray(b"q"),
             "mv": memoryview(b"r")}
    assert same(decode_value(encode_value(value)),
                {"e": 2, "n": "x", "o": {"a": 1}, "ba": b"q", "mv": b"r"})


# -- refusals -------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, where", [
    ({"result": {"model": object()}}, "doc['result']['model'] (a object)"),
    ({"result": {"m": [1, {"z": {1, 2}}]}}, "doc['result']['m'][1]['z'] (a set)"),
    ({"result": {"t": (1, 2j)}}, "doc['result']['t'][1] (a complex)"),
])
def test_unencodable_values_are_named(bad, where):
    with pytest.raises(UnencodableValue) as info:
        encode_doc(bad)
    assert where in str(info.value)
    assert "attachments" in str(info.value)
    assert isinstance(info.value, TypeError) and isinstance(info.value, HqueueError)


def test_encode_doc_needs_a_mapping():
    with pytest.raises(UnencodableValue):
        encode_doc([1, 2])


def test_truncated_blobs_are_corrupt():
    blob = encode_doc({"tid": 3, "misc": {"cmd": ("a", "b")},
                       "t": datetime.datetime(2024, 1, 1)})
    for cut in range(len(blob)):
        with pytest.raises(CorruptTrialDocument):
            decode_doc(blob[:cut], key="hq:{e}:trial:3", tid=3)


def test_corrupt_error_names_the_key_and_tid():
    with pytest.raises(CorruptTrialDocument) as info:
        decode_doc(b"\xc1", key="hq:{exp1}:trial:7", tid=7)
    assert "'hq:{exp1}:trial:7'" in str(info.value) and "tid 7" in str(info.value)
    assert info.value.key == "hq:{exp1}:trial:7" and info.value.tid == 7
    assert isinstance(info.value, HqueueError)


@pytest.mark.parametrize("blob", [
    b"",
    b"\xc1",  # a byte msgpack never uses
    encode_value(3),  # valid msgpack, not a document
    encode_doc({"a": 1}) + b"\x00",  # trailing data
    msgpack.packb({"a": msgpack.ExtType(99, b"")}),  # unknown ext type
    msgpack.packb({"a": msgpack.ExtType(1, b"\x00\x01")}),  # datetime ext of the wrong size
    msgpack.packb({"a": msgpack.ExtType(1, b"\x7f" * 8)}),  # datetime out of range
    msgpack.packb({"a": msgpack.ExtType(3, msgpack.packb(5))}),  # tuple ext without an array
    msgpack.packb({"a": msgpack.ExtType(4, b"")}),  # empty big int
    b"\x81\xa1a\xa2\xff\xfe",  # invalid UTF-8 in a string
    b"\x81\x91\x01\x02",  # a list as a map key
])
def test_malformed_blobs_are_corrupt(blob):
    with pytest.raises(CorruptTrialDocument):
        decode_doc(blob)


def test_non_bytes_input_is_corrupt():
    with pytest.raises(CorruptTrialDocument):
        decode_doc("a string")  # type: ignore[arg-type]


@given(st.binary(max_size=64))
def test_random_bytes_never_raise_a_raw_error(data):
    for decode in (decode_doc, decode_value):
        try:
            decode(data)
        except CorruptTrialDocument:
            pass


# -- property: generated documents ----------------------------------------------------------
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(),
    st.binary(), st.datetimes(),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=5).map(tuple),
        st.dictionaries(st.text(), children, max_size=5),
    ),
    max_leaves=30,
)
documents = st.dictionaries(st.text(), values, max_size=8)


@settings(max_examples=300)
@given(documents)
def test_generated_documents_round_trip(doc):
    assert same(round_trip_doc(doc), doc)
    assert same(decode_value(encode_value(doc)), doc)


def _nested(levels: int) -> dict:
    value: dict = {"loss": 0.5}
    inner = value
    for _ in range(levels):
        inner["next"] = [{}]
        inner = inner["next"][0]
    return value


def test_a_value_nested_past_the_limit_is_refused_naming_the_limit():
    from hqueue.backends.redis.codec import MAX_NESTING, UnencodableValue, encode_value

    encode_value(_nested(MAX_NESTING // 2 - 1))  # a dict and a list per level
    with pytest.raises(UnencodableValue, match=f"more than {MAX_NESTING} levels deep"):
        encode_value(_nested(MAX_NESTING // 2 + 1))
    chain: dict = {"loss": 0.5}
    inner = chain
    for _ in range(600):  # the objective zoo's 'deep': within sonify's recursion, not a reader's
        inner["next"] = {}
        inner = inner["next"]
    with pytest.raises(UnencodableValue, match="levels deep"):
        encode_value(chain)
