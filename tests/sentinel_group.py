"""A Redis Sentinel group for tests: one master, one replica and three sentinels, each a real
``redis-server`` process (a sentinel is ``redis-server CONF --sentinel``) on free loopback
ports in a temporary directory.

Example:
    with SentinelGroup(tmp_path) as group:
        client = client_from_url(group.url)   # redis+sentinel://127.0.0.1:P1,.../mymaster/0
        group.kill_master()                   # SIGKILL; the sentinels promote the replica
        group.wait_for_failover(timeout=60)
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import redis

from hqueue.backends.redis.server import find_redis_server, free_port

MASTER_NAME = "mymaster"


class SentinelGroup:
    """A master, a replica and three sentinels watching them; ``url`` names the sentinels."""

    def __init__(self, base_dir: Path, *, down_after_ms: int = 1000) -> None:
        self.dir = Path(base_dir)
        self.binary = find_redis_server()
        self.down_after_ms = down_after_ms
        self.procs: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> SentinelGroup:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        master = self._spawn("master", [])
        self._spawn("replica", [f"replicaof 127.0.0.1 {master}"])
        self._wait(lambda: self._info("replica", "replication").get("master_link_status")
                   == "up", 30, "the replica to sync with the master")
        for i in range(3):
            self._spawn(f"sentinel{i}", [
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 2",
                f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}",
                f"sentinel failover-timeout {MASTER_NAME} 10000",
                f"sentinel parallel-syncs {MASTER_NAME} 1",
            ], sentinel=True)
        self._wait(self._sentinels_see_each_other, 60, "the sentinels to find each other")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs.values():
            proc.wait(timeout=10)

    # -- what tests use -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{self.ports[f'sentinel{i}']}" for i in range(3))
        return f"redis+sentinel://{hosts}/{MASTER_NAME}/0"

    def master_port(self) -> int:
        """The port of the master as the first sentinel that answers sees it now."""
        for i in range(3):
            try:
                client = redis.Redis(port=self.ports[f"sentinel{i}"], socket_timeout=2)
                host, port = client.sentinel_get_master_addr_by_name(MASTER_NAME)
                return int(port)
            except redis.RedisError:
                continue
        raise AssertionError("no sentinel answers")

    def kill_master(self) -> str:
        """SIGKILL whichever server is the master now; returns its role name."""
        port = self.master_port()
        name = next(n for n, p in self.ports.items() if p == port)
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait(timeout=10)
        self._killed_port = port
        return name

    def wait_for_failover(self, timeout: float) -> int:
        """Wait until the sentinels name a live master other than the killed one."""
        self._wait(lambda: self.master_port() != self._killed_port, timeout,
                   "the sentinels to promote the replica")
        return self.master_port()

    # -- internals ------------------------------------------------------------------------------
    def _spawn(self, name: str, extra: list[str], *, sentinel: bool = False) -> int:
        port = free_port()
        work = self.dir / name
        work.mkdir(parents=True, exist_ok=True)
        conf = work / ("sentinel.conf" if sentinel else "redis.conf")
        lines = [f"port {port}", "bind 127.0.0.1", f'dir "{work}"', "save \"\"",
                 "appendonly no", f'logfile "{work / "log.txt"}"', *extra]
        conf.write_text("\n".join(lines) + "\n")
        cmd = [self.binary, str(conf)] + (["--sentinel"] if sentinel else [])
        self.procs[name] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
        self.ports[name] = port
        self._wait(lambda: self._pings(port), 15, f"{name} to answer on port {port}")
        return port

    @staticmethod
    def _pings(port: int) -> bool:
        try:
            return bool(redis.Redis(port=port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def _info(self, name: str, section: str) -> dict:
        try:
            return redis.Redis(port=self.ports[name], socket_timeout=2).info(section)
        except redis.RedisError:
            return {}

    def _sentinels_see_each_other(self) -> bool:
        for i in range(3):
            info = self._info(f"sentinel{i}", "sentinel")
            master = info.get("master0", {})
            if not isinstance(master, dict) or int(master.get("sentinels", 0)) < 3 \
                    or int(master.get("slaves", 0)) < 1:
                return False
        return True

    @staticmethod
    def _wait(predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
            time.sleep(0.1)
