"""``python -m hqueue.worker.health``: the worker image's HEALTHCHECK and the k8s probes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hqueue.worker import health

WORKER_ARGV = ["/opt/hqueue/bin/python3", "-m", "celery", "-A", "hqueue.worker", "worker",
               "--concurrency=1", "--queues=hqueue"]


def fake_proc(root: Path, processes: dict[int, tuple[list[str], str]]) -> Path:
    """A /proc look-alike: pid -> (argv, state letter)."""
    root.mkdir(exist_ok=True)
    for pid, (argv, state) in processes.items():
        (root / str(pid)).mkdir()
        (root / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
        (root / str(pid) / "stat").write_text(f"{pid} (python3) {state} 1 {pid} {pid} 0 -1")
    (root / "self").mkdir()  # non-numeric entries are not processes
    return root


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("argv,expected", [
    (WORKER_ARGV, True),
    (["/opt/hqueue/bin/celery", "--app=hqueue.worker", "worker", "-l", "INFO"], True),
    (["celery", "-Ahqueue.worker", "worker"], True),
    (["python3", "-m", "hqueue.worker.health"], False),
    (["celery", "-A", "hqueue.worker", "inspect", "ping"], False),
    (["celery", "-A", "other.app", "worker"], False),
    (["hqueue", "worker", "--url", "redis://r/0"], False),  # the supervisor, not a worker
])
def test_a_worker_is_recognised_by_its_command_line(argv, expected):
    assert health.is_worker_cmdline(argv) is expected


def test_zombies_and_other_processes_do_not_count_as_workers(tmp_path):
    proc = fake_proc(tmp_path / "proc", {
        10: (WORKER_ARGV, "S"), 11: (WORKER_ARGV, "Z"), 12: (["sleep", "60"], "S"),
        13: (["python3", "-m", "hqueue.worker.health"], "R")})
    assert health.worker_pids(proc) == [10]


def test_no_worker_process_is_unhealthy_in_one_line(tmp_path):
    proc = fake_proc(tmp_path / "proc", {12: (["sleep", "60"], "S")})
    out = subprocess.run([sys.executable, "-m", "hqueue.worker.health", "--skip-redis",
                          "--proc", str(proc)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stdout.strip().splitlines() == [
        "unhealthy: no hqueue worker process is running (celery -A hqueue.worker worker)"]


@pytest.fixture(scope="module")
def password_redis():
    from hqueue.backends.redis.server import RedisServer

    with RedisServer(password="hc-right-password-42", appendonly=False) as server:
        yield server


def test_redis_refusing_the_password_is_unhealthy_without_showing_it(tmp_path,
                                                                     password_redis):
    proc = fake_proc(tmp_path / "proc", {10: (WORKER_ARGV, "S")})
    wrong = password_redis.url.replace("hc-right-password-42", "hc-wrong-password-17")
    problems = health.check(wrong, proc_root=proc, timeout_s=5)
    assert len(problems) == 1 and "refused the credentials" in problems[0]
    assert "hc-wrong-password-17" not in problems[0] and ":***@" in problems[0]
    assert health.main(["--url", wrong, "--proc", str(proc), "--timeout", "5"]) == 1


def test_the_right_password_and_a_worker_process_are_healthy(tmp_path, password_redis):
    proc = fake_proc(tmp_path / "proc", {10: (WORKER_ARGV, "S")})
    env = dict(os.environ, HQUEUE_URL=password_redis.url)
    out = subprocess.run([sys.executable, "-m", "hqueue.worker.health", "--proc", str(proc)],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "healthy"
    assert "hc-right-password-42" not in out.stdout + out.stderr


def test_healthy_while_a_real_worker_runs_and_not_after_it_stops(redis_url, monkeypatch):
    monkeypatch.setenv("HQUEUE_SECRET", "health-test-secret-0123456789abcdef")
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "hqueue.cli", "worker", "--url", redis_url, "--pool", "solo",
         "--loglevel", "WARNING"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        ours: list[int] = []
        while not ours and time.monotonic() < deadline and supervisor.poll() is None:
            ours = [p for p in children_of(supervisor.pid) if p in health.worker_pids()]
            time.sleep(0.2)
        assert ours, "the worker process never showed up in /proc"
        assert health.check(redis_url) == []
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=60)
    assert not set(ours) & set(health.worker_pids())
