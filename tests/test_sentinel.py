"""Redis Sentinel: ``redis+sentinel://`` URLs everywhere, and a search that survives a failover.

The failover test runs real processes: a master, a replica and three sentinels (all
``redis-server``), two Celery workers and a driver, all given the same Sentinel URL. The master
is SIGKILLed mid-search; the sentinels promote the replica; the search must end with exactly
``max_evals`` trials, each finished once (what asynchronous replication lost, the driver
restores from its own copy, as after a Redis crash).
"""

from __future__ import annotations

import threading
import time
import traceback

import numpy as np
import pytest
from e2e_helpers import SECRET, LoggedObjective, WorkerPool, check_exactly_once, record, wait_until
from sentinel_group import SentinelGroup

from hqueue import fmin, hp, rand
from hqueue.backends.redis.connection import (
    RedisUnreachable,
    check_redis,
    client_from_url,
    mask_url,
)
from hqueue.backends.redis.keys import ExperimentKeys
from hqueue.backends.redis.sentinel import BadSentinelURL, SentinelURL
from hqueue.backends.redis.trials import RedisTrials
from hqueue.worker.app import broker_url, make_app

N_TRIALS = 80


# -- URLs -------------------------------------------------------------------------------------
def test_a_sentinel_url_names_its_sentinels_master_db_and_credentials():
    url = SentinelURL.parse("redis+sentinel://hq:p%40ss@10.0.0.1:26379,10.0.0.2:26380,"
                            "sentinel-3/prod-master/4?sentinel_password=spw")
    assert url.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("sentinel-3", 26379))
    assert (url.master, url.db, url.username, url.password) == ("prod-master", 4, "hq", "p@ss")
    assert url.sentinel_password == "spw"


def test_a_sentinel_url_without_db_uses_db_0_and_no_credentials():
    url = SentinelURL.parse("redis+sentinel://h:1/m")
    assert (url.db, url.username, url.password) == (0, None, None)


@pytest.mark.parametrize("bad", [
    "redis+sentinel://h1:26379",            # no master name
    "redis+sentinel:///mymaster/0",         # no sentinels
    "redis+sentinel://h1:port/mymaster/0",  # bad port
    "redis+sentinel://h1:26379/m/zero",     # bad db
    "redis+sentinel://h1:26379/m/0/extra",
])
def test_a_malformed_sentinel_url_is_refused_with_the_expected_form(bad):
    with pytest.raises(BadSentinelURL, match="MASTER_NAME/DB"):
        SentinelURL.parse(bad)


def test_the_celery_broker_gets_kombus_sentinel_spelling_and_the_master_name():
    url = "redis+sentinel://:pw@h1:26379,h2:26380/mymaster/2?sentinel_password=s"
    assert broker_url(url) == "sentinel://:pw@h1:26379/2;sentinel://:pw@h2:26380/2"
    options = make_app(url).conf.broker_transport_options
    assert options["master_name"] == "mymaster"
    assert options["sentinel_kwargs"] == {"password": "s"}
    assert options["visibility_timeout"] > 3600  # the usual options are kept


def test_a_sentinel_urls_password_is_masked_in_messages():
    assert mask_url("redis+sentinel://hq:s3cret@h1:26379,h2:26379/m/0") == \
        "redis+sentinel://hq:***@h1:26379,h2:26379/m/0"


def test_check_redis_on_unreachable_sentinels_says_what_to_check():
    with pytest.raises(RedisUnreachable, match="sentinels' host:port list and the master name"):
        check_redis("redis+sentinel://127.0.0.1:1,127.0.0.1:2/mymaster/0", timeout_s=0.5)


def test_check_redis_on_a_malformed_sentinel_url_gives_the_form_not_a_server_hint():
    with pytest.raises(RedisUnreachable, match="MASTER_NAME/DB") as info:
        check_redis("redis+sentinel://127.0.0.1:1")
    assert "hqueue serve" not in str(info.value)


# -- a real Sentinel group ----------------------------------------------------------------------
@pytest.fixture
def group(tmp_path, monkeypatch):
    monkeypatch.setenv("HQUEUE_SECRET", SECRET)
    with SentinelGroup(tmp_path / "sentinel") as g:
        yield g


