"""Run a hyperopt-based project's own tests against hqueue, with ``hyperopt`` replaced.

The steps, one function each: fetch a release from the package registry (``pip download``,
cached), copy the chosen files out of it, rewrite ``hyperopt`` to ``hqueue`` in their source,
run pytest on the copy in a subprocess, and read back one outcome per test.

Example:
    >>> from tests.hyperopt_suite.runner import rewrite_source
    >>> rewrite_source("from hyperopt.pyll import scope\\nimport hyperopt.tests.x", {})
    'from hqueue.pyll import scope\\nimport hqueue.tests.x'
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("HQUEUE_COMPAT_CACHE", Path.home() / ".cache" / "hqueue-compat"))

# "hyperopt" as a top-level name: not an attribute (``x.hyperopt``), not part of a longer
# identifier or distribution name (``hyperopt_param``, ``hyperopt-sklearn``)
_HYPEROPT_WORD = re.compile(r"(?<![\w.])hyperopt(?![\w-])")

# The pytest plugin the subprocess loads: one JSON line per test outcome.
_REPORT_PLUGIN = '''
import json, os

_OUT = open(os.environ["HQ_SUITE_REPORT"], "a")


def _write(nodeid, outcome, detail=""):
    _OUT.write(json.dumps({"nodeid": nodeid, "outcome": outcome, "detail": detail}) + "\\n")
    _OUT.flush()


def pytest_collectreport(report):
    if report.failed:
        _write(report.nodeid, "error", str(report.longrepr).splitlines()[-1][:300])


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        if report.outcome == "skipped":
            detail = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
        elif report.outcome == "failed":
            lines = str(report.longrepr).splitlines()
            err = [ln for ln in lines if ln.startswith("E ")]
            detail = (err[0] if err else lines[-1] if lines else "")[:300]
        else:
            detail = ""
        outcome = report.outcome
        if report.when != "call" and outcome == "failed":
            outcome = "error"
        _write(report.nodeid, outcome, detail)
'''


# the run_pytest subprocesses running now (a background thread may hold one)
_RUNNING: set[subprocess.Popen] = set()


class RegistryUnreachable(RuntimeError):
    """The release could not be downloaded (offline, or the registry refused)."""


@dataclass
class SuiteResult:
    """Outcomes of one run: ``outcomes[nodeid] = (outcome, detail)``."""

    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)
    returncode: int = 0
    output_tail: str = ""

    def by_outcome(self, outcome: str) -> list[str]:
        """Node ids with this outcome (``passed``, ``failed``, ``error``, ``skipped``), sorted."""
        return sorted(k for k, (o, _) in self.outcomes.items() if o == outcome)

    def not_passing(self) -> set[str]:
        """Node ids that failed or errored (collection errors included)."""
        return {k for k, (o, _) in self.outcomes.items() if o in ("failed", "error")}


def fetch(requirement: str, *, sdist: bool = False, timeout: float = 120) -> Path:
    """Download ``requirement`` (no dependencies) into the cache; returns the archive's path.

    Raises :class:`RegistryUnreachable` when pip cannot get it.

    Example:
        >>> fetch("hyperopt==0.3.0").name  # doctest: +SKIP
        'hyperopt-0.3.0-py3-none-any.whl'
    """
    dest = CACHE / requirement.replace("==", "-").replace("/", "_")
    found = _archives(dest, sdist)
    if found:
        return found[0]
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", requirement, "--no-deps", "--quiet",
           "--disable-pip-version-check", "-d", str(dest)]
    cmd += ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise RegistryUnreachable(f"pip download {requirement} timed out") from e
    found = _archives(dest, sdist)
    if proc.returncode != 0 or not found:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RegistryUnreachable(f"pip download {requirement} failed: {tail[0]}")
    return found[0]


def _archives(dest: Path, sdist: bool) -> list[Path]:
    if not dest.is_dir():
        return []
    pattern = "*.tar.gz" if sdist else "*.whl"
    return sorted(dest.glob(pattern))


def extract(archive: Path, dest: Path) -> Path:
    """Unpack a wheel or sdist into ``dest``; returns the directory holding its files."""
    dest.mkdir(parents=True, exist_ok=True)
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)
        return dest
    with tarfile.open(archive) as tf:
        tf.extractall(dest, filter="data")
    (top,) = [p for p in dest.iterdir() if p.is_dir()]
    return top


def rewrite_source(text: str, renames: dict[str, str]) -> str:
    """Apply ``renames`` (exact substrings, longest first), then ``hyperopt`` → ``hqueue``.

    Distribution names such as ``hyperopt-sklearn``, identifiers such as ``hyperopt_param``
    and attributes such as ``lib.hyperopt`` are left alone.
    """
    for old in sorted(renames, key=len, reverse=True):
        text = text.replace(old, renames[old])
    return _HYPEROPT_WORD.sub("hqueue", text)


def copy_rewritten(src: Path, dest: Path, renames: dict[str, str]) -> None:
    """Copy the tree ``src`` to ``dest``, rewriting every ``.py`` file's imports."""
    for path in src.rglob("*"):
        target = dest / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.suffix == ".py":
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(rewrite_source(path.read_text(encoding="utf-8"), renames))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def run_pytest(root: Path, targets: list[str], *, extra_args: list[str] = (),
               pythonpath: list[Path] = (), timeout: float = 600,
               python: Path | str = sys.executable,
               env: Mapping[str, str] | None = None) -> SuiteResult:
    """Run pytest on ``targets`` (relative to ``root``) in a subprocess with hqueue importable
    (with ``python``: this interpreter, or a library's own virtual environment), in ``env``
    (default: this process's environment). :func:`stop_running` ends it early.

    Example:
        >>> run_pytest(Path("/tmp/suite"), ["tests"]).by_outcome("failed")  # doctest: +SKIP
        []
    """
    report = root / "_hq_report.jsonl"
    report.unlink(missing_ok=True)
    (root / "_hq_report_plugin.py").write_text(_REPORT_PLUGIN)
    env = dict(os.environ if env is None else env)
    path = [str(root), *map(str, pythonpath), str(REPO), env.get("PYTHONPATH", "")]
    env.update(PYTHONPATH=os.pathsep.join(p for p in path if p), HQ_SUITE_REPORT=str(report),
               MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    env.pop("HYPEROPT_FMIN_SEED", None)
    cmd = [str(python), "-m", "pytest", "-q", "-p", "_hq_report_plugin", "-p",
           "no:cacheprovider", "-p", "no:randomly", "--rootdir", str(root),
           "-o", "addopts=", "-W", "ignore", "--continue-on-collection-errors", *extra_args,
           *targets]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _RUNNING.add(proc)
    try:
        stdout, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    finally:
        _RUNNING.discard(proc)
    result = SuiteResult(returncode=proc.returncode, output_tail=stdout[-4000:])
    if report.exists():
        for line in report.read_text().splitlines():
            rec = json.loads(line)
            prior = result.outcomes.get(rec["nodeid"], ("passed", ""))[0]
            if prior == "passed":  # a teardown error after a pass counts as the error
                result.outcomes[rec["nodeid"]] = (rec["outcome"], rec["detail"])
    return result


def stop_running() -> None:
    """Kill every :func:`run_pytest` subprocess still running (in any thread)."""
    for proc in list(_RUNNING):
        proc.kill()


def summarize(result: SuiteResult, expected: dict[str, str]) -> str:
    """A short text report: counts, then every not-passing test with its listed reason."""
    counts = {o: len(result.by_outcome(o)) for o in ("passed", "failed", "error", "skipped")}
    lines = [", ".join(f"{n} {o}" for o, n in counts.items())]
    for nodeid in sorted(result.not_passing()):
        reason = expected.get(nodeid, "NOT LISTED: " + result.outcomes[nodeid][1])
        lines.append(f"  {result.outcomes[nodeid][0]:7} {nodeid}  [{reason}]")
    return "\n".join(lines)


def expected_exceptions(readme: Path, section: str) -> dict[str, str]:
    """The table of expected not-passing tests under the heading ``section`` of ``readme``.

    Rows look like ``| `tests/unit/test_x.py::test_y` | category | reason |``.
    """
    rows: dict[str, str] = {}
    inside = False
    for line in readme.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            inside = line.lstrip("#").strip() == section
            continue
        if inside and line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0].strip("`")] = " | ".join(cells[1:])
    return rows


