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


@contextlib.contextmanager
def tqdm_progress_callback(initial: int, total: int) -> Iterator[Any]:
    """A tqdm bar counting finished trials; fmin writes the best loss into its postfix."""
    from tqdm import tqdm

    with tqdm(total=total, initial=initial, postfix="best loss: ?", disable=False,
              dynamic_ncols=True, unit="trial", file=sys.stdout) as pbar:
        yield pbar


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
