"""``hqueue demo`` as a user runs it: a real subprocess that starts Redis and two workers, runs
a search, prints the best configuration and leaves no process behind (also on Ctrl-C); and
``--keep`` / ``--stop``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

SECRET = "demo-test-secret-0123456789abcdef"
FAST = ["--epoch-seconds", "0.01"]


def demo_env(tmp_path: Path) -> dict:
    return dict(os.environ, HQUEUE_SECRET=SECRET, TMPDIR=str(tmp_path), PYTHONUNBUFFERED="1")


def start_demo(tmp_path: Path, *args: str) -> subprocess.Popen:
    """``hqueue demo ARGS`` in its own process group (like a shell's foreground job)."""
    return subprocess.Popen([sys.executable, "-m", "hqueue.cli", "demo", *args],
                            env=demo_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def processes_of(port: int, worker_pids: list[int]) -> list[str]:
    """Command lines of live processes that belong to the demo on ``port``: its Redis,
    `hqueue serve`, and the given worker pids (zombies count as gone)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        if f":{port}" in cmd or f"--port {port}" in cmd or int(entry.name) in worker_pids:
            found.append(f"{entry.name}: {cmd}")
    return found


def parse_start(lines: list[str]) -> tuple[str, int, list[int], Path]:
    text = "\n".join(lines)
    url, port = re.search(r"redis:\s+(redis://127\.0\.0\.1:(\d+)/0)", text).groups()
    pids = [int(p) for p in re.search(r"pids ([\d ]+);", text).group(1).split()]
    data_dir = Path(re.search(r"data in (\S+)\)", text).group(1))
    return url, int(port), pids, data_dir


def read_until(proc: subprocess.Popen, pattern: str, timeout_s: float = 120) -> list[str]:
    """Lines of ``proc``'s output up to one matching ``pattern`` (fails at EOF or after the
    safety-net timeout)."""
    lines, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("demo exited early:\n" + "".join(lines))
        lines.append(line.rstrip("\n"))
        if re.search(pattern, line):
            return lines
    raise AssertionError("timed out waiting for " + pattern + ":\n" + "\n".join(lines))


def wait_gone(port: int, pids: list[int], timeout_s: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while (left := processes_of(port, pids)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_the_demo_runs_a_search_on_workers_prints_the_best_and_cleans_up(tmp_path):
    proc = start_demo(tmp_path, "--trials", "12", "--seed", "3", *FAST)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    lines = out.splitlines()
    url, port, pids, data_dir = parse_start(lines)
    assert len(pids) == 2
    assert f"hqueue status --url {url}" in out and f"hqueue dashboard --url {url}" in out
    assert f"HQUEUE_SECRET=\"$HQUEUE_SECRET\" hqueue worker --url {url}" in out
    best = next(line for line in lines if line.startswith("best loss "))
    assert re.match(r"best loss \d\.\d+ \(trial \d+ of 12\): \{'batch_size': ", best)
    assert "12/12" in out  # the progress bar reached the end
    assert lines[-1] == "stopped the workers and Redis"
    assert wait_gone(port, pids) == []
    assert not data_dir.exists()  # the temporary data directory is removed


def test_ctrl_c_stops_the_search_and_every_process_it_started(tmp_path):
    proc = start_demo(tmp_path, "--trials", "500", "--epoch-seconds", "0.2")
    try:
        lines = read_until(proc, r"workers: 2 processes")
        url, port, pids, data_dir = parse_start(lines)
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 120  # a safety net: wait for trials to be running
        while not client.zcard("hq:{demo}:running"):
            assert time.monotonic() < deadline, "no trial started"
            time.sleep(0.05)
        client.close()
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    assert "interrupted: stopping the workers and Redis" in out
    assert "Traceback" not in out
    assert wait_gone(port, pids) == []
    assert not data_dir.exists()


def test_keep_leaves_redis_and_workers_for_the_other_commands_until_stop(tmp_path):
    data_dir = tmp_path / "kept"
    proc = start_demo(tmp_path, "--trials", "6", "--workers", "1", "--keep", "--dir",
                      str(data_dir), *FAST)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    url, port, pids, _ = parse_start(out.splitlines())
    try:
        assert f"stop them: hqueue demo --stop --dir {data_dir}" in out
        status = subprocess.run([sys.executable, "-m", "hqueue.cli", "status", "--url", url],
                                capture_output=True, text=True, timeout=60)
        row = next(line for line in status.stdout.splitlines() if line.startswith("demo "))
        assert row.split()[3] == "6"  # DONE
        assert processes_of(port, pids)  # still running
    finally:
        stop = subprocess.run([sys.executable, "-m", "hqueue.cli", "demo", "--stop", "--dir",
                               str(data_dir)], capture_output=True, text=True, timeout=120)
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout.splitlines() == ["stopped 1 workers", f"stopped Redis ({url})",
                                        f"data kept in {data_dir}"]
    assert wait_gone(port, pids) == []
    assert (data_dir / "redis").is_dir()  # a --dir given by the user is kept


def test_stop_without_a_kept_demo_is_one_line(tmp_path):
    from click.testing import CliRunner

    from hqueue.cli import main

    result = CliRunner().invoke(main, ["demo", "--stop", "--dir", str(tmp_path)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "holds no kept demo" in result.output


@pytest.mark.parametrize("args, message", [(["--stop"], "--stop needs the --dir"),
                                           (["--workers", "0"], "Invalid value")])
def test_demo_usage_errors(args, message):
    from click.testing import CliRunner

    from hqueue.cli import main

    result = CliRunner().invoke(main, ["demo", *args])
    assert result.exit_code == 2 and message in result.output


def test_a_port_held_by_another_redis_is_refused_not_used(tmp_path):
    from hqueue.backends.redis.server import RedisServer

    with RedisServer(dir=tmp_path / "other") as other:
        proc = start_demo(tmp_path, "--port", str(other.port), "--trials", "2", *FAST)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 1, out
        assert f"port {other.port} is already in use" in out
        assert other.client().keys("hq:*") == []  # nothing was written to the other Redis
