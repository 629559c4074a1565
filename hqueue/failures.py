"""What the person at the driver is told about trials that failed on workers.

A trial that fails on a worker ends ERROR with ``misc["error"] = (type name, message)`` and
its traceback in ``result["traceback"]``. The driver reads those documents as they arrive:

- the first failure of each kind (exception type) is logged at once, in one line naming the
  trial, the worker and the command that shows the traceback; later ones of the same kind are
  only counted, and the counts are logged when the search ends;
- when every trial failed, ``fmin`` raises the user's own exception class with the worker's
  message (also an :class:`~hqueue.exceptions.AllTrialsFailed`, so hyperopt-style handlers
  still catch it), instead of "cannot return argmin".

Example:
    >>> log = FailureLog(show_hint="hqueue show {tid}")
    >>> docs = [{"tid": 0, "state": 3, "owner": "w1", "misc": {"error": ("ValueError", "bad lr")}}]
    >>> log.note(docs)
    >>> log.summary(n_trials=1)
    '1 of 1 trials failed: ValueError x1'
    >>> try:
    ...     log.raise_if_all_failed(n_ok=0)
    ... except ValueError as e:
    ...     print(e)
    bad lr (trial 0 on worker w1; no trial succeeded: ValueError x1; traceback: hqueue show 0)
"""

from __future__ import annotations

import builtins
import collections
import logging
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from .exceptions import AllTrialsFailed, HqueueError
from .states import JOB_STATE_ERROR

logger = logging.getLogger("hqueue.failures")


class FailureLog:
    """Counts failed trials by kind and tells the driver's user about each new kind once.

    ``show_hint`` is a format string with ``{tid}``: how to see one trial's traceback
    (``hqueue show {tid} --url ...``). ``objective_module`` is where the objective was
    defined: its exception classes can be raised again on the driver.
    """

    def __init__(self, show_hint: str = "", objective_module: str | None = None) -> None:
        self.show_hint = show_hint
        self.objective_module = objective_module
        self.seen: set[int] = set()
        self.kinds: collections.Counter[str] = collections.Counter()
        self.first: dict[str, Mapping[str, Any]] = {}

    def note(self, docs: Iterable[Mapping[str, Any]]) -> None:
        """Record the ERROR documents among ``docs`` not seen before; log each new kind."""
        for doc in docs:
            tid = doc.get("tid")
            if doc.get("state") != JOB_STATE_ERROR or tid in self.seen:
                continue
            self.seen.add(tid)
            kind, message = _error_of(doc)
            self.kinds[kind] += 1
            if kind not in self.first:
                self.first[kind] = doc
                logger.error("trial %s failed on worker %s: %s: %s%s", tid,
                             doc.get("owner") or "?", kind, message, self._hint(tid))

    def summary(self, n_trials: int) -> str | None:
        """One line with the failure counts by kind (None when nothing failed)."""
        if not self.kinds:
            return None
        counts = ", ".join(f"{k} x{n}" for k, n in self.kinds.most_common())
        return f"{sum(self.kinds.values())} of {n_trials} trials failed: {counts}"

    def raise_if_all_failed(self, n_ok: int) -> None:
        """Raise the first failure's own exception class when no trial succeeded."""
        if n_ok or not self.kinds:
            return
        kind = self.kinds.most_common(1)[0][0]
        doc = self.first[kind]
        _, message = _error_of(doc)
        counts = ", ".join(f"{k} x{n}" for k, n in self.kinds.most_common())
        text = (f"{message} (trial {doc.get('tid')} on worker {doc.get('owner') or '?'}; no "
                f"trial succeeded: {counts}{self._hint(doc.get('tid'), sep='; traceback: ')})")
        raise as_user_error(kind, text, self.objective_module)

    def _hint(self, tid: Any, sep: str = " (traceback: ") -> str:
        if not self.show_hint:
            return ""
        close = ")" if sep.startswith(" (") else ""
        return f"{sep}{self.show_hint.format(tid=tid)}{close}"


def as_user_error(kind: str, text: str, objective_module: str | None = None) -> Exception:
    """An exception of the class named ``kind`` (a builtin, one defined next to the objective,
    or one of hqueue's) that is also an :class:`AllTrialsFailed`; a plain
    :class:`WorkerTrialFailed` when no such class can be rebuilt.

    Example:
        >>> e = as_user_error("KeyError", "no such column")
        >>> isinstance(e, KeyError), isinstance(e, AllTrialsFailed)
        (True, True)
    """
    cls = _find_class(kind, objective_module)
    if cls is not None and not issubclass(cls, AllTrialsFailed):
        try:
            both = type(cls.__name__, (cls, WorkerTrialFailed), {"__module__": cls.__module__,
                                                                  "__str__": _first_arg})
            return both(text)
        except Exception:  # a class whose layout or constructor will not mix
            pass
    return WorkerTrialFailed(f"{kind}: {text}")


class WorkerTrialFailed(AllTrialsFailed):
    """Every trial failed on the workers; the message is the first failure's."""


def _first_arg(self: BaseException) -> str:
    return str(self.args[0]) if self.args else ""


def _find_class(name: str, objective_module: str | None) -> type[BaseException] | None:
    module, _, name = name.rpartition(".")
    candidates: list[Any] = [getattr(builtins, name, None)] if not module else []
    if module in sys.modules:
        candidates.append(getattr(sys.modules[module], name, None))
    if objective_module and objective_module in sys.modules:
        candidates.append(getattr(sys.modules[objective_module], name, None))
    candidates.extend(c for c in _subclasses(HqueueError) if c.__name__ == name)
    for cls in candidates:
        if isinstance(cls, type) and issubclass(cls, Exception):
            return cls
    return None


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def _error_of(doc: Mapping[str, Any]) -> tuple[str, str]:
    error = (doc.get("misc") or {}).get("error")
    if isinstance(error, (list, tuple)) and len(error) >= 2:
        return _type_name(str(error[0])), str(error[1])
    return "Error", str(error) if error else "failed (no message recorded)"


def _type_name(kind: str) -> str:
    """``"<class 'pkg.mod.Error'>"`` (how hyperopt's documents name an exception type) as
    ``"pkg.mod.Error"``, and a builtin's as its bare name (``"ValueError"``)."""
    if kind.startswith("<class '") and kind.endswith("'>"):
        kind = kind[len("<class '"):-2]
    return kind.removeprefix("builtins.")
