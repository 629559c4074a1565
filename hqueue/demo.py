"""``hqueue demo``: a real distributed search on this machine, set up and torn down for you.

:class:`LocalCluster` starts a Redis (``hqueue serve`` in a subprocess, on a free port, data in
a temporary or given directory) and N worker processes (``celery -A hqueue.worker worker``,
what ``hqueue worker`` runs), each in its own session so that the Ctrl-C meant for the search
does not kill them half-way; :meth:`LocalCluster.stop` then stops the workers (they hand their
trials back) and Redis, in that order. Unless they are kept (``--keep``), they also get
SIGTERM from Linux if the process that started them dies.

:func:`train` is the demo's objective: a stand-in for training a model on a conditional space
(:data:`space`: a linear model with L2, or an MLP with layers, units and dropout), a fraction
of a second per trial, reporting its loss after every "epoch" (partial results) and attaching
a short log. Workers load it by reference (this module), as they would a user's module.

Example:
    >>> from hqueue import Trials, fmin, rand
    >>> trials = Trials()
    >>> best = fmin(train, space, algo=rand.suggest, max_evals=2, trials=trials,
    ...             show_progressbar=False, rstate=np.random.default_rng(0))
    >>> len(trials), trials.best_trial["result"]["loss"] > 0
    (2, True)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from . import hp
from .exceptions import HqueueError
from .pyll import rec_eval
from .states import STATUS_OK
from .tasks import DEFAULT_QUEUE

EPOCHS = 6
EPOCH_S = 0.15  # seconds one "epoch" of the smallest model takes (MLPs take up to 3 times it)

space = {
    "model": hp.choice("model", [
        {"kind": "linear", "l2": hp.loguniform("l2", math.log(1e-6), math.log(1.0))},
        {"kind": "mlp", "layers": hp.uniformint("layers", 1, 4),
         "units": hp.qloguniform("units", math.log(16), math.log(512), 16),
         "dropout": hp.uniform("dropout", 0.0, 0.6)},
    ]),
    "lr": hp.loguniform("lr", math.log(1e-4), math.log(1.0)),
    "batch_size": hp.choice("batch_size", [32, 64, 128, 256]),
}


def final_loss(cfg: dict) -> float:
    """The validation loss a configuration converges to (smooth, best for a mid-sized MLP).

    Example:
        >>> cfg = {"model": {"kind": "linear", "l2": 1e-3}, "lr": 0.01, "batch_size": 64}
        >>> round(final_loss(cfg), 4)
        0.45
        >>> cfg["model"] = {"kind": "mlp", "layers": 3, "units": 128, "dropout": 0.2}
        >>> round(final_loss(cfg), 4)
        0.1
    """
    model = cfg["model"]
    loss = 0.25 * (math.log10(cfg["lr"]) + 2.0) ** 2 + 0.02 * abs(math.log2(cfg["batch_size"] / 64))
    if model["kind"] == "linear":
        return loss + 0.45 + 0.01 * (math.log10(model["l2"]) + 3.0) ** 2
    return (loss + 0.1 + 0.03 * (model["layers"] - 3) ** 2
            + 0.05 * (math.log2(model["units"] / 128)) ** 2 + 0.4 * (model["dropout"] - 0.2) ** 2)


def train(expr: Any, memo: dict, ctrl: Any, epoch_s: float = EPOCH_S) -> dict:
    """The demo objective: "trains" for :data:`EPOCHS` epochs of ``epoch_s`` seconds or more
    (bigger models take longer), reporting each epoch's loss (a partial result)."""
    cfg = rec_eval(expr, memo=memo)
    model = cfg["model"]
    size = 1.0 if model["kind"] == "linear" else 1.0 + model["layers"] * model["units"] / 1024
    target = final_loss(cfg)
    log = []
    loss = target
    for epoch in range(1, EPOCHS + 1):
        if ctrl.should_stop():  # cancelled, or the worker is shutting down
            break
        time.sleep(epoch_s * size)
        loss = target * (1.0 + 2.0 * math.exp(-epoch))
        ctrl.report(loss, step=epoch)
        log.append(f"epoch {epoch}: loss {loss:.4f}")
    return {"loss": loss, "status": STATUS_OK, "epochs": len(log),
            "attachments": {"train.log": "\n".join(log)}}


