"""Large attachments: stored in chunks (read back whole, listed once, deleted together), the
size cap, and a 50 MiB value through a real worker and the driver on a real redis-server.

The PING-latency test prints the figures reported in docs/RELIABILITY.md (``-s``).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time

import fakeredis
import numpy as np
import pytest
from e2e_helpers import (
    LoggedObjective,
    all_docs,
    check_exactly_once,
    record,
)

from hqueue import fmin, hp, rand
from hqueue.backends.redis.attachments import (
    ORPHAN_TTL_MS,
    AttachmentTooLarge,
    RedisAttachments,
)
from hqueue.backends.redis.keys import ExperimentKeys
from hqueue.backends.redis.trials import RedisTrials
from hqueue.states import JOB_STATE_ERROR

MIB = 2**20
KEYS = ExperimentKeys("att")

pytestmark = pytest.mark.usefixtures("e2e_secret")  # the workers' secret


@pytest.fixture(params=["fakeredis", "redis-server"])
def client(request):
    if request.param == "fakeredis":
        yield fakeredis.FakeRedis()
        return
    import redis

    url = request.getfixturevalue("redis_url")
    real = redis.Redis.from_url(url)
    yield real
    real.close()


def _trial_att(client, tid=3, **kw):
    kw.setdefault("max_bytes", 10_000)
    kw.setdefault("chunk_bytes", 100)
    return RedisAttachments(client, lambda n: KEYS.trial_attachment(tid, n), f"trial {tid}", **kw)


def _chunk_keys(client) -> list[bytes]:
    return sorted(client.scan_iter(match="hq:{att}:chunk:*"))


def test_chunk_keys_sit_in_the_experiments_hash_tag():
    assert KEYS.attachment_chunk("v1", 2) == "hq:{att}:chunk:v1:2"


def test_a_value_over_one_chunk_round_trips_and_is_listed_once(client):
    att = _trial_att(client)
    big, small = os.urandom(1234), b"x" * 100  # 13 chunks; exactly one chunk: inline
    att["big"], att["small"] = big, small
    assert att["big"] == big and att["small"] == small
    assert sorted(att) == ["big", "small"] and len(att) == 2 and "big" in att
    assert len(_chunk_keys(client)) == 13
    assert client.type(KEYS.trial_attachment(3, "small")) == b"string"
    assert client.type(KEYS.trial_attachment(3, "big")) == b"hash"  # the manifest
    other = _trial_att(client, tid=4)
    assert list(other) == [] and "big" not in other  # another trial's view: none of them


def test_size_reads_inline_and_chunked_values_without_fetching_them(client):
    att = _trial_att(client)
    att["big"], att["small"], att["empty"] = os.urandom(1234), b"x" * 7, b""
    assert [att.size(n) for n in ("big", "small", "empty")] == [1234, 7, 0]
    with pytest.raises(KeyError):
        att.size("absent")


def test_deleting_a_chunked_value_deletes_every_chunk(client):
    att = _trial_att(client)
    att["big"] = os.urandom(1000)
    del att["big"]
    assert list(att) == [] and _chunk_keys(client) == []
    with pytest.raises(KeyError):
        att["big"]
    with pytest.raises(KeyError):
        del att["big"]


@pytest.mark.parametrize("sizes", [(1000, 300), (1000, 50), (50, 1000), (1000, 1000)],
                         ids=["smaller-chunked", "inline", "grown", "same-size"])
def test_overwriting_leaves_no_stale_chunk(client, sizes):
    att = _trial_att(client)
    first, second = os.urandom(sizes[0]), os.urandom(sizes[1])
    att["v"] = first
    att["v"] = second
    assert att["v"] == second
    assert len(_chunk_keys(client)) == (-(-len(second) // 100) if len(second) > 100 else 0)
    assert all(client.ttl(k) == -1 for k in _chunk_keys(client))  # switched in: persistent


def test_a_writer_dying_before_the_switch_leaves_only_expiring_chunks(client, monkeypatch):
    att = _trial_att(client)
    att["v"] = b"old value"

    def die(*args, **kwargs):
        raise SystemExit("killed mid-write")

    monkeypatch.setattr(att, "_switch", die)
    monkeypatch.setattr(client, "unlink", lambda *keys: (_ for _ in ()).throw(OSError("gone")))
    with pytest.raises(SystemExit):
        att["v"] = os.urandom(1000)
    leftovers = _chunk_keys(client)
    assert len(leftovers) == 10
    assert all(0 < client.pttl(k) <= ORPHAN_TTL_MS for k in leftovers)
    assert _trial_att(client)["v"] == b"old value"  # the old value is still whole


def test_readers_never_see_a_half_written_or_mixed_value(redis_url):
    import redis

    writer_client, reader_client = redis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    writer, reader = _trial_att(writer_client), _trial_att(reader_client)
    writer["v"] = bytes([0]) * 2000
    stop, seen, bad = threading.Event(), set(), []

    def read_loop():
        while not stop.is_set():
            value = reader["v"]
            if len(set(value)) != 1 or len(value) != 2000 + 300 * value[0] % 1000:
                bad.append((len(value), set(value)))
            seen.add(value[0])

    thread = threading.Thread(target=read_loop, daemon=True)
    thread.start()
    deadline, i = time.monotonic() + 60, 0
    while (i < 60 or len(seen) < 3) and time.monotonic() < deadline:
        i = i % 250 + 1  # values of one repeated byte, of changing size (chunks differ)
        size = 2000 + 300 * i % 1000
        writer["v"] = bytes([i]) * size
    stop.set()
    thread.join(timeout=30)
    assert not bad, bad[:3]
    assert len(seen) >= 3  # the reader really read while the values changed
    assert len(_chunk_keys(writer_client)) == -(-size // 100)  # only the last value's
    writer_client.close()
    reader_client.close()


def test_the_cap_is_checked_before_anything_is_written(client):
    att = _trial_att(client, max_bytes=500)
    with pytest.raises(AttachmentTooLarge, match=r"'v' of trial 3 is 501 bytes, over the "
                                                 r"500-byte cap \(max_attachment_bytes\)"):
        att["v"] = b"x" * 501
    assert list(att) == [] and _chunk_keys(client) == []


# -- 50 MiB through a real worker and the driver -----------------------------------------------
def _search(url, exp_key, objective, n, **options):
    trials = RedisTrials(url, exp_key=exp_key, lease_s=10, **options)
    fmin(objective, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=n, trials=trials,
         max_queue_len=1, rstate=np.random.default_rng(0), show_progressbar=False)
    return trials


@pytest.mark.slow
def test_a_50_mib_attachment_round_trips_from_a_worker_to_the_driver(redis_url, pool,
                                                                     tmp_path):
    import redis

    size = 50 * MIB
    pool.start(env={"HQ_ATTACH_BYTES": str(size)})
    objective = LoggedObjective(tmp_path / "evals.jsonl", behaviours={0: "attach"})
    trials = _search(redis_url, "big", objective, 2)
    check_exactly_once(redis_url, "big", 2, objective.log_path)
    doc = all_docs(redis_url, "big")[0]
    att = trials.trial_attachments(doc)
    value = att["big"]
    assert len(value) == size == doc["result"]["size"]
    assert hashlib.sha256(value).hexdigest() == doc["result"]["sha256"]
    assert list(att) == ["big"]
    client = redis.Redis.from_url(redis_url)
    chunks = list(client.scan_iter(match="hq:{big}:chunk:*"))
    assert len(chunks) == size // (4 * MIB) + (size % (4 * MIB) > 0)  # 13 chunks of 4 MiB
    # an experiment attachment of 50 MiB from the driver, read by another client
    payload = os.urandom(size)
    trials.attachments["dataset"] = payload
    assert RedisTrials(redis_url, exp_key="big").attachments["dataset"] == payload
    del trials.attachments["dataset"], att["big"]
    assert list(client.scan_iter(match="hq:{big}:chunk:*")) == []
    client.close()


@pytest.mark.slow
def test_an_attachment_over_the_cap_errors_the_trial_with_attachment_too_large(
        redis_url, pool, tmp_path):
    cap = 32 * MIB
    pool.start(env={"HQ_ATTACH_BYTES": str(50 * MIB)})
    objective = LoggedObjective(tmp_path / "evals.jsonl", behaviours={1: "attach"})
    trials = _search(redis_url, "cap", objective, 3, max_attachment_bytes=cap)
    check_exactly_once(redis_url, "cap", 3, objective.log_path,
                       final_states={1: JOB_STATE_ERROR})
    kind, message = all_docs(redis_url, "cap")[1]["misc"]["error"]
    assert "AttachmentTooLarge" in kind
    assert f"'big' of trial 1 is {50 * MIB} bytes, over the {cap}-byte cap" in message
    with pytest.raises(AttachmentTooLarge, match="max_attachment_bytes"):
        trials.attachments["too-big"] = b"\0" * (cap + 1)
    assert list(trials.attachments) == []


def _max_ping_latency_during(redis_url, write) -> tuple[float, int, float]:
    """(max PING round trip in s, PINGs answered during ``write()``, its duration in s)."""
    import redis

    pinger = redis.Redis.from_url(redis_url)
    pinger.ping()
    stop, latencies, window = threading.Event(), [], {}

    def ping_loop():
        while not stop.is_set():
            t0 = time.perf_counter()
            pinger.ping()
            latencies.append((t0, time.perf_counter() - t0))
            time.sleep(0.001)

    thread = threading.Thread(target=ping_loop, daemon=True)
    thread.start()
    time.sleep(0.05)
    window["start"] = time.perf_counter()
    write()
    window["end"] = time.perf_counter()
    time.sleep(0.05)
    stop.set()
    thread.join(timeout=30)
    pinger.close()
    during = [lat for t0, lat in latencies if window["start"] <= t0 <= window["end"]]
    overlapping = [lat for t0, lat in latencies if t0 <= window["end"] and
                   t0 + lat >= window["start"]]
    return max(overlapping), len(during), window["end"] - window["start"]


@pytest.mark.slow
def test_other_clients_are_answered_while_a_50_mib_attachment_is_written(redis_url):
    import redis

    payload = os.urandom(50 * MIB)
    writer = redis.Redis.from_url(redis_url)
    trials = RedisTrials(redis_url, exp_key="ping")
    chunked_max, chunked_n, chunked_s = _max_ping_latency_during(
        redis_url, lambda: trials.attachments.__setitem__("big", payload))
    raw_max, raw_n, raw_s = _max_ping_latency_during(
        redis_url, lambda: writer.set("hq:{ping}:unchunked", payload))
    assert trials.attachments["big"] == payload
    print(f"\n50 MiB write: chunked {chunked_s * 1000:.0f} ms, {chunked_n} PINGs answered "
          f"during it, max PING {chunked_max * 1000:.1f} ms; one SET {raw_s * 1000:.0f} ms, "
          f"{raw_n} PINGs, max PING {raw_max * 1000:.1f} ms")
    assert chunked_n >= 1  # other clients were served during the write
    record("50 MiB attachment written while another client PINGs",
           test="test_other_clients_are_answered_while_a_50_mib_attachment_is_written",
           injected=0, trials=0, lost=0, duplicated=0, re_evaluations=0,
           observed=f"chunked: max PING {chunked_max * 1000:.1f} ms over a "
                    f"{chunked_s * 1000:.0f} ms write; one unchunked SET: max PING "
                    f"{raw_max * 1000:.1f} ms over {raw_s * 1000:.0f} ms",
           seconds=round(chunked_s + raw_s, 1))
    writer.close()
