"""hqueue.security: the shared secret, signed envelopes, the domain pickle, the process cache.

No test touches the real home directory: HOME, XDG_CONFIG_HOME, HQUEUE_SECRET and
HQUEUE_SECRET_FILE are pointed at temporary paths (or removed) for every test.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import cloudpickle
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hqueue import Ctrl, Domain, Trials, hp
from hqueue.exceptions import BadArgument, HqueueError
from hqueue.security import (
    HEADER_SIZE,
    DomainTransferError,
    SecretFileError,
    SignatureError,
    cached_per_process,
    clear_process_cache,
    domain_context,
    dumps_domain,
    key_fingerprint,
    load_secret,
    loads_domain,
    process_cache,
    secret_path,
    sign,
    verify,
)

SECRET = b"0123456789abcdef0123456789abcdef"
REPO = Path(__file__).resolve().parents[1]
POSIX_ONLY = pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """Every test gets its own HOME and config dir; no secret from the outside leaks in."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("HQUEUE_SECRET", raising=False)
    monkeypatch.delenv("HQUEUE_SECRET_FILE", raising=False)
    clear_process_cache()
    yield
    clear_process_cache()


def env_for(tmp_path, **extra: str) -> dict[str, str]:
    env = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.update(extra)
    return env


def run_python(code: str, env: dict[str, str], cwd: Path, *args: str) -> str:
    """Run ``code`` as ``__main__`` of a fresh interpreter; returns its stdout."""
    script = cwd / f"script_{time.monotonic_ns()}.py"
    script.write_text(textwrap.dedent(code))
    full_env = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, str(script), *args], env=full_env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# -- the secret -----------------------------------------------------------------------------
@POSIX_ONLY
def test_key_file_is_created_once_with_mode_0600(tmp_path):
    env = env_for(tmp_path)
    key = load_secret(env)
    path = tmp_path / "config" / "hqueue" / "secret"
    assert secret_path(env) == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 64 and bytes.fromhex(key.decode())
    assert path.read_bytes().strip() == key
    assert load_secret(env) == key
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret"]  # no temp files left


def test_key_file_defaults_to_home_config_without_xdg(tmp_path):
    env = {"HOME": str(tmp_path / "home")}
    assert secret_path(env) == tmp_path / "home" / ".config" / "hqueue" / "secret"
    assert secret_path({**env, "XDG_CONFIG_HOME": "relative/ignored"}) == secret_path(env)
    load_secret(env)
    assert (tmp_path / "home" / ".config" / "hqueue" / "secret").exists()


def test_key_file_path_from_hqueue_secret_file(tmp_path):
    target = tmp_path / "elsewhere" / "key"
    env = env_for(tmp_path, HQUEUE_SECRET_FILE=str(target))
    assert secret_path(env) == target
    key = load_secret(env)
    assert target.read_bytes().strip() == key
    assert not (tmp_path / "config").exists()


def test_hqueue_secret_takes_precedence_over_the_key_file(tmp_path):
    env = env_for(tmp_path)
    from_file = load_secret(env)
    assert load_secret({**env, "HQUEUE_SECRET": "a-long-shared-secret-value"}) == \
        b"a-long-shared-secret-value"
    assert load_secret({**env, "HQUEUE_SECRET": ""}) == from_file  # empty means unset


def test_key_file_content_works_as_hqueue_secret_elsewhere(tmp_path):
    one_box = load_secret(env_for(tmp_path))
    path = secret_path(env_for(tmp_path))
    other_box = {"HQUEUE_SECRET": path.read_text(), "HOME": str(tmp_path / "other")}
    assert load_secret(other_box) == one_box


def test_load_secret_reads_os_environ_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("HQUEUE_SECRET", "from-the-process-environment")
    assert load_secret() == b"from-the-process-environment"
    monkeypatch.delenv("HQUEUE_SECRET")
    load_secret()
    assert (tmp_path / "config" / "hqueue" / "secret").exists()


@POSIX_ONLY
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_readable_by_others_is_refused(tmp_path, mode):
    env = env_for(tmp_path)
    load_secret(env)
    path = secret_path(env)
    path.chmod(mode)
    with pytest.raises(SecretFileError) as info:
        load_secret(env)
    assert f"chmod 600 {path}" in str(info.value)
    assert isinstance(info.value, HqueueError)


