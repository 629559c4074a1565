"""Progress reporting for fmin: a tqdm bar showing the best loss, or nothing.

``fmin(show_progressbar=...)`` takes True, False, or a callable ``(initial, total)`` returning
a context manager whose value has ``update(n)`` and a writable ``postfix``.

Example:
    >>> with no_progress_callback(initial=0, total=10) as bar:
    ...     bar.update(1)
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any


class _WriteAboveBar:
    """A stand-in for ``sys.stdout``/``sys.stderr`` that prints through ``tqdm.write``, so the
    objective's output lands above the bar instead of through it."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> None:
        from tqdm import tqdm

        if text.rstrip():
            tqdm.write(text.rstrip("\n"), file=self._stream)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def tqdm_progress_callback(initial: int, total: int) -> Iterator[Any]:
    """A tqdm bar counting finished trials; fmin writes the best loss into its postfix.

    While the bar is shown, ``sys.stdout`` and ``sys.stderr`` print above it (as in hyperopt);
    both are restored on exit.
    """
    from tqdm import tqdm

    real_out, real_err = sys.stdout, sys.stderr
    try:
        sys.stdout, sys.stderr = _WriteAboveBar(real_out), _WriteAboveBar(real_err)
        with tqdm(total=total, initial=initial, postfix="best loss: ?", disable=False,
                  dynamic_ncols=True, unit="trial", file=real_out) as pbar:
            yield pbar
    finally:
        sys.stdout, sys.stderr = real_out, real_err


class _NoProgress:
    postfix: Any = None

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass


@contextlib.contextmanager
def no_progress_callback(initial: int, total: int) -> Iterator[Any]:
    """A progress context that reports nothing."""
    yield _NoProgress()


default_callback = tqdm_progress_callback