# A sitecustomize that makes ``import hyperopt[.x]`` return ``hqueue[.x]``: for libraries that
# are installed (not copied and rewritten), such as Ray Tune.
_ALIAS_SHIM = '''
import importlib, importlib.abc, importlib.util, sys


class _HyperoptIsHqueue(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name == "hyperopt" or name.startswith("hyperopt."):
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module("hqueue" + spec.name[len("hyperopt"):])

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _HyperoptIsHqueue())
'''

# what hqueue needs at run time, for a library's own virtual environment
HQUEUE_RUNTIME = ("numpy", "scipy", "cloudpickle", "msgpack", "tqdm", "click", "redis")


def write_alias_shim(dest: Path) -> Path:
    """Write the ``hyperopt`` → ``hqueue`` import alias as ``dest/sitecustomize.py``."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "sitecustomize.py").write_text(_ALIAS_SHIM)
    return dest


def make_venv(name: str, requirements: tuple[str, ...], timeout: float = 1800) -> Path:
    """A cached virtual environment with ``requirements`` and hqueue's run-time dependencies
    (hqueue itself comes from the checkout, on PYTHONPATH); returns its python.

    Raises :class:`RegistryUnreachable` when the install fails.
    """
    venv = CACHE / f"venv-{name}"
    python = venv / "bin" / "python"
    marker = venv / ".complete"  # holds the requirements it was built with
    wanted = " ".join(requirements)
    if marker.exists() and marker.read_text() in (wanted, ""):  # "": built before pins
        return python
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    cmd = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           *requirements, *HQUEUE_RUNTIME]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise RegistryUnreachable(f"installing {requirements} timed out") from e
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RegistryUnreachable(f"pip install {' '.join(requirements)} failed: {tail[0]}")
    marker.write_text(wanted)
    return python


def run_scripts(python: Path, scripts: dict[str, Path], *, cwd: Path,
                pythonpath: list[Path], args: tuple[str, ...] = (),
                timeout: float = 600) -> SuiteResult:
    """Run each script (``name -> path``) with ``python``; exit status 0 counts as passed."""
    env = dict(os.environ)
    env.update(PYTHONPATH=os.pathsep.join(map(str, [*pythonpath, REPO])), MPLBACKEND="Agg",
               RAY_DEDUP_LOGS="0", PYTHONDONTWRITEBYTECODE="1")
    result = SuiteResult()
    for name, script in scripts.items():
        try:
            proc = subprocess.run([str(python), str(script), *args], cwd=cwd, env=env,
                                  capture_output=True, text=True, timeout=timeout)
            ok, tail = proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:]
        except subprocess.TimeoutExpired:
            ok, tail = False, f"timed out after {timeout} s"
        last = tail.strip().splitlines()[-1:] or [""]
        result.outcomes[name] = ("passed" if ok else "failed", "" if ok else last[0][:300])
        result.output_tail += f"== {name}\n{tail}\n"
    return result