def test_empty_key_file_is_refused_after_a_short_wait(tmp_path, monkeypatch):
    monkeypatch.setattr("hqueue.security._EMPTY_KEY_WAIT_S", 0.05)
    env = env_for(tmp_path)
    path = secret_path(env)
    path.parent.mkdir(parents=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    with pytest.raises(SecretFileError, match="is empty"):
        load_secret(env)


def test_unwritable_key_file_location_says_what_to_set(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = env_for(tmp_path, HQUEUE_SECRET_FILE=str(blocker / "secret"))
    with pytest.raises(SecretFileError, match="HQUEUE_SECRET"):
        load_secret(env)


@POSIX_ONLY
def test_key_file_created_in_place_without_hard_links(tmp_path, monkeypatch):
    def no_links(*args, **kwargs):
        raise PermissionError("hard links not supported")

    monkeypatch.setattr(os, "link", no_links)
    env = env_for(tmp_path)
    key = load_secret(env)
    path = secret_path(env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(env) == key
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret"]


def test_processes_racing_to_create_the_key_file_agree(tmp_path):
    go, ready = tmp_path / "go", tmp_path / "ready"
    ready.mkdir()
    code = f"""
        import os, sys, time
        from hqueue.security import load_secret
        open(os.path.join({str(ready)!r}, sys.argv[1]), "w").close()
        while not os.path.exists({str(go)!r}):
            time.sleep(0.0005)
        print(load_secret().decode())
    """
    script = tmp_path / "race.py"
    script.write_text(textwrap.dedent(code))
    env = {**os.environ, **env_for(tmp_path), "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, str(script), str(i)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(8)]
    deadline = time.monotonic() + 120
    while len(list(ready.iterdir())) < len(procs) and time.monotonic() < deadline:
        time.sleep(0.01)  # every interpreter has imported hqueue and waits at the line
    go.touch()
    keys = set()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        keys.add(out.strip())
    assert len(keys) == 1
    path = secret_path(env_for(tmp_path))
    assert keys == {path.read_text().strip()}
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret"]


# -- envelopes ------------------------------------------------------------------------------
def test_sign_verify_round_trip():
    blob = sign(b"payload", b"exp1", SECRET)
    assert blob.startswith(b"HQSIG\x01")
    assert len(blob) == HEADER_SIZE + len(b"payload")
    assert verify(blob, b"exp1", SECRET) == b"payload"
    assert verify(blob, "exp1", SECRET) == b"payload"  # str contexts are their UTF-8 bytes
    assert verify(sign(b"", b"", SECRET), b"", SECRET) == b""


@given(payload=st.binary(max_size=2048), context=st.binary(max_size=64),
       secret=st.binary(min_size=1, max_size=64))
def test_sign_verify_round_trip_property(payload, context, secret):
    assert verify(sign(payload, context, secret), context, secret) == payload


def test_context_boundary_is_unambiguous():
    # context "ab" + payload "c" must not verify as context "a" + payload "bc"
    blob = sign(b"c", b"ab", SECRET)
    forged = blob[:HEADER_SIZE] + b"bc"
    with pytest.raises(SignatureError):
        verify(forged, b"a", SECRET)


def test_tampered_payload_is_refused():
    blob = bytearray(sign(b"some payload bytes", b"exp1", SECRET))
    blob[-1] ^= 0x01
    with pytest.raises(SignatureError) as info:
        verify(bytes(blob), b"exp1", SECRET)
    assert info.value.reason == "modified"
    assert "payload was modified" in str(info.value)


def test_every_single_byte_change_is_refused():
    blob = sign(b"tiny", b"exp1", SECRET)
    for i in range(len(blob)):
        changed = bytearray(blob)
        changed[i] ^= 0x40
        with pytest.raises(SignatureError):
            verify(bytes(changed), b"exp1", SECRET)


def test_wrong_secret_says_to_set_the_same_secret():
    blob = sign(b"payload", b"exp1", b"driver-secret-0123456789")
    with pytest.raises(SignatureError) as info:
        verify(blob, b"exp1", b"worker-secret-0123456789")
    assert info.value.reason == "wrong_secret"
    assert "set the same HQUEUE_SECRET on both" in str(info.value)
    assert key_fingerprint(b"worker-secret-0123456789") in str(info.value)


def test_wrong_context_is_refused():
    blob = sign(b"payload", b"exp1", SECRET)
    with pytest.raises(SignatureError) as info:
        verify(blob, b"exp2", SECRET)
    assert info.value.reason == "wrong_context"


@pytest.mark.parametrize("cut", [1, 10, HEADER_SIZE - 1, HEADER_SIZE + 3])
def test_truncated_blob_is_refused(cut):
    blob = sign(b"0123456789", b"exp1", SECRET)
    with pytest.raises(SignatureError) as info:
        verify(blob[:-cut], b"exp1", SECRET)
    assert info.value.reason in {"truncated", "not_signed"}
    assert info.value.reason == "truncated" or cut > len(blob) - 5


def test_trailing_bytes_are_refused():
    blob = sign(b"payload", b"exp1", SECRET)
    with pytest.raises(SignatureError) as info:
        verify(blob + b"x", b"exp1", SECRET)
    assert info.value.reason == "modified"


@pytest.mark.parametrize("blob", [b"", b"HQ", pickle.dumps({"a": 1}), b"not signed at all"])
def test_unsigned_input_is_refused(blob):
    with pytest.raises(SignatureError) as info:
        verify(blob, b"exp1", SECRET)
    assert info.value.reason == "not_signed"
    assert "payload is not signed by hqueue" in str(info.value)


def test_unknown_envelope_version_is_refused():
    blob = bytearray(sign(b"payload", b"exp1", SECRET))
    blob[5] = 2
    with pytest.raises(SignatureError) as info:
        verify(bytes(blob), b"exp1", SECRET)
    assert info.value.reason == "version"
    assert "same hqueue version" in str(info.value)


@pytest.mark.parametrize("secret", [b"", "a str secret", None])
def test_bad_secret_argument(secret):
    with pytest.raises(BadArgument):
        sign(b"x", b"exp1", secret)


# -- the domain -----------------------------------------------------------------------------
def make_domain() -> Domain:
    space = {"x": hp.uniform("x", -1, 1), "c": hp.choice("c", ["a", "b"])}
    return Domain(lambda cfg: cfg["x"] ** 2 + (cfg["c"] == "b"), space)


def test_domain_round_trip_and_content_address():
    digest, blob = dumps_domain(make_domain(), "exp1", SECRET)
    payload = verify(blob, domain_context("exp1"), SECRET)
    assert digest == hashlib.sha256(payload).hexdigest()
    domain = loads_domain(blob, "exp1", SECRET, expected_digest=digest)
    assert domain.evaluate({"x": 0.5, "c": 1}, Ctrl(Trials())) == {"loss": 1.25, "status": "ok"}


def test_domain_with_wrong_digest_is_refused():
    digest, blob = dumps_domain(make_domain(), "exp1", SECRET)
    other, _ = dumps_domain({"something": "else"}, "exp1", SECRET)
    with pytest.raises(SignatureError) as info:
        loads_domain(blob, "exp1", SECRET, expected_digest=other)
    assert info.value.reason == "digest"


def test_domain_replayed_under_another_experiment_is_refused():
    _, blob = dumps_domain(make_domain(), "exp1", SECRET)
    with pytest.raises(SignatureError) as info:
        loads_domain(blob, "exp2", SECRET)
    assert info.value.reason == "wrong_context"
    assert "'exp2'" in str(info.value)


def test_domain_is_not_a_valid_generic_signature():
    # the domain context carries a purpose, so sign(pickle, exp_key) cannot pass as a domain
    payload = cloudpickle.dumps(make_domain())
    with pytest.raises(SignatureError):
        loads_domain(sign(payload, b"exp1", SECRET), "exp1", SECRET)


def test_domain_with_wrong_secret_says_how_to_fix_it():
    _, blob = dumps_domain(make_domain(), "exp1", b"driver-secret-0123456789")
    with pytest.raises(SignatureError, match="set the same HQUEUE_SECRET on both"):
        loads_domain(blob, "exp1", b"worker-secret-0123456789")


def _write_marker(path: str) -> str:
    Path(path).write_text("unpickled!")
    return path


def flip(blob: bytes, index: int) -> bytes:
    changed = bytearray(blob)
    changed[index] ^= 0x01
    return bytes(changed)


class Booby:
    """Unpickling it writes a file: the witness that bytes were unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return _write_marker, (self.path,)


def test_unpickling_the_booby_trap_has_a_side_effect(tmp_path):
    """Check of the witness itself: a plain pickle.loads does write the file."""
    witness = tmp_path / "witness"
    pickle.loads(pickle.dumps(Booby(witness)))
    assert witness.exists()


def test_refused_payloads_are_never_unpickled(tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    raw = pickle.dumps(Booby(marker))
    attempts = {
        "unsigned": raw,
        "wrong secret": sign(raw, domain_context("exp1"), b"attacker-secret-0123456789"),
        "other experiment": sign(raw, domain_context("exp2"), SECRET),
        "truncated": sign(raw, domain_context("exp1"), SECRET)[:-1],
        "modified": flip(sign(raw, domain_context("exp1"), SECRET), -2),
    }
    unpickled = []
    real_loads = cloudpickle.loads
    monkeypatch.setattr(cloudpickle, "loads", lambda *a, **k: unpickled.append(1) or
                        real_loads(*a, **k))
    for name, blob in attempts.items():
        with pytest.raises(SignatureError):
            loads_domain(blob, "exp1", SECRET)
        assert not marker.exists(), name
    assert unpickled == []
    signed = sign(raw, domain_context("exp1"), SECRET)
    with pytest.raises(SignatureError):
        loads_domain(signed, "exp1", SECRET, expected_digest="0" * 64)
    assert not marker.exists() and unpickled == []


def test_unpicklable_domain_says_what_to_do():
    with pytest.raises(DomainTransferError, match="process_cache"):
        dumps_domain({"fn": abs, "lock": threading.Lock()}, "exp1", SECRET)


def test_domain_needing_a_missing_module_says_what_to_do():
    payload = b"cno_such_module_for_hqueue_tests\nfunc\n."
    blob = sign(payload, domain_context("exp1"), SECRET)
    with pytest.raises(DomainTransferError, match="install the modules"):
        loads_domain(blob, "exp1", SECRET)


def test_bad_exp_key_argument():
    with pytest.raises(BadArgument):
        dumps_domain(make_domain(), None, SECRET)


DRIVER = """
    import sys
    from pathlib import Path
    from hqueue import Domain, hp
    from hqueue.security import cached_per_process, dumps_domain, load_secret

    OFFSET = 3.0

    @cached_per_process
    def load_data():
        return [1.0, 2.0, 3.0]

    def helper(x):
        return (x - OFFSET) ** 2

    def objective(cfg):
        return helper(cfg["x"]) + sum(load_data()) * cfg["k"]

    space = {"x": hp.uniform("x", 0, 10), "k": hp.randint("k", 3)}
    digest, blob = dumps_domain(Domain(objective, space), "exp-main", load_secret())
    out = Path(sys.argv[1])
    (out / "blob").write_bytes(blob)
    (out / "digest").write_text(digest)
"""

WORKER = """
    import sys
    from pathlib import Path
    from hqueue import Ctrl, Trials
    from hqueue.security import load_secret, loads_domain

    out = Path(sys.argv[1])
    domain = loads_domain((out / "blob").read_bytes(), "exp-main", load_secret(),
                          expected_digest=(out / "digest").read_text())
    print(domain.evaluate({"x": 5.0, "k": 2}, Ctrl(Trials()))["loss"])
"""


WORKER_OTHER_SECRET = """
    import sys
    from pathlib import Path
    from hqueue.security import SignatureError, load_secret, loads_domain

    out = Path(sys.argv[1])
    try:
        loads_domain((out / "blob").read_bytes(), "exp-main", load_secret())
    except SignatureError as exc:
        print(exc.reason)
"""


def test_objective_defined_in_main_travels_between_processes(tmp_path):
    env = env_for(tmp_path)  # both processes share the per-user key file
    run_python(DRIVER, env, tmp_path, str(tmp_path))
    assert run_python(WORKER, env, tmp_path, str(tmp_path)).strip() == "16.0"


def test_objective_from_main_refused_by_a_worker_with_another_secret(tmp_path):
    run_python(DRIVER, env_for(tmp_path), tmp_path, str(tmp_path))
    env = env_for(tmp_path, HQUEUE_SECRET="some-other-secret-entirely")
    assert run_python(WORKER_OTHER_SECRET, env, tmp_path, str(tmp_path)).strip() == \
        "wrong_secret"


def test_own_modules_travel_with_by_value(tmp_path, monkeypatch):
    project = tmp_path / "project"
    project.mkdir()
    (project / "hq_test_userlib.py").write_text("def objective(cfg):\n    return cfg['x'] * 2\n")
    monkeypatch.syspath_prepend(str(project))
    import hq_test_userlib

    secret_env = {"HQUEUE_SECRET": SECRET.decode()}
    for by_value, expected in [((), "DomainTransferError"), ((hq_test_userlib,), "1.0")]:
        _, blob = dumps_domain(Domain(hq_test_userlib.objective, {"x": hp.uniform("x", 0, 1)}),
                               "exp1", SECRET, by_value=by_value)
        (tmp_path / "blob").write_bytes(blob)
        code = """
            import sys
            from pathlib import Path
            from hqueue import Ctrl, Trials
            from hqueue.security import DomainTransferError, load_secret, loads_domain
            try:
                d = loads_domain(Path(sys.argv[1]).read_bytes(), "exp1", load_secret())
                print(d.evaluate({"x": 0.5}, Ctrl(Trials()))["loss"])
            except DomainTransferError:
                print("DomainTransferError")
        """
        assert run_python(code, secret_env, tmp_path, str(tmp_path / "blob")).strip() == expected
    assert "hq_test_userlib" not in cloudpickle.list_registry_pickle_by_value()


# -- the per-process cache ------------------------------------------------------------------
def test_process_cache_calls_the_factory_once_across_calls_and_threads():
    calls = []

    def factory():
        calls.append(threading.get_ident())
        time.sleep(0.05)  # widen the window in which other threads would call it again
        return {"data": list(range(10))}

    barrier = threading.Barrier(16)
    results = []

    def work():
        barrier.wait()
        results.extend(process_cache("dataset", factory) for _ in range(50))

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(results) == 800 and all(r is results[0] for r in results)


def test_process_cache_keys_are_independent_and_failures_retry():
    assert process_cache("a", lambda: 1) == 1
    assert process_cache("b", lambda: 2) == 2
    assert process_cache("a", lambda: 3) == 1
    assert process_cache("none", lambda: None) is None
    assert process_cache("none", lambda: 5) is None

    def boom():
        raise RuntimeError("disk not mounted yet")

    with pytest.raises(RuntimeError):
        process_cache("flaky", boom)
    assert process_cache("flaky", lambda: "ok") == "ok"


def test_process_cache_recursive_factory_is_an_error():
    with pytest.raises(HqueueError, match="itself"):
        process_cache("loop", lambda: process_cache("loop", lambda: 1))
    assert process_cache("loop", lambda: 2) == 2


def test_cached_per_process_decorator():
    calls = []

    @cached_per_process
    def load(n=3):
        calls.append(n)
        return list(range(n))

    assert load() is load()
    assert load(5) == [0, 1, 2, 3, 4] and load(n=5) == load(n=5)
    assert calls == [3, 5, 5]  # positional and keyword arguments are distinct keys

    @cached_per_process(key="shared-name")
    def one():
        return 1

    @cached_per_process(key="shared-name")
    def two():
        return 2

    assert one() == 1 and two() == 1


def test_same_name_with_different_code_is_not_shared():
    def make(value):
        namespace: dict = {}
        exec(f"def load_data():\n    return {value!r}\n", namespace)
        return cached_per_process(namespace["load_data"])

    assert make("experiment A")() == "experiment A"
    assert make("experiment B")() == "experiment B"
    assert make("experiment A")() == "experiment A"


def _child_value(queue) -> None:
    queue.put(process_cache("pid", os.getpid))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_gets_its_own_cache():
    assert process_cache("pid", os.getpid) == os.getpid()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_value, args=(queue,))
    child.start()
    value = queue.get(timeout=60)
    child.join(timeout=60)
    assert value == child.pid != os.getpid()