def test_every_client_reaches_the_master_through_the_sentinels(group):
    check_redis(group.url)
    client = client_from_url(group.url)
    client.set("k", "v")
    master = client_from_url(f"redis://127.0.0.1:{group.master_port()}/0")
    assert master.get("k") == b"v"


def test_the_cli_and_the_store_read_an_experiment_through_a_sentinel_url(group):
    from click.testing import CliRunner
    from test_overview import make_experiment

    from hqueue.cli import main

    make_experiment(client_from_url(group.url), "through-sentinel")
    result = CliRunner().invoke(main, ["status", "--url", group.url])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("through-sentinel"))
    assert row.split()[1:6] == ["2", "1", "2", "1", "0"]  # new running done error cancel


@pytest.mark.slow
def test_a_search_survives_the_master_being_killed_with_exact_counts(group, tmp_path):
    pool = WorkerPool(group.url, tmp_path)
    for _ in range(2):
        pool.start(url=group.url)
    log = tmp_path / "evaluations.jsonl"
    objective = LoggedObjective(log, sleep_s=0.1)
    outcome: dict = {}

    def search() -> None:
        try:
            fmin(objective, hp.uniform("x", -1, 1), algo=rand.suggest, max_evals=N_TRIALS,
                 trials=RedisTrials(group.url, exp_key="failover", lease_s=10),
                 pass_expr_memo_ctrl=True, max_queue_len=4, rstate=np.random.default_rng(0),
                 show_progressbar=False)
        except BaseException:  # reported below
            outcome["error"] = traceback.format_exc()

    thread = threading.Thread(target=search, daemon=True)
    try:
        thread.start()
        client = client_from_url(group.url, socket_timeout=5)
        events = ExperimentKeys("failover").events
        wait_until(lambda: client.xlen(events) >= 20, 120, "20 finished trials")
        finished_before = client.xlen(events)
        killed_at = time.monotonic()
        group.kill_master()
        group.wait_for_failover(timeout=60)
        promoted_at = time.monotonic()
        wait_until(lambda: _xlen(group.url, events) > finished_before, 120,
                   "a trial to finish after the failover")
        next_finish = time.monotonic()
        thread.join(timeout=300)
        assert not thread.is_alive(), "the search did not finish after the failover"
        assert "error" not in outcome, (outcome.get("error"), pool.log_text(pool.procs[0])[-3000:])
        summary = check_exactly_once(group.url, "failover", N_TRIALS)
        assert all(p.poll() is None for p in pool.procs), "a worker died in the failover"
    finally:
        pool.stop_all()
    record("Sentinel failover: master SIGKILLed mid-search, replica promoted", injected=1,
           trials=N_TRIALS, lost=summary["lost"], duplicated=summary["duplicated"],
           observed=f"promoted after {promoted_at - killed_at:.1f} s; next trial finished "
                    f"{next_finish - killed_at:.1f} s after the kill",
           test="test_sentinel.py::test_a_search_survives_the_master_being_killed_*")


def _xlen(url: str, key: str) -> int:
    import redis

    try:
        return client_from_url(url, socket_timeout=2, socket_connect_timeout=2).xlen(key)
    except redis.RedisError:
        return 0


# -- deploy/compose.sentinel.yml --------------------------------------------------------------
def test_the_compose_sentinel_variant_points_every_hqueue_process_at_its_sentinels():
    from pathlib import Path

    import yaml

    path = Path(__file__).resolve().parents[1] / "deploy" / "compose.sentinel.yml"
    services = yaml.safe_load(path.read_text())["services"]
    for name in ("worker", "dashboard"):
        url = SentinelURL.parse(services[name]["environment"]["HQUEUE_URL"].replace(
            "${REDIS_PASSWORD:?set REDIS_PASSWORD in .env (openssl rand -hex 32)}", "pw"))
        hosts = {host for host, _ in url.sentinels}
        assert hosts == {"sentinel-1", "sentinel-2", "sentinel-3"} <= set(services)
        monitor = f"sentinel monitor {url.master} redis 6379 2"
        assert all(monitor in services[h]["command"][0] for h in hosts)
    assert "redis" in services["redis-replica"]["command"]  # --replicaof redis 6379