train.fmin_pass_expr_memo_ctrl = True  # type: ignore[attr-defined]


# -- the local cluster ----------------------------------------------------------------------
class DemoError(HqueueError):
    """The demo's Redis or workers could not be started."""


class LocalCluster:
    """A Redis and ``n_workers`` worker processes on this machine (see the module docstring).

    ``data_dir=None`` uses a temporary directory, removed by :meth:`stop` (kept when
    ``keep``); logs (``serve.log``, ``worker-N.log``) go there too.
    """

    def __init__(self, n_workers: int = 2, data_dir: str | Path | None = None,
                 port: int | None = None, keep: bool = False, queue: str = DEFAULT_QUEUE) -> None:
        from .backends.redis.server import free_port

        self.n_workers, self.keep, self.queue = n_workers, keep, queue
        self.port = port or free_port()
        self.owns_dir = data_dir is None
        self.dir = Path(tempfile.mkdtemp(prefix="hqueue-demo-") if data_dir is None
                        else data_dir).expanduser().resolve()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.redis: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []

    @property
    def pids(self) -> list[int]:
        """Process ids of Redis (``hqueue serve``) and the workers, started and alive."""
        procs = ([self.redis] if self.redis else []) + self.workers
        return [p.pid for p in procs if p.poll() is None]

    def _spawn(self, cmd: list[str], log_name: str, env: dict | None = None) -> subprocess.Popen:
        from .backends.redis.server import parent_death_signal

        with open(self.dir / log_name, "ab") as log:
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                    preexec_fn=None if self.keep else parent_death_signal())

    def start_redis(self, timeout_s: float = 30.0) -> None:
        """Start ``hqueue serve`` and wait until Redis answers."""
        import redis

        from .backends.redis.server import CONFIG_NAME

        self.dir.mkdir(parents=True, exist_ok=True)
        config = self.dir / "redis" / CONFIG_NAME
        self.redis = self._spawn([sys.executable, "-m", "hqueue.cli", "serve", "--port",
                                  str(self.port), "--dir", str(config.parent)], "serve.log")
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                if self.redis.poll() is not None:
                    raise DemoError(f"Redis did not start: {self._tail('serve.log')}")
                try:  # ours, not another Redis that already held the port
                    if client.info("server").get("config_file") == str(config):
                        return
                except (redis.ConnectionError, redis.TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise DemoError(f"Redis did not answer within {timeout_s:g} s (log "
                                    f"{self.dir / 'serve.log'}): {self._tail('serve.log')}")
                time.sleep(0.05)
        finally:
            client.close()

    def start_workers(self) -> None:
        """Start the worker processes (one trial at a time each)."""
        from .worker.launch import worker_command

        env = dict(os.environ, HQUEUE_URL=self.url)
        for i in range(self.n_workers):
            cmd = worker_command(concurrency=1, queues=[self.queue], pool="solo",
                                 loglevel="WARNING", name=f"demo{i}")
            self.workers.append(self._spawn(cmd, f"worker-{i}.log", env))

    def wait_for_workers(self, timeout_s: float = 90.0) -> int:
        """Wait until every worker announced itself; returns how many did (all, or fewer
        once ``timeout_s`` passes: the search then starts anyway)."""
        import redis

        from .backends.redis.presence import WorkerRegistry

        client = redis.Redis.from_url(self.url)
        pids = {p.pid for p in self.workers}
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                for i, proc in enumerate(self.workers):
                    if proc.poll() is not None:
                        raise DemoError(f"worker {i} exited with code {proc.returncode}: "
                                        f"{self._tail(f'worker-{i}.log')}")
                ready = sum(1 for w in WorkerRegistry(client).list() if w.pid in pids)
                if ready >= len(pids) or time.monotonic() > deadline:
                    return ready
                time.sleep(0.1)
        finally:
            client.close()

    def stop(self, timeout_s: float = 20.0) -> None:
        """Stop the workers (they hand running trials back), then Redis; remove a temporary
        data directory. Idempotent; a second Ctrl-C while stopping kills what is left."""
        try:
            _terminate(self.workers, timeout_s)
            _terminate([self.redis] if self.redis else [], timeout_s)
        except KeyboardInterrupt:
            for proc in self.workers + ([self.redis] if self.redis else []):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        if self.owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _tail(self, log_name: str, lines: int = 3) -> str:
        try:
            text = (self.dir / log_name).read_text(errors="replace")
        except OSError:
            return "(no log)"
        kept = [line.strip() for line in text.splitlines() if line.strip()]
        return " | ".join(kept[-lines:]) or "(empty log)"


STATE_FILE = "demo.json"  # in a kept cluster's directory: what `hqueue demo --stop` stops


def save_state(cluster: LocalCluster) -> Path:
    """Record a kept cluster's processes in its directory (for :func:`stop_kept`)."""
    path = cluster.dir / STATE_FILE
    state = {"url": cluster.url, "redis": cluster.redis.pid if cluster.redis else None,
             "workers": [p.pid for p in cluster.workers], "owns_dir": cluster.owns_dir}
    path.write_text(json.dumps(state))
    return path


def stop_kept(data_dir: str | Path, timeout_s: float = 20.0) -> list[str]:
    """Stop what ``hqueue demo --keep`` left running in ``data_dir``: the workers (they hand
    running trials back), then Redis; remove the directory if the demo made it. Returns what
    was done, one line each."""
    data_dir = Path(data_dir)
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError) as e:
        raise DemoError(f"{data_dir} holds no kept demo ({e}): give the --dir that "
                        "`hqueue demo --keep` printed") from None
    done = []
    workers = [p for p in state.get("workers", []) if _is_ours(p, "celery")]
    _terminate_pids(workers, timeout_s)
    done.append(f"stopped {len(workers)} workers")
    redis_pid = state.get("redis")
    if redis_pid and _is_ours(redis_pid, "hqueue.cli"):
        _terminate_pids([redis_pid], timeout_s)
        done.append(f"stopped Redis ({state.get('url')})")
    if state.get("owns_dir"):
        shutil.rmtree(data_dir, ignore_errors=True)
        done.append(f"removed {data_dir}")
    else:
        (data_dir / STATE_FILE).unlink(missing_ok=True)
        done.append(f"data kept in {data_dir}")
    return done


