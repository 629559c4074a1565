"""Shared report plumbing: environment header, markdown tables, output folders, plots.

Example:
    >>> print(markdown_table(["a", "b"], [[1, 2.5]]))
    | a | b |
    |--:|--:|
    | 1 | 2.5 |
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.peers import HQUEUE_MODULE_ENV, is_stand_in, library_version

RESULTS_DIR = Path(__file__).resolve().parent / "results"
QUICK_DIR = RESULTS_DIR / "quick"


def output_dir(quick: bool, out: str | None) -> Path:
    """``--out`` if given, else ``results/quick/`` for smoke runs, else ``results/``."""
    path = Path(out) if out else (QUICK_DIR if quick else RESULTS_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (falls back to platform.processor())."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def command_line(argv: Sequence[str]) -> str:
    """The command as a user would retype it, stand-in variable included."""
    explicit = any(a.startswith("--hqueue-module") for a in argv)
    prefix = (
        f"{HQUEUE_MODULE_ENV}={os.environ[HQUEUE_MODULE_ENV]} "
        if (is_stand_in() and not explicit)
        else ""
    )
    return f"{prefix}python -m benchmarks {shlex.join(argv)}"


def environment(argv: Sequence[str]) -> dict[str, str]:
    """Everything a reader needs to reproduce or weigh a result."""
    import numpy

    return {
        "command": command_line(argv),
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "hyperopt": library_version("hyperopt"),
        "optuna": library_version("optuna"),
        "hqueue": library_version("hqueue"),
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
    }


def header_markdown(title: str, env: dict[str, str], notes: Sequence[str] = ()) -> str:
    """Title, the exact command, then one bullet per environment item and note."""
    lines = [f"# {title}", "", "```", env["command"], "```", ""]
    lines += [f"- {key}: {value}" for key, value in env.items() if key != "command"]
    if is_stand_in():
        lines.append(f"- **WARNING: the hqueue_* columns ran {env['hqueue']} (harness test only)**")
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 0) -> str:
    """A GitHub markdown table; the first ``left`` columns are left-aligned, the rest right."""
    out = ["| " + " | ".join(headers) + " |"]
    out.append("|" + "|".join(":--" if i < left else "--:" for i in range(len(headers))) + "|")
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(out)


def pyplot() -> Any:
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` and return the path (for the caller's 'wrote ...' line)."""
    path.write_text(text)
    return path