def _is_ours(pid: int, marker: str) -> bool:
    """True if process ``pid`` runs and its command line names ``marker`` (so that a pid
    reused by an unrelated process is left alone)."""
    try:
        return marker in Path(f"/proc/{int(pid)}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def _terminate_pids(pids: list[int], timeout_s: float) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    state = Path(f"/proc/{pid}/stat")
    try:  # a zombie (exited, not yet reaped) counts as gone
        return state.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _terminate(procs: list[subprocess.Popen], timeout_s: float) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt (the Ctrl-C path cleans up)."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    old = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


# -- the search -------------------------------------------------------------------------------
def run_search(url: str, trials: int, workers: int, exp_key: str = "demo",
               seed: int | None = None, show_progressbar: bool = True,
               epoch_s: float = EPOCH_S) -> dict:
    """Run the demo search on the Redis at ``url``; returns ``{"loss", "tid", "config",
    "point", "n_trials"}`` of the best trial. An experiment ``exp_key`` that already has
    trials (a reused ``--dir``) is continued with ``trials`` more."""
    from . import space_eval, tpe
    from .backends.redis.trials import RedisTrials
    from .fmin import fmin, partial
    from .states import JOB_STATE_DONE, JOB_STATE_ERROR, JOB_STATE_NEW, JOB_STATE_RUNNING

    rtrials = RedisTrials(url, exp_key=exp_key)
    done_before = rtrials.count_in_states(JOB_STATE_NEW, JOB_STATE_RUNNING, JOB_STATE_DONE,
                                          JOB_STATE_ERROR)
    rstate = np.random.default_rng(seed) if seed is not None else None
    objective = train if epoch_s == EPOCH_S else partial(train, epoch_s=epoch_s)
    point = fmin(objective, space, algo=tpe.suggest, max_evals=done_before + trials,
                 trials=rtrials, max_queue_len=workers, rstate=rstate,
                 show_progressbar=show_progressbar)
    best = rtrials.best_trial
    return {"loss": best["result"]["loss"], "tid": best["tid"], "point": point,
            "config": space_eval(space, point), "n_trials": len(rtrials.trials)}


def rounded(value: Any) -> Any:
    """``value`` with its floats rounded to 4 significant digits (for printing).

    Example:
        >>> rounded({"lr": 0.0084900627, "model": {"units": 96.0, "kind": "mlp"}})
        {'lr': 0.00849, 'model': {'units': 96.0, 'kind': 'mlp'}}
    """
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(rounded(v) for v in value)
    return value


def next_steps(url: str, keep: bool) -> list[str]:
    """What to run next: watch the search, add workers (the secret they need)."""
    from .security import SECRET_ENV, secret_path

    secret = (f"{SECRET_ENV}=\"${SECRET_ENV}\"" if os.environ.get(SECRET_ENV) else
              f"{SECRET_ENV}=$(cat {secret_path()})")
    lines = [f"  hqueue status --url {url} --watch",
             f"  hqueue dashboard --url {url}",
             f"  more workers: {secret} hqueue worker --url {url}"]
    if not keep:
        lines.append("  (these stop with the demo; add --keep to leave Redis and the workers "
                     "running afterwards)")
    return lines


def run_demo(trials: int = 60, workers: int = 2, data_dir: str | Path | None = None,
             port: int | None = None, keep: bool = False, exp_key: str = "demo",
             seed: int | None = None, echo: Callable[[str], None] = print,
             show_progressbar: bool = True, epoch_s: float = EPOCH_S) -> dict:
    """Start a local cluster, run the search, print the best configuration, clean up."""
    cluster = LocalCluster(workers, data_dir, port, keep)
    kept = False
    with interrupt_on_sigterm():
        try:
            echo(f"hqueue demo: a TPE search of {trials} trials on {workers} local worker "
                 "processes")
            cluster.start_redis()
            cluster.start_workers()
            echo(f"  redis:   {cluster.url}  (data in {cluster.dir})")
            echo(f"  workers: {workers} processes, pids "
                 f"{' '.join(str(p.pid) for p in cluster.workers)}; logs in {cluster.dir}")
            echo("While it runs, in another terminal:")
            for line in next_steps(cluster.url, keep):
                echo(line)
            ready = cluster.wait_for_workers()
            if ready < workers:
                echo(f"  only {ready} of {workers} workers are up yet; starting anyway")
            best = run_search(cluster.url, trials, workers, exp_key, seed, show_progressbar,
                              epoch_s)
            echo(f"best loss {best['loss']:.4g} (trial {best['tid']} of {best['n_trials']}): "
                 f"{rounded(best['config'])}")
            if keep:
                kept = True
                echo(f"Redis and the workers keep running at {cluster.url}:")
                echo(f"  hqueue status --url {cluster.url}")
                echo(f"  hqueue trials --url {cluster.url} --sort loss --limit 10")
                echo(f"  hqueue plot --url {cluster.url} --output demo.png")
                echo(f"  hqueue dashboard --url {cluster.url}")
                save_state(cluster)
                echo(f"  stop them: hqueue demo --stop --dir {cluster.dir}")
            return best
        except KeyboardInterrupt:
            echo("interrupted: stopping the workers and Redis")
            raise
        finally:
            if not kept:
                cluster.stop()
                echo("stopped the workers and Redis" + ("" if cluster.owns_dir else
                                                        f"; data kept in {cluster.dir}"))
